"""/api/v1/workspaces/{id}/secrets: named values for `{{secrets.NAME}}`, editors and admins.

Listing needs the editor role too: a viewer has no use for the names, and the names tell
what a workspace holds keys for. Values go in and never come out.
"""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.auth.access import require_workspace_role
from service.auth.roles import Role
from service.errors import ApiError, bad_request, not_found
from service.ids import parse_workspace_id
from service.routing import (
    BAD_REQUEST,
    NOT_FOUND,
    UNAVAILABLE,
    Content,
    PathParam,
    Reply,
    RouteTable,
    Shape,
    data,
)
from service.secrets.repository import (
    NAME_PATTERN,
    BadSecret,
    SecretsUnavailable,
    check_secret,
)
from service.views.body import parse_body
from service.views.models.secrets import Secret, SecretDeleted
from service.views.requests import SecretValue
from service.views.responses import data_response

API = "/api/v1/workspaces/{id}/secrets"
WORKSPACE_NOT_FOUND = NOT_FOUND.saying("Workspace not found (or not the caller's).")


async def _workspace(request: web.Request) -> str:
    workspace_id = parse_workspace_id(request.match_info["id"])
    await require_workspace_role(request, workspace_id, Role.EDITOR)
    return workspace_id


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    try:
        check_secret(name)
    except BadSecret as exc:
        raise bad_request(str(exc)) from None
    return name


async def put_secret(request: web.Request) -> web.Response:
    workspace_id = await _workspace(request)
    name = _name(request)
    body = await parse_body(request, SecretValue)
    try:
        info, created = await request.app[keys.WORKSPACE_SECRETS].put(
            workspace_id, name, body.value)
    except BadSecret as exc:
        raise bad_request(str(exc)) from None
    except SecretsUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    return data_response(info.as_dict(), status=201 if created else 200)


async def list_secrets(request: web.Request) -> web.Response:
    workspace_id = await _workspace(request)
    secrets = await request.app[keys.WORKSPACE_SECRETS].list(workspace_id)
    return data_response([info.as_dict() for info in secrets])


async def delete_secret(request: web.Request) -> web.Response:
    workspace_id = await _workspace(request)
    name = _name(request)
    if not await request.app[keys.WORKSPACE_SECRETS].delete(workspace_id, name):
        raise not_found(f"no secret named {name!r} in this workspace")
    return data_response({"name": name, "deleted": True})


def register_routes(table: RouteTable) -> None:
    tag = "secrets"
    workspace = {"id": PathParam("`default` or a workspace UUID.", {"type": "string"})}
    named = {**workspace, "name": PathParam(
        "The secret's name, as `{{secrets.NAME}}` reads it.",
        {"type": "string", "pattern": NAME_PATTERN})}
    table.register(
        "PUT", f"{API}/{{name}}", put_secret, operation_id="putWorkspaceSecret", tag=tag,
        summary="Store or replace a secret (workspace editors and admins)",
        description="The value is encrypted at rest with the secrets key; runs of the "
                    "workspace read it as `{{secrets.NAME}}`, and everything a run records "
                    "has it replaced by `***`.",
        path_params=named, body=SecretValue,
        replies=(data(Secret, "Replaced."), data(Secret, "Created.", status=201)),
        errors=(BAD_REQUEST, WORKSPACE_NOT_FOUND,
                UNAVAILABLE.saying("No secrets key is configured.")))
    table.register(
        "GET", API, list_secrets, operation_id="listWorkspaceSecrets", tag=tag,
        summary="The workspace's secrets: names and update times, never values "
                "(workspace editors and admins)",
        path_params=workspace, replies=(Reply(200, "By name.", {
            "application/json": Content(Shape.DATA_LIST, Secret)}),),
        errors=(BAD_REQUEST, WORKSPACE_NOT_FOUND))
    table.register(
        "DELETE", f"{API}/{{name}}", delete_secret, operation_id="deleteWorkspaceSecret",
        tag=tag, summary="Delete a secret (workspace editors and admins)",
        description="Runs already going keep the value they started with.",
        path_params=named, replies=(data(SecretDeleted, "Deleted."),),
        errors=(BAD_REQUEST, NOT_FOUND.saying(
            "Workspace not found (or not the caller's), or no such secret.")))
