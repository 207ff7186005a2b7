"""Every typed key of the application's state, declared once.

A leaf: the types are named for the type checker only, so that reading the app's state
loads nothing else (importing this module once loaded the engine, the store and, through
them, half the service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from eventstore.interface import EventStore
    from service.audit.checkpoints import Checkpoints
    from service.engine.engine import Engine
    from service.metrics.figures import Metrics
    from service.retention.pruner import Pruner
    from service.secrets.repository import WorkspaceSecrets
    from service.settings import Settings
    from service.streams.frame_cache import FrameCache
    from service.streams.registry import StreamRegistry
    from service.triggers.idempotency import IdempotencyKeys
    from service.triggers.scheduler import ScheduleRunner
    from service.triggers.schedules import ScheduleRepository
    from service.triggers.webhook_rate import RateLimiter
    from service.triggers.webhooks import WebhookRepository
    from service.workflows.repository import WorkflowRepository

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[EventStore] = web.AppKey("store")
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
WORKFLOWS: web.AppKey[WorkflowRepository] = web.AppKey("workflows")
# Rendered frames shared by every subscriber (service/streams/frame_cache.py).
FRAMES: web.AppKey[FrameCache] = web.AppKey("frames")
# Open streams: the per-user limit, revocation and shutdown (service/streams/registry.py).
STREAMS: web.AppKey[StreamRegistry] = web.AppKey("streams")
WORKSPACE_SECRETS: web.AppKey[WorkspaceSecrets] = web.AppKey("workspace_secrets")
# Signed checkpoints of the log's head (service/audit/).
CHECKPOINTS: web.AppKey[Checkpoints] = web.AppKey("checkpoints")
# Idempotency-Key claims of the execute endpoints (service/triggers/idempotency.py).
IDEMPOTENCY: web.AppKey[IdempotencyKeys] = web.AppKey("idempotency")
# Prometheus metrics of this app (service/metrics/).
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Workflows' cron schedules and what fires them (service/triggers/).
SCHEDULES: web.AppKey[ScheduleRepository] = web.AppKey("schedules")
SCHEDULE_RUNNER: web.AppKey[ScheduleRunner] = web.AppKey("schedule_runner")
# Workflows' webhooks, their deliveries and the per-webhook rate (service/triggers/).
WEBHOOKS: web.AppKey[WebhookRepository] = web.AppKey("webhooks")
WEBHOOK_RATE: web.AppKey[RateLimiter] = web.AppKey("webhook_rate")
# Refused deliveries recorded per webhook a minute (the rest are answered, not recorded).
WEBHOOK_REFUSALS: web.AppKey[RateLimiter] = web.AppKey("webhook_refusals")
# Retention: the workspaces' policies, pruning and erasure (service/retention/).
PRUNER: web.AppKey[Pruner] = web.AppKey("pruner")
