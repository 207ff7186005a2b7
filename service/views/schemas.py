"""`GET /api/v1/schemas/workflow.json`: the JSON Schema of workflow definitions.

Public, like the OpenAPI document, so that an editor can fetch it by the URL a file
names in `$schema` (editors send no credentials). It lists every installed node type.
"""

from __future__ import annotations

import functools

import orjson
from aiohttp import web

from service import keys
from service.engine.registry import NodeRegistry
from service.workflows.schema import SCHEMA_ID, workflow_json_schema

SCHEMA_CONTENT_TYPE = "application/schema+json"


@functools.cache
def _schema_bytes(registry: NodeRegistry) -> bytes:
    return orjson.dumps(workflow_json_schema(registry))


async def workflow_schema(request: web.Request) -> web.Response:
    registry = request.app[keys.WORKFLOWS].registry
    return web.Response(body=_schema_bytes(registry), content_type=SCHEMA_CONTENT_TYPE,
                        headers={"Cache-Control": "no-cache"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get(SCHEMA_ID, workflow_schema)
