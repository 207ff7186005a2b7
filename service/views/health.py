"""Liveness and readiness; global admins also see the store's resources."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import keys
from service.auth.principal import PRINCIPAL
from service.routing import UNAUTHORIZED, UNAVAILABLE, Access, RouteTable, bare
from service.views.models.health import Health


async def healthz(request: web.Request) -> web.Response:
    store = request.app[keys.STORE]
    body: dict[str, Any] = {"status": "ok", "head": await store.head(),
                            "backend": store.dialect,
                            "node": request.app[keys.SETTINGS].node}
    principal = request.get(PRINCIPAL)
    if principal is not None and principal.is_admin:
        # Not for everyone: the ring's byte count follows the size of other users' events.
        body["store"] = {**store.status(), **request.app[keys.FRAMES].status()}
    return web.json_response(body)


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", "/healthz", healthz, operation_id="healthz", tag="service",
        summary="Liveness and readiness", access=Access.PUBLIC,
        replies=(bare(Health, "Up; `head` is the log's last position."),),
        errors=(UNAUTHORIZED, UNAVAILABLE))
