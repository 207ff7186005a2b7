"""The one app factory, used by `runstream serve` and by every test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from weakref import WeakSet

from aiohttp import web

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from service import keys
from service.auth.setup import setup_auth
from service.middleware import json_errors, request_context
from service.settings import Settings
from service.views import health


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = await SQLiteEventStore.open(
        settings.database_path,
        all_projections(),
        synchronous=settings.synchronous,
        ring_size=settings.live_ring_size,
    )
    app[keys.STORE] = store
    yield
    await store.close()


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end every open stream so clients reconnect (and resume) elsewhere."""
    for session in list(app[keys.STREAMS]):
        session.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, json_errors],
    )
    app[keys.SETTINGS] = settings
    app[keys.STREAMS] = WeakSet()
    app.cleanup_ctx.append(_store_ctx)
    app.on_shutdown.append(_close_streams)
    setup_auth(app)
    health.setup_routes(app)
    return app
