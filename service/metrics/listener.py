"""The `metrics_listen` address: a second listener that answers only GET /metrics, so a
scraper can reach the figures on a private interface without reaching the API."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from service import keys
from service.errors import error_response
from service.metrics.access import METRICS_PATH, scrape_token_sent
from service.settings.model import host_port
from service.views.metrics import metrics_response


def _metrics_only(main: web.Application) -> web.Application:
    token = main[keys.SETTINGS].metrics_token

    async def metrics(request: web.Request) -> web.Response:
        # With a scrape token configured it is required here too; without one, this
        # address answers whoever can reach it (bind it to a private interface).
        if token and not scrape_token_sent(request, token):
            return error_response(401, "unauthorized", "the scrape token is required")
        return await metrics_response(main)

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def metrics_listener_ctx(app: web.Application) -> AsyncIterator[None]:
    address = app[keys.SETTINGS].metrics_listen
    if not address:
        yield
        return
    host, port = host_port(address)
    runner = web.AppRunner(_metrics_only(app), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    yield
    await runner.cleanup()
