"""/api/v1/workflow-runs: execute, stream, cancel, list, dashboard, detail, resume, rerun."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from projections.queries import RunFilter, RunQueries
from projections.vocabulary import TERMINAL_RUN_STATUSES, RunStatus
from service import keys
from service.auth.access import require_principal, visible_workspace_ids, workspace_role
from service.auth.principal import Principal
from service.auth.roles import Role
from service.dialects import v1
from service.engine.rerun import RunStillGoing, UnknownRerunNode
from service.errors import bad_request, conflict, not_found
from service.ids import path_uuid
from service.outcomes import CancelOutcome, ResumeOutcome
from service.routing import (
    BAD_REQUEST,
    CONFLICT,
    NOT_FOUND,
    PRUNED,
    TOO_MANY_STREAMS,
    Header,
    PathParam,
    RouteTable,
    data,
    page,
    stream,
)
from service.streams.endpoint import RESUME_PATH, serve_run_stream
from service.views.agent_calls import with_calls_so_far
from service.views.body import parse_body, parse_query
from service.views.lookup import load_run, load_workflow, start_run_from_body
from service.views.models.runs import (
    ActivityRun,
    CancelResult,
    DashboardCounts,
    WorkflowRun,
    WorkflowRunDetail,
)
from service.views.models.streams import (
    V1ActivityRunFrame,
    V1ErrorFrame,
    V1Ping,
    V1ResultFrame,
    V1ThinkingFrame,
    V1WorkflowRunFrame,
)
from service.views.params import pagination
from service.views.queries import ExecuteStreamQuery, RunListQuery
from service.views.requests import CancelRequest, ExecuteRequest, RerunRequest, ResumeRequest
from service.views.responses import data_response
from service.views.stream_docs import RUN_STREAM_ERRORS, STREAM_ENDED, STREAM_RULES

CANCEL_PAGE = 500


def _queries(request: web.Request) -> RunQueries:
    return RunQueries(request.app[keys.STORE])


async def execute(request: web.Request) -> web.Response:
    """Blocking run: answers with the finished run (the run goes on if the client leaves)."""
    run_id = await start_run_from_body(request)
    await request.app[keys.ENGINE].wait(run_id)
    queries = _queries(request)
    run = await queries.get_run(run_id)
    assert run is not None
    return data_response(v1.run_detail_json(run, await queries.node_runs(run_id)))


async def execute_stream(request: web.Request) -> web.StreamResponse:
    on_disconnect = parse_query(request, ExecuteStreamQuery).onDisconnect
    principal = require_principal(request)
    request.app[keys.STREAMS].check_quota(principal.user_id)  # before the run starts
    run_id = await start_run_from_body(request)
    run = await _queries(request).get_run(run_id)
    assert run is not None
    engine = request.app[keys.ENGINE]

    async def cancel_run() -> None:
        await engine.cancel(run_id, "client disconnected", principal.username)

    return await serve_run_stream(
        request, run, v1.V1Dialect(request.app[keys.FRAMES]), _queries(request), cursor=0,
        headers={
            "X-Workflow-Run-Id": run_id,
            "X-Workflow-Run-Stream": RESUME_PATH.format(run_id=run_id),
        },
        on_disconnect=cancel_run if on_disconnect == "cancel" else None,
        quota_checked=True,
    )


async def list_runs(request: web.Request) -> web.Response:
    principal = require_principal(request)
    query = parse_query(request, RunListQuery)
    run_filter = RunFilter(
        workspace_ids=await visible_workspace_ids(request, principal),
        workflow_id=query.workflowId, status=query.status, name_search=query.search,
        triggered_by=query.triggeredBy, trigger_id=query.triggerId,
    )
    runs, total = await _queries(request).list_runs(run_filter, query.offset, query.limit)
    return data_response([v1.run_json(run) for run in runs],
                         pagination(query.page, query.limit, total))


async def dashboard(request: web.Request) -> web.Response:
    principal = require_principal(request)
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.VIEWER)
    counts = await _queries(request).status_counts(
        workflow["id"], await visible_workspace_ids(request, principal)
    )
    by_word = {word: counts.get(status, 0) for status, word in v1.RUN_STATUS_WORDS.items()}
    return data_response(
        {"workflowId": workflow["id"], "total": sum(by_word.values()), "counts": by_word}
    )


async def detail(request: web.Request) -> web.Response:
    run = await load_run(request, path_uuid(request, "runId"), Role.VIEWER)
    queries = _queries(request)
    nodes = await with_calls_so_far(request.app[keys.STORE], await queries.node_runs(run["id"]))
    return data_response(v1.run_detail_json(run, nodes, await queries.rerun_links(run["id"])))


async def stream_run(request: web.Request) -> web.StreamResponse:
    return await serve_run_stream(
        request, await load_run(request, path_uuid(request, "runId"), Role.VIEWER),
        v1.V1Dialect(request.app[keys.FRAMES]), _queries(request),
    )


async def _cancel_targets(
    request: web.Request, principal: Principal, body: CancelRequest
) -> list[str]:
    if body.runIds is not None:
        return body.runIds
    assert body.workflowId is not None
    workflow = await load_workflow(request, body.workflowId, Role.RUNNER)
    queries = _queries(request)
    targets: list[str] = []
    for status in RunStatus:
        if status in TERMINAL_RUN_STATUSES:
            continue
        offset = 0
        while True:
            runs, _ = await queries.list_runs(
                RunFilter(workflow_id=workflow["id"], status=status), offset, CANCEL_PAGE
            )
            targets += [run["id"] for run in runs]
            if len(runs) < CANCEL_PAGE:
                break
            offset += CANCEL_PAGE
    return targets


async def cancel(request: web.Request) -> web.Response:
    principal = require_principal(request)
    body = await parse_body(request, CancelRequest)
    targets = await _cancel_targets(request, principal, body)
    engine = request.app[keys.ENGINE]
    queries = _queries(request)
    results = []
    for run_id in dict.fromkeys(targets):
        run = await queries.get_run(run_id)
        role = None
        if run is not None:
            role = await workspace_role(request, principal, run["workspaceId"])
        if run is None or role is None:
            results.append({"runId": run_id, "status": CancelOutcome.NOT_FOUND})
            continue
        if role < Role.RUNNER:
            results.append({"runId": run_id, "status": CancelOutcome.ERROR,
                            "message": "you may not cancel this run"})
            continue
        outcome = await engine.cancel(run_id, body.reason or "cancelled", principal.username)
        results.append({"runId": run_id, "status": outcome})
    return data_response({"results": results})


async def resume_node(request: web.Request) -> web.Response:
    principal = require_principal(request)
    run = await load_run(request, path_uuid(request, "runId"), Role.RUNNER)
    node_id = request.match_info["nodeId"]
    body = await parse_body(request, ResumeRequest)
    outcome = await request.app[keys.ENGINE].resume(
        run["id"], node_id, principal.username, body.data, body.approved
    )
    if outcome == ResumeOutcome.NOT_FOUND:
        raise not_found("no such node in this run")
    if outcome != ResumeOutcome.RESUMED:
        raise conflict("that node is not waiting for an answer")
    node = await _queries(request).node_run(run["id"], node_id)
    assert node is not None
    return data_response(v1.activity_json(node))


async def rerun(request: web.Request) -> web.Response:
    principal = require_principal(request)
    run = await load_run(request, path_uuid(request, "runId"), Role.RUNNER)
    body = await parse_body(request, RerunRequest)
    try:
        new_id = await request.app[keys.ENGINE].rerun(
            run["id"], body.fromNode, body.version == "latest", body.inputs, principal.user_id)
    except RunStillGoing as exc:
        raise conflict(str(exc)) from None
    except UnknownRerunNode as exc:
        raise bad_request(str(exc), {"nodeIds": [body.fromNode]}) from None
    queries = _queries(request)
    created = await queries.get_run(new_id)
    assert created is not None
    return data_response(v1.run_detail_json(
        created, await queries.node_runs(new_id), await queries.rerun_links(new_id)), status=201)


RUN_ID = PathParam("Workflow run id.")
EXECUTE_BODY = "JSON, or form fields with `inputs` and `envs` as JSON text."
EXECUTE_ERRORS = (BAD_REQUEST, NOT_FOUND.saying(
    "Workflow (or chat) not found, or not the caller's."))
V1_EVENTS: dict[str, type[BaseModel]] = {
    "ping": V1Ping,
    "workflow-run": V1WorkflowRunFrame,
    "activity-run": V1ActivityRunFrame,
    "thinking": V1ThinkingFrame,
    "result": V1ResultFrame,
    "error": V1ErrorFrame,
}
V1_STREAM = (
    "`event:` + `data:` frames: `workflow-run` and `activity-run` on every status change, "
    "`thinking`, then `result` (completed) or `error` (failed, cancelled) after the final "
    "`workflow-run`; `ping` every 9 s while idle. The stream ends after the run's terminal "
    "event. A `retry:` field is sent first."
)


def register_routes(table: RouteTable) -> None:
    base = "/api/v1/workflow-runs"
    tag = "workflow-runs"
    table.register(
        "POST", f"{base}/execute", execute, operation_id="executeWorkflow", idempotent=True, tag=tag,
        summary="Run a workflow and wait for it to end",
        description="Needs the runner role. The run goes on if the client leaves.",
        body=ExecuteRequest, body_description=EXECUTE_BODY,
        replies=(data(WorkflowRunDetail, "The finished run."),), errors=EXECUTE_ERRORS)
    table.register(
        "POST", f"{base}/execute/stream", execute_stream, operation_id="executeWorkflowStream", idempotent=True,
        tag=tag, summary="Run a workflow and stream its events",
        description="Needs the runner role.",
        body=ExecuteRequest, body_description=EXECUTE_BODY, query=ExecuteStreamQuery,
        replies=(stream(V1_STREAM + " Starts at the beginning of the run.", V1_EVENTS, {
            "X-Workflow-Run-Id": Header("The new run's id.", {"type": "string",
                                                              "format": "uuid"}),
            "X-Workflow-Run-Stream": Header(
                "Where to resume this stream: `/api/v1/workflow-runs/{runId}/stream` with "
                "`Last-Event-ID`."),
        }),), errors=(*EXECUTE_ERRORS, TOO_MANY_STREAMS))
    table.register(
        "POST", f"{base}/cancel", cancel, operation_id="cancelRuns", tag=tag,
        summary="Cancel runs by id, or every unfinished run of a workflow",
        description="Cancelling by `workflowId` needs the runner role in its workspace; by "
                    "`runIds`, each run's outcome says what happened.",
        body=CancelRequest, replies=(data(CancelResult, "An outcome per run."),),
        errors=(BAD_REQUEST, NOT_FOUND.saying("Workflow not found (with `workflowId`).")))
    table.register(
        "GET", base, list_runs, operation_id="listRuns", tag=tag,
        summary="List the runs the caller can see", query=RunListQuery,
        replies=(page(WorkflowRun, "A page of runs, newest first."),), errors=(BAD_REQUEST,))
    table.register(
        "GET", f"{base}/dashboard/{{workflowId}}", dashboard, operation_id="runDashboard",
        tag=tag, summary="Run counts by status for a workflow",
        path_params={"workflowId": PathParam("Workflow id.")},
        replies=(data(DashboardCounts, "Counts."),), errors=(BAD_REQUEST, NOT_FOUND))
    table.register(
        "GET", f"{base}/{{runId}}", detail, operation_id="getRun", tag=tag,
        summary="A run with its activity runs", path_params={"runId": RUN_ID},
        replies=(data(WorkflowRunDetail, "The run."),), errors=(BAD_REQUEST, NOT_FOUND, PRUNED))
    table.register(
        "GET", f"{base}/{{runId}}/stream", stream_run, operation_id="streamRun", tag=tag,
        summary="A run's events (resumable)", path_params={"runId": RUN_ID}, cursor=True,
        replies=(stream(V1_STREAM + " " + STREAM_RULES, V1_EVENTS), STREAM_ENDED),
        errors=RUN_STREAM_ERRORS)
    table.register(
        "POST", f"{base}/{{runId}}/nodes/{{nodeId}}/resume", resume_node,
        operation_id="resumeNode", tag=tag, summary="Answer an approval node (runner role)",
        path_params={"runId": RUN_ID, "nodeId": PathParam("The node id.", {"type": "string"})},
        body=ResumeRequest,
        replies=(data(ActivityRun, "The node's activity run after the answer."),),
        errors=(BAD_REQUEST, NOT_FOUND.saying("No such run, or no such node in it."), PRUNED,
                CONFLICT.saying("That node is not waiting for an answer.")))
    table.register(
        "POST", f"{base}/{{runId}}/rerun", rerun, operation_id="rerunRun", tag=tag,
        summary="Run a finished run again, whole or from one node (runner role)",
        description="The new run is linked to the original (`rerunOf` in its detail, and it "
                    "is listed in the original's `reruns`). From a node, the nodes upstream "
                    "of it that completed in the original are not run again: their outputs "
                    "are copied into the new run's log (RunCreated's `rerunOf.reused` names "
                    "the original events). Env values are not kept after a run ends, so a "
                    "rerun has none.",
        path_params={"runId": RUN_ID}, body=RerunRequest,
        replies=(data(WorkflowRunDetail, "The new run.", status=201),),
        errors=(BAD_REQUEST.saying("A bad body, or `fromNode` is not a node of the version."),
                NOT_FOUND, PRUNED, CONFLICT.saying("The run is still going.")))
