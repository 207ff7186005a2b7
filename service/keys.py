"""Every typed key of the application's state, declared once."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakSet

from aiohttp import web

from eventstore.sqlite import SQLiteEventStore
from service.settings import Settings

if TYPE_CHECKING:
    from service.streams.session import EventStreamSession

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SQLiteEventStore)
ENGINE = web.AppKey("engine", "Engine")
WORKFLOWS = web.AppKey("workflows", "WorkflowRepository")
# Open stream sessions, closed on shutdown (aiohttp-sse graceful_shutdown pattern).
STREAMS = web.AppKey("streams", WeakSet["EventStreamSession"])
