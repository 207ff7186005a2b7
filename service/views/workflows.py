"""/api/v1/workflows: versioned definitions, validated on save."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import keys
from service.auth.access import require_principal, require_workspace_role
from service.auth.roles import Role
from service.auth.schema import DEFAULT_WORKSPACE_ID
from service.errors import bad_request, not_found, unprocessable
from service.ids import parse_workspace_id, path_uuid
from service.routing import (
    BAD_REQUEST,
    INVALID_WORKFLOW,
    NOT_FOUND,
    PathParam,
    RouteTable,
    data,
    page,
)
from service.views.body import parse_query
from service.views.lookup import load_workflow
from service.views.models.workflows import Workflow, WorkflowDetail
from service.views.params import json_body, pagination
from service.views.queries import WorkflowListQuery
from service.views.requests import WorkflowInput
from service.views.responses import data_response
from service.workflows.errors import WorkflowInvalid, WorkflowNotFound


def workspace_param(value: Any) -> str:
    """A body's `workspaceId`: absent means `default`."""
    if value is None:
        return DEFAULT_WORKSPACE_ID
    if not isinstance(value, str):
        raise bad_request("workspaceId must be a string")
    return parse_workspace_id(value)


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "workspaceId"}


def _invalid(exc: WorkflowInvalid) -> Exception:
    return unprocessable(str(exc), {"nodeIds": exc.node_ids, "errors": exc.errors})


async def create(request: web.Request) -> web.Response:
    principal = require_principal(request)
    body = await json_body(request)
    workspace_id = workspace_param(body.get("workspaceId"))
    await require_workspace_role(request, workspace_id, Role.EDITOR, "workspace not found")
    try:
        workflow = await request.app[keys.WORKFLOWS].create(
            workspace_id, _definition(body), principal.user_id
        )
    except WorkflowInvalid as exc:
        raise _invalid(exc) from None
    return data_response(workflow.as_dict(), status=201)


async def list_workflows(request: web.Request) -> web.Response:
    require_principal(request)
    query = parse_query(request, WorkflowListQuery)
    await require_workspace_role(request, query.workspaceId, Role.VIEWER, "workspace not found")
    workflows, total = await request.app[keys.WORKFLOWS].list(
        query.workspaceId, query.search, query.limit, query.offset
    )
    return data_response([w.as_dict() for w in workflows],
                         pagination(query.page, query.limit, total))


async def get(request: web.Request) -> web.Response:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.VIEWER)
    versions = await request.app[keys.WORKFLOWS].list_versions(workflow["id"])
    return data_response({**workflow, "versions": versions})


async def update(request: web.Request) -> web.Response:
    principal = require_principal(request)
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.EDITOR)
    body = await json_body(request)
    if "workspaceId" in body and workspace_param(body["workspaceId"]) != workflow["workspaceId"]:
        raise bad_request("a workflow cannot move to another workspace")
    try:
        updated = await request.app[keys.WORKFLOWS].update(
            workflow["id"], _definition(body), principal.user_id
        )
    except WorkflowInvalid as exc:
        raise _invalid(exc) from None
    return data_response(updated.as_dict())


async def get_version(request: web.Request) -> web.Response:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.VIEWER)
    raw = request.match_info["version"]
    if not raw.isdigit() or not raw.isascii() or len(raw) > 9 or int(raw) < 1:
        raise bad_request("version must be a positive integer")
    try:
        version = await request.app[keys.WORKFLOWS].get_version(workflow["id"], int(raw))
    except WorkflowNotFound:
        raise not_found("workflow version not found") from None
    return data_response(version.as_dict())


WORKFLOW_ID = PathParam("Workflow id.")
WORKSPACE_NOT_FOUND = NOT_FOUND.saying("Workspace not found (or not the caller's).")


def register_routes(table: RouteTable) -> None:
    tag = "workflows"
    table.register(
        "POST", "/api/v1/workflows", create, operation_id="createWorkflow", tag=tag,
        summary="Create a workflow (editor role in its workspace)", body=WorkflowInput,
        replies=(data(Workflow, "Created: version 1.", status=201),),
        errors=(BAD_REQUEST, WORKSPACE_NOT_FOUND, INVALID_WORKFLOW))
    table.register(
        "GET", "/api/v1/workflows", list_workflows, operation_id="listWorkflows", tag=tag,
        summary="List a workspace's workflows", query=WorkflowListQuery,
        replies=(page(Workflow, "A page of workflows (latest versions)."),),
        errors=(BAD_REQUEST, WORKSPACE_NOT_FOUND))
    table.register(
        "GET", "/api/v1/workflows/{workflowId}", get, operation_id="getWorkflow", tag=tag,
        summary="A workflow (latest version) and its version numbers",
        path_params={"workflowId": WORKFLOW_ID},
        replies=(data(WorkflowDetail, "The workflow."),), errors=(BAD_REQUEST, NOT_FOUND))
    table.register(
        "PUT", "/api/v1/workflows/{workflowId}", update, operation_id="updateWorkflow",
        tag=tag, summary="Save a new version (editor role)",
        path_params={"workflowId": WORKFLOW_ID}, body=WorkflowInput,
        replies=(data(Workflow, "The new version."),),
        errors=(BAD_REQUEST, NOT_FOUND, INVALID_WORKFLOW))
    table.register(
        "GET", "/api/v1/workflows/{workflowId}/versions/{version}", get_version,
        operation_id="getWorkflowVersion", tag=tag, summary="One stored version of a workflow",
        path_params={"workflowId": WORKFLOW_ID, "version": PathParam(
            "Version number, from 1.", {"type": "string", "pattern": "^[0-9]{1,9}$"})},
        replies=(data(Workflow, "That version."),), errors=(BAD_REQUEST, NOT_FOUND))
