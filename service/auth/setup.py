"""Wires identity into the app: session storage, the authentication middleware, routes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from service.auth.principal import PRINCIPAL


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[PRINCIPAL] = None
    return await handler(request)


def setup_auth(app: web.Application) -> None:
    app.middlewares.append(authenticate)
