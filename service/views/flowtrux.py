"""FlowTrux's execute endpoints (seed 002), and a resumable stream of one execution.

The request body (optional) is the trigger payload: the engine merges it over the
trigger's staticData. Closing a streaming execution's connection cancels the run
unless the workflow's trigger has `continueOnDisconnect`.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from projections.queries import RunQueries
from service import keys
from service.auth.access import require_principal
from service.auth.roles import Role
from service.dialects import flowtrux
from service.errors import not_found
from service.ids import path_uuid
from service.routing import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    TOO_MANY_STREAMS,
    Header,
    PathParam,
    RouteTable,
    bare,
    stream,
)
from service.streams.endpoint import serve_run_stream
from service.views.lookup import load_run, start_run
from service.views.models.flowtrux import (
    FlowTruxExecutionLog,
    FlowTruxNodeStart,
    FlowTruxResult,
    FlowTruxStart,
    FlowTruxTerminal,
)
from service.views.params import json_body
from service.views.requests import TriggerPayload
from service.views.stream_docs import RUN_STREAM_ERRORS, STREAM_ENDED, STREAM_RULES

RESUME_PATH = "/api/workflows/{workflow_id}/executions/{execution_id}/stream"


def _queries(request: web.Request) -> RunQueries:
    return RunQueries(request.app[keys.STORE])


async def _trigger_payload(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body is an empty payload (seed 002: optional)."""
    if not (await request.read()).strip():
        return {}
    return await json_body(request)


async def _start(request: web.Request) -> str:
    require_principal(request)
    workflow_id = path_uuid(request, "workflowId", "workflow id")
    payload = await _trigger_payload(request)
    return await start_run(request, workflow_id, payload, {})


async def execute(request: web.Request) -> web.Response:
    """Run to the end and answer with the result (the run goes on if the client leaves)."""
    run_id = await _start(request)
    await request.app[keys.ENGINE].wait(run_id)
    queries = _queries(request)
    run = await queries.get_run(run_id)
    assert run is not None
    body = flowtrux.result_json(run, await queries.node_runs(run_id))
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def execute_stream(request: web.Request) -> web.StreamResponse:
    principal = require_principal(request)
    request.app[keys.STREAMS].check_quota(principal.user_id)  # before the run starts
    run_id = await _start(request)
    queries = _queries(request)
    run = await queries.get_run(run_id)
    assert run is not None
    _, definition = await request.app[keys.WORKFLOWS].parsed(
        run["workflowId"], run["workflowVersion"]
    )
    engine = request.app[keys.ENGINE]

    async def cancel_run() -> None:
        await engine.cancel(run_id, flowtrux.CANCELLED_BY_USER, principal.username)

    return await serve_run_stream(
        request, run, flowtrux.FlowTruxDialect(), queries, cursor=0,
        headers={
            "X-Execution-Id": run_id,
            "X-Execution-Stream": RESUME_PATH.format(
                workflow_id=run["workflowId"], execution_id=run_id),
        },
        on_disconnect=None if definition.continue_on_disconnect else cancel_run,
        quota_checked=True,
    )


async def execution_stream(request: web.Request) -> web.StreamResponse:
    """Resume an execution's stream after `Last-Event-ID`; leaving it never cancels the run."""
    require_principal(request)
    workflow_id = path_uuid(request, "workflowId", "workflow id")
    run = await load_run(request, path_uuid(request, "executionId", "execution id"), Role.VIEWER)
    if run["workflowId"] != workflow_id:
        raise not_found("execution not found for this workflow")
    return await serve_run_stream(request, run, flowtrux.FlowTruxDialect(), _queries(request))


WORKFLOW_ID = PathParam("Workflow id.")
ERRORS = (BAD_REQUEST, FORBIDDEN, NOT_FOUND)
PAYLOAD = "The trigger payload (optional), merged over the trigger's staticData."
EVENTS: dict[str, type[BaseModel]] = {
    "start": FlowTruxStart,
    "node_start": FlowTruxNodeStart,
    "node_complete": FlowTruxExecutionLog,
    "complete": FlowTruxTerminal,
    "error": FlowTruxTerminal,
    "cancelled": FlowTruxTerminal,
}
FRAMES = ("`event:` + `data:` frames: start, node_start and node_complete per node attempt, "
          "then exactly one of complete, error or cancelled, and the stream closes. No "
          "`retry:` and no keepalive.")


def register_routes(table: RouteTable) -> None:
    tag = "flowtrux"
    table.register(
        "POST", "/api/workflows/{workflowId}/execute", execute, operation_id="flowtruxExecute", idempotent=True,
        tag=tag, summary="Execute and answer with the result (runner role)",
        path_params={"workflowId": WORKFLOW_ID}, body=TriggerPayload, body_required=False,
        body_description=PAYLOAD,
        replies=(bare(FlowTruxResult, "The result (not wrapped in `data`)."),), errors=ERRORS)
    table.register(
        "POST", "/api/workflows/{workflowId}/execute/stream", execute_stream,
        operation_id="flowtruxExecuteStream", idempotent=True, tag=tag, summary="Execute and stream (runner role)",
        path_params={"workflowId": WORKFLOW_ID}, body=TriggerPayload, body_required=False,
        body_description=PAYLOAD,
        replies=(stream(
            FRAMES + " Closing the connection cancels the run unless the trigger has "
            "`continueOnDisconnect`.", EVENTS, {
                "X-Execution-Id": Header("The execution (run) id.",
                                         {"type": "string", "format": "uuid"}),
                "X-Execution-Stream": Header(
                    "Where to resume: `/api/workflows/{workflowId}/executions/{executionId}/"
                    "stream` with `Last-Event-ID`."),
            }),),
        errors=(*ERRORS, TOO_MANY_STREAMS))
    table.register(
        "GET", "/api/workflows/{workflowId}/executions/{executionId}/stream", execution_stream,
        operation_id="flowtruxExecutionStream", tag=tag, summary="Resume an execution's stream",
        path_params={"workflowId": WORKFLOW_ID,
                     "executionId": PathParam("Execution (run) id.")}, cursor=True,
        replies=(stream(FRAMES + " Leaving never cancels the run. " + STREAM_RULES, EVENTS),
                 STREAM_ENDED),
        errors=RUN_STREAM_ERRORS)
