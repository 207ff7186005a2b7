"""GET /api/v1/workflow-runs/stream: a resumable feed of run status changes the caller may see.

The console's run list and status counts follow this feed instead of polling. It reads
the whole log (`subscribe(None, after)`) and lets through only the run status events
(`RUN_STATUS_AFTER`) of runs in workspaces the caller may view, so a cursor never shows
anyone a run they could not open.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import orjson
from aiohttp import web

from eventstore.records import RecordedEvent
from projections.payloads import RunCreatedPayload, payload
from projections.queries import RunQueries
from projections.vocabulary import RUN_STATUS_AFTER, EventType
from service import keys
from service.auth.access import LiveAccess, require_principal, visible_workspace_ids
from service.auth.principal import Principal
from service.auth.roles import Role
from service.dialects import v1
from service.routing import (
    BAD_REQUEST,
    CURSOR_BEYOND_LOG,
    NOT_FOUND,
    TOO_MANY_STREAMS,
    RouteTable,
    stream,
)
from service.streams.cursor import check_cursor, parse_cursor
from service.streams.serving import EventStreamResponse, StreamOptions, encoding
from service.streams.sse import Frame, encode
from service.views.body import parse_query
from service.views.lookup import load_workflow
from service.views.models.streams import RunFeedFrame, RunFeedReady, V1Ping
from service.views.queries import RunFeedQuery

FEED_PATH = "/api/v1/workflow-runs/stream"
# Runs whose workspace and workflow one feed remembers (a bounded LRU).
RUN_CACHE_SIZE = 4096
# Memberships can change while a feed is open; they are read again this often.
ACCESS_RECHECK_S = 30.0


def _has_cursor(request: web.Request) -> bool:
    return bool(request.headers.get("Last-Event-ID") or request.query.get("lastEventId"))


class RunFeedFilter:
    """Renders the status events one caller may see; everything else renders to nothing."""

    def __init__(
        self, request: web.Request, principal: Principal, workflow_id: str | None
    ) -> None:
        self._request = request
        self._principal = principal
        self._workflow_id = workflow_id
        self._queries = RunQueries(request.app[keys.STORE])
        self._runs: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._visible: list[str] | None = []
        self._checked_at = float("-inf")

    async def _visible_workspaces(self) -> list[str] | None:
        now = time.monotonic()
        if now - self._checked_at >= ACCESS_RECHECK_S:
            self._visible = await visible_workspace_ids(
                self._request, self._principal, Role.VIEWER
            )
            self._checked_at = now
        return self._visible

    async def _run_place(self, event: RecordedEvent) -> tuple[str, str] | None:
        """(workspaceId, workflowId) of the event's run."""
        place = self._runs.get(event.stream)
        if place is None:
            if event.type == EventType.RUN_CREATED:
                created = payload(event, RunCreatedPayload)
                place = (created["workspaceId"], created["workflowId"])
            else:
                run = await self._queries.get_run(event.stream)
                if run is None:
                    return None
                place = (run["workspaceId"], run["workflowId"])
            self._runs[event.stream] = place
            if len(self._runs) > RUN_CACHE_SIZE:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(event.stream)
        return place

    async def render(self, event: RecordedEvent) -> list[Frame]:
        status = RUN_STATUS_AFTER.get(event.type)
        if status is None:
            return []
        place = await self._run_place(event)
        if place is None:
            return []
        workspace_id, workflow_id = place
        if self._workflow_id is not None and workflow_id != self._workflow_id:
            return []
        visible = await self._visible_workspaces()
        if visible is not None and workspace_id not in visible:
            return []
        return [Frame(orjson.dumps({
            "workflowRunId": event.stream,
            "workflowId": workflow_id,
            "status": v1.RUN_STATUS_WORDS[status],
            "updatedAt": event.recorded_at,
        }), "workflow-run")]


async def runs_feed(request: web.Request) -> web.StreamResponse:
    """The caller's feed of run status changes (optionally one workflow's)."""
    principal = require_principal(request)
    request.app[keys.STREAMS].check_quota(principal.user_id)
    workflow_id = parse_query(request, RunFeedQuery).workflowId
    if workflow_id is not None:
        await load_workflow(request, workflow_id, Role.VIEWER)
    store = request.app[keys.STORE]
    settings = request.app[keys.SETTINGS]
    head = await store.head()
    # Without a cursor the feed is "from now": a client lists first, then follows changes.
    after = parse_cursor(request) if _has_cursor(request) else head
    await check_cursor(store, after)
    feed = RunFeedFilter(request, principal, workflow_id)
    options = StreamOptions(keepalive=v1.PING, keepalive_interval_s=settings.v1_ping_interval_s)
    return EventStreamResponse(
        store.subscribe(None, after), encoding(feed.render), options,
        access=LiveAccess(request, principal),
        # The starting position as an id: a browser that reconnects before any run
        # changed resumes from here instead of from a later "now", so nothing in
        # between is lost.
        prelude=encode(Frame(orjson.dumps({"after": after}), "ready"), after),
    )


def register_routes(table: RouteTable) -> None:
    # A plain resource: register it before `/api/v1/workflow-runs/{runId}` so that
    # every aiohttp version (older ones match in registration order) routes it here.
    table.register(
        "GET", FEED_PATH, runs_feed, operation_id="streamRunFeed", tag="workflow-runs",
        summary="Live feed of the status changes of runs the caller may see",
        query=RunFeedQuery, cursor=True,
        replies=(stream(
            "First `event: ready` (`id:` = the starting position), then a `workflow-run` "
            "frame per run status change in a workspace the caller may view (memberships are "
            "re-read every 30 s); `ping` every 9 s while idle. Without a cursor the feed "
            "starts at the current end of the log; with `Last-Event-ID` / `lastEventId` it "
            "resumes after that position. Never ends by itself.",
            {"ready": RunFeedReady, "workflow-run": RunFeedFrame, "ping": V1Ping}),),
        errors=(BAD_REQUEST, NOT_FOUND.saying(
            "No such workflow (or not visible) for `workflowId`."), CURSOR_BEYOND_LOG,
            TOO_MANY_STREAMS))
