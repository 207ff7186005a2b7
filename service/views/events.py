"""The raw log: one run's events (its viewers), the whole log and its live stream (admins)."""

from __future__ import annotations

from aiohttp import web

from eventstore.records import RecordedEvent
from service import keys
from service.auth.access import LiveAccess, require_admin
from service.auth.roles import Role
from service.ids import path_uuid
from service.routing import (
    BAD_REQUEST,
    CURSOR_BEYOND_LOG,
    FORBIDDEN,
    NOT_FOUND,
    PRUNED,
    TOO_MANY_STREAMS,
    Content,
    Header,
    PathParam,
    Reply,
    RouteTable,
    Shape,
    stream,
)
from service.streams.cursor import check_cursor, parse_cursor
from service.streams.serving import EventStreamResponse, StreamOptions, encoding
from service.streams.sse import Frame
from service.views.body import parse_query
from service.views.lookup import load_run
from service.views.models.events import Event
from service.views.models.streams import RawPing
from service.views.queries import EventPageQuery
from service.views.responses import data_response

NDJSON = "application/x-ndjson"
RAW_PING = Frame(b"{}", "ping")


async def _page(request: web.Request, stream: str | None) -> web.Response:
    query = parse_query(request, EventPageQuery)
    after = query.after
    events = await request.app[keys.STORE].read(stream, after, query.limit)
    if query.format == "ndjson" or NDJSON in request.headers.get("Accept", ""):
        body = b"".join(event.as_json() + b"\n" for event in events)
        return web.Response(body=body, content_type=NDJSON)
    next_after = events[-1].position if events else after
    return data_response(
        [event.as_dict() for event in events],
        headers={"X-Next-After": str(next_after)},
    )


async def run_events(request: web.Request) -> web.Response:
    run = await load_run(request, path_uuid(request, "runId"), Role.VIEWER)
    return await _page(request, run["id"])


async def all_events(request: web.Request) -> web.Response:
    require_admin(request)
    return await _page(request, None)


async def _render_raw(event: RecordedEvent) -> list[Frame]:
    return [Frame(event.as_json(), event.type)]


async def all_events_stream(request: web.Request) -> web.StreamResponse:
    principal = require_admin(request)
    request.app[keys.STREAMS].check_quota(principal.user_id)
    store = request.app[keys.STORE]
    settings = request.app[keys.SETTINGS]
    after = parse_cursor(request)
    await check_cursor(store, after)
    options = StreamOptions(keepalive=RAW_PING, keepalive_interval_s=settings.v1_ping_interval_s)
    render = request.app[keys.FRAMES].shared("raw", encoding(_render_raw))
    return EventStreamResponse(store.subscribe(None, after), render, options,
                               access=LiveAccess(request, principal, admin_only=True))


EVENTS_PAGE = Reply(
    200, "Events in log order; page on with `after` = `X-Next-After`.",
    {"application/json": Content(Shape.DATA_LIST, Event),
     NDJSON: Content(Shape.LINES, Event)},
    {"X-Next-After": Header("The `after` for the next page (JSON only).",
                            {"type": "integer"})})


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", "/api/v1/workflow-runs/{runId}/events", run_events, operation_id="runEvents",
        tag="events", summary="The raw log of one run, with positions and hashes",
        path_params={"runId": PathParam("Workflow run id.")}, query=EventPageQuery,
        replies=(EVENTS_PAGE,), errors=(BAD_REQUEST, NOT_FOUND, PRUNED))
    table.register(
        "GET", "/api/v1/events", all_events, operation_id="allEvents", tag="events",
        summary="The whole log (global admins)", query=EventPageQuery,
        replies=(EVENTS_PAGE,), errors=(BAD_REQUEST, FORBIDDEN))
    table.register(
        "GET", "/api/v1/events/stream", all_events_stream, operation_id="streamAllEvents",
        tag="events", summary="The whole log, live (global admins)", cursor=True,
        replies=(stream(
            "Every event as `event: <type>` + `data: <Event>` with `id:` = its position, "
            "history then live; `event: ping` `data: {}` every 9 s while idle. Never ends by "
            "itself. Resume with `Last-Event-ID`.",
            {"<event type>": Event, "ping": RawPing}),),
        errors=(BAD_REQUEST, FORBIDDEN, CURSOR_BEYOND_LOG, TOO_MANY_STREAMS))
