"""GET /metrics: the Prometheus text format, for global admins and the scrape token."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service import keys
from service.auth.access import require_admin
from service.metrics.access import METRICS_PATH, is_scrape_token
from service.routing import FORBIDDEN, RouteTable, file_reply


async def metrics_response(app: web.Application) -> web.Response:
    """The app's metrics now, as the API's route and the `metrics_listen` address answer."""
    body = await app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                            "Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    if not is_scrape_token(request):
        require_admin(request)
    return await metrics_response(request.app)


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", METRICS_PATH, metrics, operation_id="metrics", tag="service",
        summary="Prometheus metrics (global admins, or `Bearer` the `metrics_token`)",
        description="Runs by workflow and status, events appended, group-commit batch "
                    "sizes and latencies, open streams and their lag by dialect, streams "
                    "dropped as too slow, node durations by type, model tokens by model, "
                    "database and WAL size, "
                    "the newest checkpoint's age. docs/metrics.md names every series.",
        replies=(file_reply("The Prometheus text exposition format.", ("text/plain",)),),
        errors=(FORBIDDEN,))
