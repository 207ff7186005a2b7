"""Serving one run's stream in any dialect: cursor checks, 204 after the end, disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from eventstore.records import RecordedEvent
from projections.vocabulary import TERMINAL_RUN_EVENTS, TERMINAL_RUN_STATUSES
from service import keys
from service.dialects.base import StreamDialect
from service.streams.cursor import cursor_beyond_log, parse_cursor
from service.streams.session import EventStreamSession

# Where a client resumes a run's stream in the canonical dialect.
RESUME_PATH = "/api/v1/workflow-runs/{run_id}/stream"


def is_terminal(event: RecordedEvent) -> bool:
    return event.type in TERMINAL_RUN_EVENTS


async def serve_run_stream(
    request: web.Request,
    run: dict[str, Any],
    dialect: StreamDialect,
    context: Any,
    *,
    cursor: int | None = None,
    headers: dict[str, str] | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Stream `run` (already access-checked by the caller) from the request's cursor."""
    store = request.app[keys.STORE]
    settings = request.app[keys.SETTINGS]
    after = parse_cursor(request) if cursor is None else cursor
    head = await store.head()
    if after > head:
        raise cursor_beyond_log(after, head)
    if run["status"] in TERMINAL_RUN_STATUSES and after >= run["lastPosition"]:
        # The client already has the end: 204 tells an EventSource to stop reconnecting.
        return web.Response(status=204, headers=headers)
    options = dialect.options(settings)
    if on_disconnect is not None:
        options.disconnect_poll_s = 1.0
    events = store.subscribe(run["id"], after)
    render = dialect.renderer(run, context)
    del run  # the renderer keeps what it needs; the row is not held for the stream's life
    session = EventStreamSession(request, headers)
    await session.prepare(retry=options.send_retry)
    try:
        outcome = await session.pump(events, render, is_terminal, options)
    except asyncio.CancelledError:
        # Servers with handler cancellation cancel the handler of a client that went
        # away before the loop sees it go. Shutdown closes sessions first, so a
        # cancellation of an open session is a disconnect.
        if on_disconnect is not None and not session.closing:
            await asyncio.shield(on_disconnect())
        raise
    if outcome == "gone" and on_disconnect is not None:
        await on_disconnect()
    return await session.finish()
