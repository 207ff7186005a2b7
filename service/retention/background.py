"""`runstream serve` applies the retention policies every `retention_interval_s` (0: never)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from eventstore.prune import PruneUnsupported
from service import keys
from service.background import in_background
from service.retention.pruner import Pruner

log = structlog.get_logger(__name__)


async def prune_every(pruner: Pruner, every_s: float) -> None:
    """One pass each interval; a failed pass is logged and the next one tries again. A
    store that cannot prune is said once, and the task ends (it would never succeed)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            report = await pruner.prune()
        except PruneUnsupported as exc:
            log.warning("retention_not_applied", reason=str(exc))
            return
        except Exception:  # the store may be away a while; the next pass retries
            log.exception("retention_pass_failed")
            continue
        if report.runs:
            log.info("retention_applied", runs=report.runs, events=report.events,
                     released=report.released, archives=report.archives)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pruner = Pruner(app[keys.STORE], settings)
    await pruner.ensure_schema()
    app[keys.PRUNER] = pruner
    every_s = settings.retention_interval_s
    async with in_background(prune_every(pruner, every_s) if every_s > 0 else None,
                             "retention"):
        yield
