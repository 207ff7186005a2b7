"""Every typed key of the application's state, declared once."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING
from weakref import WeakSet

from aiohttp import web

from eventstore.sqlite import SQLiteEventStore
from service.engine.engine import Engine
from service.settings import Settings
from service.workflows.repository import WorkflowRepository

if TYPE_CHECKING:
    from service.streams.frame_cache import FrameCache
    from service.streams.response import EventStreamResponse

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SQLiteEventStore)
ENGINE = web.AppKey("engine", Engine)
WORKFLOWS = web.AppKey("workflows", WorkflowRepository)
# Rendered frames shared by every subscriber (service/streams/frame_cache.py).
FRAMES: web.AppKey[FrameCache] = web.AppKey("frames")
# Open streams, closed on shutdown (aiohttp-sse graceful_shutdown pattern). Each
# stream adds itself while it serves and removes itself when it ends.
STREAMS: web.AppKey[WeakSet[EventStreamResponse]] = web.AppKey("streams")
# How many of them each user holds (by user id), for the per-user limit.
STREAMS_PER_USER: web.AppKey[Counter[str]] = web.AppKey("streams_per_user")
