"""POST /api/v1/workflow-runs/{runId}/nodes/{nodeId}/tool-calls/{callId}: approve (maybe
with edited arguments) or reject a tool call an agent node waits on (runner role)."""

from __future__ import annotations

from aiohttp import web

from projections.vocabulary import NodeStatus
from service import keys
from service.auth.access import require_principal
from service.auth.roles import Role
from service.errors import conflict, not_found
from service.ids import path_uuid
from service.outcomes import ResumeOutcome
from service.routing import BAD_REQUEST, CONFLICT, NOT_FOUND, PRUNED, PathParam, RouteTable, data
from service.views.body import parse_body
from service.views.lookup import load_run
from service.views.models.tool_calls import ToolCallDecided
from service.views.requests import ToolCallDecision
from service.views.responses import data_response

NOT_WAITING = "that tool call is not waiting for approval"


async def decide_tool_call(request: web.Request) -> web.Response:
    principal = require_principal(request)
    run = await load_run(request, path_uuid(request, "runId"), Role.RUNNER)
    node_id, call_id = request.match_info["nodeId"], request.match_info["callId"]
    body = await parse_body(request, ToolCallDecision)
    engine = request.app[keys.ENGINE]
    node = (await engine.run_state(run["id"])).nodes.get(node_id)
    if node is None:
        raise not_found("no such node in this run")
    prompt = node.prompt if isinstance(node.prompt, dict) else {}
    waiting_call = prompt.get("toolCall")
    if node.status != NodeStatus.WAITING or not isinstance(waiting_call, dict) \
            or waiting_call.get("id") != call_id:
        raise conflict(NOT_WAITING)
    decision = {"callId": call_id, "decision": body.decision, "args": body.args,
                "reason": body.reason}
    outcome = await engine.resume(run["id"], node_id, principal.username, decision,
                                  approved=body.decision == "approve")
    if outcome != ResumeOutcome.RESUMED:
        raise conflict(NOT_WAITING)
    return data_response({"id": call_id, "nodeId": node_id, "decision": body.decision})


def register_routes(table: RouteTable) -> None:
    table.register(
        "POST", "/api/v1/workflow-runs/{runId}/nodes/{nodeId}/tool-calls/{callId}",
        decide_tool_call, operation_id="decideToolCall", tag="workflow-runs",
        summary="Approve or reject a tool call an agent node waits on (runner role)",
        description="A rejection answers the model with a tool message saying so and why; "
                    "approved `args` replace the model's arguments.",
        path_params={"runId": PathParam("Workflow run id."),
                     "nodeId": PathParam("The agent node's id.", {"type": "string"}),
                     "callId": PathParam("The tool call's id.", {"type": "string"})},
        body=ToolCallDecision,
        replies=(data(ToolCallDecided, "Recorded; the call runs (or is answered as "
                                       "rejected) now."),),
        errors=(BAD_REQUEST, PRUNED, NOT_FOUND.saying("No such run, or no such node in it."),
                CONFLICT.saying("That tool call is not waiting for approval.")))
