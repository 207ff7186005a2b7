"""Splox's workflow requests (seed 003): start one, and listen to it over SSE.

Bearer tokens (or a session). The listen stream replays the run's log from the
client's `Last-Event-ID` (every node execution so far, then live), sends
`data: keepalive` while idle and ends with the run or after the maximum duration.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from projections.queries import RunQueries
from service import keys
from service.auth.access import require_principal
from service.auth.roles import Role
from service.dialects import splox
from service.ids import path_uuid
from service.routing import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    PathParam,
    RouteTable,
    bare,
    stream,
)
from service.streams.cursor import parse_cursor
from service.streams.endpoint import serve_run_stream
from service.views.body import parse_body
from service.views.lookup import load_run, start_run
from service.views.models.splox import SploxKeepalive, SploxMessage, SploxWorkflowRequest
from service.views.requests import SploxCreateRequest
from service.views.stream_docs import RUN_STREAM_ERRORS, STREAM_ENDED, STREAM_RULES
from service.workflows.errors import WorkflowNotFound


async def _start_node_id(request: web.Request, run: dict[str, Any]) -> str | None:
    """The first node of the run's workflow version with no predecessors."""
    try:
        _, definition = await request.app[keys.WORKFLOWS].parsed(
            run["workflowId"], run["workflowVersion"]
        )
    except WorkflowNotFound:  # also covers a missing version
        return None
    return next((node.id for node in definition.nodes.values() if not node.after), None)


async def create_request(request: web.Request) -> web.Response:
    """Body {workflow_id, payload}: start a run; answers with its workflow_request."""
    require_principal(request)
    body = await parse_body(request, SploxCreateRequest)
    run_id = await start_run(request, body.workflow_id, body.payload, {})
    run = await RunQueries(request.app[keys.STORE]).get_run(run_id)
    assert run is not None
    created = splox.current_request_json(run, await _start_node_id(request, run))
    return web.Response(status=201, body=orjson.dumps(created), content_type="application/json")


async def listen(request: web.Request) -> web.StreamResponse:
    require_principal(request)
    run = await load_run(request, path_uuid(request, "id", "workflow request id"), Role.VIEWER)
    cursor = parse_cursor(request)
    context = splox.SploxContext(
        request.app[keys.STORE], await _start_node_id(request, run), cursor
    )
    return await serve_run_stream(request, run, splox.SploxDialect(), context, cursor=cursor)


def register_routes(table: RouteTable) -> None:
    tag = "splox"
    table.register(
        "POST", "/api/v1/workflow-requests", create_request, operation_id="sploxCreateRequest", idempotent=True,
        tag=tag, summary="Start a workflow request (a run; runner role)",
        body=SploxCreateRequest,
        replies=(bare(SploxWorkflowRequest, "The workflow_request (not wrapped in `data`).",
                      status=201),),
        errors=(BAD_REQUEST, FORBIDDEN, NOT_FOUND))
    table.register(
        "GET", "/api/v1/workflow-requests/{id}/listen", listen, operation_id="sploxListen",
        tag=tag, summary="Listen to a workflow request",
        path_params={"id": PathParam("Workflow request (run) id.")}, cursor=True,
        replies=(stream(
            "First the request's existing node executions, then live updates, each "
            "`data: {\"workflow_request\": ..., \"node_execution\": ...}`; `data: keepalive` "
            "every 3 s while idle; ends with the run or after 30 minutes. " + STREAM_RULES,
            {"message": SploxMessage, "keepalive": SploxKeepalive}), STREAM_ENDED),
        errors=RUN_STREAM_ERRORS)
