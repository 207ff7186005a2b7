"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from service import keys


async def healthz(request: web.Request) -> web.Response:
    store = request.app[keys.STORE]
    return web.json_response(
        {"status": "ok", "head": await store.head(),
         "store": {**store.status(), **request.app[keys.FRAMES].status()}})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
