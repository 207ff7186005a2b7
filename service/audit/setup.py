"""The checkpoints of a running app: the key, the table, and the task that signs the
head every `checkpoint_interval_s`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from eventstore.errors import StoreUnavailable
from service import keys
from service.audit.checkpoints import Checkpoints
from service.audit.signing import load_signing_key
from service.background import in_background

log = structlog.get_logger(__name__)


async def _sign_every(checkpoints: Checkpoints, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await checkpoints.sign_head()
        except StoreUnavailable as exc:
            # The next interval tries again; a missed checkpoint loses nothing.
            log.warning("checkpoint not signed", error=str(exc))


async def checkpoints_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    checkpoints = Checkpoints(app[keys.STORE], load_signing_key(settings))
    await checkpoints.ensure_schema()
    app[keys.CHECKPOINTS] = checkpoints
    every_s = settings.checkpoint_interval_s
    async with in_background(_sign_every(checkpoints, every_s) if every_s > 0 else None,
                             "checkpoints"):
        yield
