"""Finding a run or workflow for a caller: 404 when they may not know it exists, 403 when
they may see it but not do this. Shared by every dialect's views."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from projections.queries import RunQueries
from service import keys
from service.auth.access import get_chat_for, require_principal, require_workspace_role
from service.auth.roles import Role
from service.errors import ApiError, bad_request, not_found
from service.retention.gone import pruned_run
from service.triggers import idempotency
from service.views.body import parse_body
from service.views.requests import ExecuteRequest
from service.workflows.errors import WorkflowNotFound


async def load_run(request: web.Request, run_id: str, role: Role) -> dict[str, Any]:
    run = await RunQueries(request.app[keys.STORE]).get_run(run_id)
    if run is None:
        raise await run_gone(request, run_id, role)
    await require_workspace_role(request, run["workspaceId"], role, "workflow run not found")
    return run


async def run_gone(request: web.Request, run_id: str, role: Role,
                   chat_id: str | None = None) -> ApiError:
    """The error for a run that is not there: 410 `pruned` when retention or erasure removed
    it and the caller could have loaded it (the same role in the workspace it was in, and
    the same chat when asked through one), else 404, so nobody learns of a run they could
    not see."""
    pruned = await pruned_run(request.app[keys.STORE], run_id)
    if pruned is None or (chat_id is not None and pruned["chatId"] != chat_id):
        return not_found("workflow run not found")
    await require_workspace_role(request, pruned["workspaceId"], role, "workflow run not found")
    how = ("erased" if pruned["kind"] == "erasure" else "pruned by retention")
    return ApiError(410, "pruned", f"workflow run {run_id} was {how}; its events' data is "
                    "gone (every chain header stays)", {
                        "runId": run_id, "prunedAt": pruned["prunedAt"],
                        "kind": pruned["kind"], "policy": pruned["policy"],
                        "by": pruned["by"], "reason": pruned["reason"],
                        "archive": pruned["archive"], "position": pruned["position"]})


async def load_workflow(request: web.Request, workflow_id: str, role: Role) -> dict[str, Any]:
    try:
        workflow = await request.app[keys.WORKFLOWS].get(workflow_id)
    except WorkflowNotFound:
        raise not_found("workflow not found") from None
    await require_workspace_role(request, workflow.workspace_id, role, "workflow not found")
    return workflow.as_dict()


async def start_run(
    request: web.Request,
    workflow_id: str,
    inputs: dict[str, Any],
    envs: dict[str, str],
    chat_id: str | None = None,
) -> str:
    """Start a run of a workflow the caller may execute (runner role); returns its id.

    With an `Idempotency-Key` header, the run an earlier request with that key started
    (service/triggers/idempotency.py); 422 when that request asked for something else."""
    principal = require_principal(request)
    workflow = await load_workflow(request, workflow_id, Role.RUNNER)
    engine = request.app[keys.ENGINE]
    key = request.headers.get(idempotency.HEADER)

    async def start(run_id: str | None = None) -> str:
        return await engine.start_run(
            workflow["id"], workflow["workspaceId"], inputs, envs, principal.user_id,
            chat_id=chat_id, run_id=run_id, idempotency_key=key)

    if key is None:
        return await start()
    try:
        idempotency.check_key(key)
    except idempotency.BadIdempotencyKey as exc:
        raise bad_request(str(exc)) from None
    digest = idempotency.fingerprint({"path": request.path, "workflowId": workflow["id"],
                                      "inputs": inputs, "envs": envs, "chatId": chat_id})
    try:
        return await request.app[keys.IDEMPOTENCY].start_once(
            principal.user_id, key, digest, str(uuid.uuid4()), start)
    except idempotency.KeyReused as exc:
        raise ApiError(422, "idempotency_key_reused", str(exc)) from None


async def start_run_from_body(request: web.Request) -> str:
    """The v1 execute body (JSON or multipart): workflowId, inputs, envs, chatId."""
    principal = require_principal(request)
    body = await parse_body(request, ExecuteRequest)
    chat_id = None
    if body.chatId is not None:
        chat = await get_chat_for(request, principal, body.chatId)
        chat_id = chat["id"]
    return await start_run(request, body.workflowId, body.inputs, body.envs, chat_id)
