"""The one app factory, used by `runstream serve` and by every test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from service import keys
from service.audit.setup import checkpoints_ctx
from service.auth.schema import DEFAULT_WORKSPACE_ID
from service.auth.setup import setup_auth
from service.cluster_keys import ClusterKeys, node_fingerprints
from service.engine.engine import Engine
from service.metrics.listener import metrics_listener_ctx
from service.metrics.setup import metrics_ctx
from service.middleware import json_errors, request_context
from service.node_registry import NodeRegistry, heartbeating
from service.openapi import view as openapi_view
from service.retention.background import retention_ctx
from service.routing import RouteTable
from service.secrets.key import secrets_key
from service.settings import Settings
from service.store import open_event_store
from service.streams.frame_cache import FrameCache
from service.streams.registry import StreamRegistry
from service.triggers.idempotency import IdempotencyKeys
from service.triggers.scheduler import ScheduleRunner, ticking
from service.triggers.schedules import ScheduleRepository
from service.triggers.webhook_rate import RateLimiter
from service.triggers.webhooks import WebhookRepository
from service.views import (
    api_docs,
    audit,
    auth_routes,
    chats,
    console,
    events,
    flowtrux,
    health,
    metrics,
    retention,
    runs_feed,
    schedules,
    schemas,
    splox,
    tool_calls,
    webhook_receiver,
    webhooks,
    workflow_runs,
    workflows,
    workspace_secrets,
)
from service.workflows.importer import import_directory
from service.workflows.repository import WorkflowRepository

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "config" / "examples"


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = await open_event_store(settings)
    app[keys.STORE] = store
    yield
    await store.close()


async def _cluster_keys_ctx(app: web.Application) -> AsyncIterator[None]:
    """Refuse to start with keys other than the ones this database's nodes use."""
    cluster_keys = ClusterKeys(app[keys.STORE])
    await cluster_keys.ensure_schema()
    await cluster_keys.check(node_fingerprints(app[keys.SETTINGS]))
    yield


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """Workflows and the engine; on start, unfinished runs continue (recovery)."""
    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    repository = WorkflowRepository(store)
    await repository.ensure_schema()
    app[keys.WORKFLOWS] = repository
    if settings.load_examples:
        await import_directory(repository, EXAMPLES_DIR, DEFAULT_WORKSPACE_ID, "system")
    engine_settings = settings.engine.model_copy(update={"secrets_key": secrets_key(settings)})
    engine = Engine(store, repository, engine_settings, node=settings.node)
    app[keys.ENGINE] = engine
    app[keys.WORKSPACE_SECRETS] = engine.workspace_secrets
    app[keys.IDEMPOTENCY] = IdempotencyKeys(store)
    await app[keys.IDEMPOTENCY].ensure_schema()
    schedule_repo = ScheduleRepository(store)
    await schedule_repo.ensure_schema()
    app[keys.SCHEDULES] = schedule_repo
    app[keys.SCHEDULE_RUNNER] = ScheduleRunner(schedule_repo, engine, store)
    webhook_repo = WebhookRepository(store, settings.webhook_delivery_retention_s)
    await webhook_repo.ensure_schema()
    app[keys.WEBHOOKS] = webhook_repo
    app[keys.WEBHOOK_RATE] = RateLimiter(settings.webhook_rate_per_minute)
    app[keys.WEBHOOK_REFUSALS] = RateLimiter(settings.webhook_rate_per_minute)
    await engine.start()
    registry = NodeRegistry(store, settings.node, settings.node_heartbeat_s)
    scheduler = engine.scheduler
    async with (ticking(app[keys.SCHEDULE_RUNNER], settings.schedule_tick_s),
                heartbeating(registry,
                             lambda: (len(scheduler.active), len(scheduler.queued())))):
        yield
    # Stops run tasks without recording anything: the runs continue after a restart.
    await engine.stop()


async def _close_streams(app: web.Application) -> None:
    app[keys.STREAMS].close_all()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, json_errors],
    )
    app[keys.SETTINGS] = settings
    app[keys.STREAMS] = StreamRegistry(settings.stream_max_per_user)
    app[keys.FRAMES] = FrameCache(settings.frame_cache_bytes)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_cluster_keys_ctx)
    app.on_shutdown.append(_close_streams)
    setup_auth(app)
    app.cleanup_ctx.append(_engine_ctx)
    app.cleanup_ctx.append(checkpoints_ctx)
    app.cleanup_ctx.append(retention_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.cleanup_ctx.append(metrics_listener_ctx)
    # Every route goes through the table, which documents it (service/routing.py).
    # runs_feed's /workflow-runs/stream must precede workflow_runs' /workflow-runs/{runId}.
    table = RouteTable()
    for views in (
        health, metrics, auth_routes, workspace_secrets, retention, workflows, schedules, webhooks,
        webhook_receiver, runs_feed,
        workflow_runs, tool_calls, events, audit, chats,
        flowtrux, splox, schemas, openapi_view, api_docs, console,
    ):
        views.register_routes(table)
    table.install(app)
    return app
