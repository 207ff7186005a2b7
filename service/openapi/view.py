"""GET /api/v1/openapi.json: the document of the app's own route table. Public."""

from __future__ import annotations

from aiohttp import web

from service.openapi.document import OPENAPI_PATH, document_bytes
from service.routing import ROUTES, UNAUTHORIZED, Access, RouteTable, file_reply


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(request.app[ROUTES]),
                        content_type="application/json")


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", OPENAPI_PATH, openapi_json, operation_id="openapi", tag="service",
        summary="This document", access=Access.PUBLIC,
        replies=(file_reply("The OpenAPI 3.1 document, generated from the route table.",
                            ("application/json",), schema={"type": "object"}),),
        errors=(UNAUTHORIZED,))
