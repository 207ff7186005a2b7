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
from service.routing import UNAUTHORIZED, Access, RouteTable, file_reply
from service.workflows.schema import SCHEMA_ID, workflow_json_schema

SCHEMA_CONTENT_TYPE = "application/schema+json"


@functools.cache
def _schema_bytes(registry: NodeRegistry) -> bytes:
    return orjson.dumps(workflow_json_schema(registry))


async def workflow_schema(request: web.Request) -> web.Response:
    registry = request.app[keys.WORKFLOWS].registry
    return web.Response(body=_schema_bytes(registry), content_type=SCHEMA_CONTENT_TYPE,
                        headers={"Cache-Control": "no-cache"})


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", SCHEMA_ID, workflow_schema, operation_id="workflowSchema", tag="workflows",
        summary="The JSON Schema (2020-12) of workflow definitions", access=Access.PUBLIC,
        replies=(file_reply(
            "Every installed node type, each with its params. Files name it with `$schema` "
            "so that editors validate and complete them.", (SCHEMA_CONTENT_TYPE,),
            schema={"type": "object"}),),
        errors=(UNAUTHORIZED,))
