"""The metrics of a running app, hooked to its store's group commits and its engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from service import keys
from service.metrics.figures import Metrics


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    store, engine = app[keys.STORE], app[keys.ENGINE]
    metrics = Metrics(store, app[keys.STREAMS], app[keys.CHECKPOINTS],
                      app[keys.SETTINGS].database_path)
    store.observe_commits(metrics.group_committed)
    engine.on_node_completed = metrics.node_completed
    app[keys.METRICS] = metrics
    yield
    engine.on_node_completed = None
