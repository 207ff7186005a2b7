"""Opening one run's stream in any dialect: cursor and limit checks, 204 after the end."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from eventstore.records import RecordedEvent
from projections.vocabulary import TERMINAL_RUN_EVENTS, TERMINAL_RUN_STATUSES
from service import keys
from service.auth.access import LiveAccess, require_principal
from service.settings import Settings
from service.streams.cursor import check_cursor, parse_cursor
from service.streams.registry import StreamAccess
from service.streams.serving import EventStreamResponse, OnDisconnect, Render, StreamOptions

# Where a client resumes a run's stream in the canonical dialect.
RESUME_PATH = "/api/v1/workflow-runs/{run_id}/stream"


class StreamDialect(Protocol):
    """What a dialect (service/dialects/) gives the stream of one run."""

    def options(self, settings: Settings) -> StreamOptions:
        """Keepalive frame and interval, maximum duration."""

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        """A renderer for one stream of `run` (it may keep per-stream state)."""


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
    on_disconnect: OnDisconnect | None = None,
    quota_checked: bool = False,
    access: StreamAccess | None = None,
) -> web.StreamResponse:
    """The stream of `run` (already access-checked by the caller) from the request's cursor.

    Errors (a bad or impossible cursor, too many streams) are raised here, as JSON; the
    response that is returned serves the events once aiohttp prepares it (see
    streams/serving.py). `quota_checked`: the caller checked the per-user stream limit
    before starting the run (checking again now could refuse a run already started).
    `access`: who holds the stream when no signed-in caller does (a webhook's delivery);
    by default the caller's access to the run's workspace.
    """
    if access is None:
        access = LiveAccess(request, require_principal(request), run["workspaceId"])
    if not quota_checked:
        request.app[keys.STREAMS].check_quota(access.user_id)
    store = request.app[keys.STORE]
    settings = request.app[keys.SETTINGS]
    after = parse_cursor(request) if cursor is None else cursor
    await check_cursor(store, after)
    if run["status"] in TERMINAL_RUN_STATUSES and after >= run["lastPosition"]:
        # The client already has the end: 204 tells an EventSource to stop reconnecting.
        return web.Response(status=204, headers=headers)
    options = dialect.options(settings)
    events = store.subscribe(run["id"], after)
    render = dialect.renderer(run, context)
    return EventStreamResponse(
        events, render, options, access=access,
        is_terminal=is_terminal, headers=headers, on_disconnect=on_disconnect,
    )
