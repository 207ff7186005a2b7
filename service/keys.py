"""Every typed key of the application's state, declared once."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakSet

from aiohttp import web

from eventstore.sqlite import SQLiteEventStore
from service.engine.engine import Engine
from service.settings import Settings
from service.workflows.repository import WorkflowRepository

if TYPE_CHECKING:
    from service.streams.session import EventStreamSession

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SQLiteEventStore)
ENGINE = web.AppKey("engine", Engine)
WORKFLOWS = web.AppKey("workflows", WorkflowRepository)
# Open stream sessions, closed on shutdown (aiohttp-sse graceful_shutdown pattern).
STREAMS: web.AppKey[WeakSet[EventStreamSession]] = web.AppKey("streams")
