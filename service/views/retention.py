"""/api/v1/workspaces/{id}/retention (a workspace's policy: members read, admins set) and
/api/v1/workflow-runs/{runId}/erase (global admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from eventstore.prune import PruneUnsupported
from projections.queries import RunQueries
from service import keys
from service.auth.access import require_admin, require_workspace_role
from service.auth.principal import Principal
from service.auth.roles import Role
from service.errors import ApiError, conflict
from service.ids import parse_workspace_id, path_uuid
from service.retention.gone import last_pruned
from service.retention.policy import RetentionPolicy, default_policy
from service.retention.pruner import RunNotFinished
from service.routing import (
    BAD_REQUEST,
    CONFLICT,
    NOT_FOUND,
    PRUNED,
    PathParam,
    Problem,
    RouteTable,
    data,
)
from service.views.body import parse_body
from service.views.lookup import run_gone
from service.views.models.retention import Erasure, Retention
from service.views.requests import EraseRequest, RetentionPolicyBody
from service.views.responses import data_response

API = "/api/v1/workspaces/{id}/retention"
NOT_PRUNABLE = Problem(501, None, "This store cannot prune events (both built-in stores can); "
                                  "nothing was changed (`error.code` `not_implemented`).")


async def _workspace(request: web.Request, role: Role) -> tuple[str, Principal]:
    workspace_id = parse_workspace_id(request.match_info["id"])
    return workspace_id, await require_workspace_role(request, workspace_id, role)


async def _answer(request: web.Request, workspace_id: str) -> web.Response:
    pruner = request.app[keys.PRUNER]
    own = await pruner.policies.get(workspace_id)
    policy = own or default_policy(request.app[keys.SETTINGS])
    body: dict[str, Any] = {
        "workspaceId": workspace_id, "source": "default" if own is None else "workspace",
        **policy.as_dict(),
        "lastPruned": await last_pruned(request.app[keys.STORE], workspace_id)}
    return data_response(body)


async def get_retention(request: web.Request) -> web.Response:
    workspace_id, _ = await _workspace(request, Role.VIEWER)
    return await _answer(request, workspace_id)


async def put_retention(request: web.Request) -> web.Response:
    workspace_id, principal = await _workspace(request, Role.ADMIN)
    body = await parse_body(request, RetentionPolicyBody)
    await request.app[keys.PRUNER].policies.put(
        workspace_id, RetentionPolicy(body.maxAgeDays, body.maxRuns, body.maxBytes),
        principal.username)
    return await _answer(request, workspace_id)


async def delete_retention(request: web.Request) -> web.Response:
    workspace_id, _ = await _workspace(request, Role.ADMIN)
    await request.app[keys.PRUNER].policies.delete(workspace_id)
    return await _answer(request, workspace_id)


async def erase_run(request: web.Request) -> web.Response:
    principal = require_admin(request)
    run_id = path_uuid(request, "runId")
    body = await parse_body(request, EraseRequest)
    if await RunQueries(request.app[keys.STORE]).get_run(run_id) is None:
        raise await run_gone(request, run_id, Role.ADMIN)
    try:
        outcome = await request.app[keys.PRUNER].erase(run_id, principal.username, body.reason)
    except RunNotFinished:
        raise conflict("the run, a run below it or its parent is not finished") from None
    except PruneUnsupported as exc:
        raise ApiError(501, "not_implemented", str(exc)) from None
    if outcome is None:  # erased by someone else since the lookup
        raise await run_gone(request, run_id, Role.ADMIN)
    return data_response({
        "runId": run_id, "runs": outcome.streams, "events": outcome.events,
        "position": outcome.record.position if outcome.record else None})


def register_routes(table: RouteTable) -> None:
    tag = "retention"
    workspace = {"id": PathParam("`default` or a workspace UUID.", {"type": "string"})}
    not_found = NOT_FOUND.saying("Workspace not found (or not the caller's).")
    answer = "The policy in force, where it comes from, and what retention last pruned."
    table.register(
        "GET", API, get_retention, operation_id="getWorkspaceRetention", tag=tag,
        summary="The workspace's retention policy (any member)",
        description="Its own policy, or the service default (`source`). See docs/retention.md.",
        path_params=workspace, replies=(data(Retention, answer),),
        errors=(BAD_REQUEST, not_found))
    table.register(
        "PUT", API, put_retention, operation_id="putWorkspaceRetention", tag=tag,
        summary="Set the workspace's own retention policy (workspace admins)",
        description="Replaces the service default whole; a null field sets no limit of that "
                    "kind. `runstream serve` applies it every `retention_interval_s`.",
        path_params=workspace, body=RetentionPolicyBody, replies=(data(Retention, answer),),
        errors=(BAD_REQUEST, not_found))
    table.register(
        "DELETE", API, delete_retention, operation_id="deleteWorkspaceRetention", tag=tag,
        summary="Drop the workspace's own policy: the service default applies (workspace "
                "admins)",
        path_params=workspace, replies=(data(Retention, answer),),
        errors=(BAD_REQUEST, not_found))
    table.register(
        "POST", "/api/v1/workflow-runs/{runId}/erase", erase_run, operation_id="eraseRun",
        tag=tag, summary="Erase one finished run now, with every run below it (global admins)",
        description="Its events' data is removed without an archive, every chain header "
                    "stays, and an EventsPruned (`kind: erasure`, who and why) records it, "
                    "as `runstream erase` does.",
        path_params={"runId": PathParam("Workflow run id.")}, body=EraseRequest,
        replies=(data(Erasure, "Erased."),),
        errors=(BAD_REQUEST, NOT_FOUND, PRUNED.saying("Already pruned or erased."),
                CONFLICT.saying("The run, a run below it or its parent is not finished."),
                NOT_PRUNABLE))
