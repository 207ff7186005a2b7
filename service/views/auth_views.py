"""The identity endpoints of `/api/v1`: session, users, tokens, workspaces and members."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from service import keys
from service.auth.access import (
    require_admin,
    require_principal,
    require_workspace_role,
)
from service.auth.keys import AUTH, LOGIN_THROTTLE, WORKSPACES
from service.auth.middleware import SESSION_ID, check_same_origin
from service.auth.passwords import generate_password, password_problem
from service.auth.principal import Principal
from service.auth.repository import ApiToken, User, UsernameTaken
from service.auth.roles import Role
from service.auth.sessions import end_session, get_session, new_session
from service.auth.workspaces import LastWorkspaceAdmin, Member, Workspace, WorkspaceNameTaken
from service.errors import (
    bad_request,
    conflict,
    forbidden,
    not_found,
    too_many_requests,
    unauthorized,
)
from service.ids import parse_uuid, parse_workspace_id
from service.views.body import parse_body
from service.views.params import pagination
from service.views.queries import page_params, paged
from service.views.requests import (
    LoginRequest,
    MemberAdd,
    PasswordChange,
    TokenCreate,
    UserCreate,
    WorkspaceCreate,
)

API = "/api/v1"


def ok(data: Any, status: int = 200, page: dict[str, int] | None = None) -> web.Response:
    body: dict[str, Any] = {"data": data}
    if page is not None:
        body["pagination"] = page
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "isAdmin": user.is_admin,
            "createdAt": user.created_at}


def token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "userId": token.user_id, "name": token.name, "prefix": token.prefix,
            "createdAt": token.created_at, "revokedAt": token.revoked_at}


def workspace_json(workspace: Workspace, role: str) -> dict[str, Any]:
    return {"id": workspace.id, "name": workspace.name, "createdAt": workspace.created_at,
            "role": role}


def member_json(member: Member) -> dict[str, Any]:
    return {"workspaceId": member.workspace_id, "userId": member.user_id,
            "username": member.username, "role": member.role}


async def _workspaces_of(request: web.Request, principal: Principal) -> list[dict[str, Any]]:
    repo = request.app[WORKSPACES]
    if principal.is_admin:
        return [workspace_json(ws, "admin") for ws in await repo.all_workspaces()]
    return [workspace_json(ws, role) for ws, role in await repo.memberships(principal.user_id)]


# -- session -------------------------------------------------------------------

async def _check_password(request: web.Request, username: str, password: str) -> User | None:
    """The user if `password` is theirs. Counted by the login throttle: 429 while this
    client is over its limits, refused before scrypt runs so a locked-out guess is cheap."""
    throttle = request.app[LOGIN_THROTTLE]
    client = request.remote or ""
    wait_s = await throttle.attempt(username, client)
    if wait_s is not None:
        raise too_many_requests("too many failed password attempts; try again later", wait_s)
    user = await request.app[AUTH].authenticate(username, password)
    if user is not None:
        await throttle.succeeded(username, client)
    return user


async def login(request: web.Request) -> web.Response:
    # Login CSRF (being signed in as the attacker) is refused like any other forged write.
    check_same_origin(request)
    body = await parse_body(request, LoginRequest)
    user = await _check_password(request, body.username, body.password)
    if user is None:
        # One message for both cases: a login must not reveal which usernames exist.
        raise unauthorized("invalid username or password")
    settings = request.app[keys.SETTINGS]
    secret = await request.app[AUTH].create_session(user.id, settings.session_max_age_s)
    session = await new_session(request)  # a fresh cookie: no session fixation
    session[SESSION_ID] = secret
    return ok({**user_json(user), "via": "session"})


async def change_password(request: web.Request) -> web.Response:
    """Change the caller's password; needs the current one, and ends every session."""
    principal = require_principal(request)
    body = await parse_body(request, PasswordChange)
    current, new = body.currentPassword, body.newPassword
    problem = password_problem(new)
    if problem is not None:
        raise bad_request(f"newPassword: {problem}")
    # A wrong current password counts as a failed login: a stolen session or token must
    # not become a way to guess the password without limit.
    if await _check_password(request, principal.username, current) is None:
        raise forbidden("currentPassword is not the account's password")
    # Every session ends, the caller's too: if a cookie was stolen, the thief holds this
    # very session. A caller signed in by cookie gets a fresh one, as at login.
    auth = request.app[AUTH]
    ended = await auth.set_password(principal.user_id, new)
    if principal.via == "session":
        settings = request.app[keys.SETTINGS]
        secret = await auth.create_session(principal.user_id, settings.session_max_age_s)
        (await new_session(request))[SESSION_ID] = secret
    request.app[keys.STREAMS].end_streams_of(principal.user_id)
    return ok({"passwordChanged": True, "sessionsEnded": ended})


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    secret = session.get(SESSION_ID)
    if isinstance(secret, str):
        await request.app[AUTH].revoke_session(secret)
    await end_session(request)
    return ok({"loggedOut": True})


async def me(request: web.Request) -> web.Response:
    principal = require_principal(request)
    return ok({
        "id": principal.user_id, "username": principal.username, "isAdmin": principal.is_admin,
        "via": principal.via, "workspaces": await _workspaces_of(request, principal),
    })


# -- users (global admins) -------------------------------------------------------

async def create_user(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, UserCreate)
    username, password, is_admin = body.username, body.password, body.isAdmin
    generated = password is None
    if password is None:
        password = generate_password()
    elif problem := password_problem(password):
        raise bad_request(problem)
    try:
        user = await request.app[AUTH].create_user(username, password, is_admin)
    except UsernameTaken:
        raise conflict(f"username {username!r} is taken") from None
    data = user_json(user)
    if generated:
        data["password"] = password  # shown once, never stored in clear
    return ok(data, status=201)


async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    page, limit = page_params(request)
    users, total = await request.app[AUTH].list_users(limit, (page - 1) * limit)
    return ok([user_json(u) for u in users], page=pagination(page, limit, total))


async def delete_user(request: web.Request) -> web.Response:
    principal = require_admin(request)
    user_id = parse_uuid(request.match_info["id"], "user id")
    if user_id == principal.user_id:
        raise conflict("you cannot delete your own account")
    if not await request.app[AUTH].delete_user(user_id):
        raise not_found("user not found")
    request.app[keys.STREAMS].end_streams_of(user_id)
    return ok({"id": user_id, "deleted": True})


# -- API tokens ------------------------------------------------------------------

async def create_token(request: web.Request) -> web.Response:
    principal = require_principal(request)
    body = await parse_body(request, TokenCreate)
    name = body.name or ""
    token, secret = await request.app[AUTH].create_token(principal.user_id, name)
    return ok({**token_json(token), "token": secret}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    principal = require_principal(request)
    tokens = await request.app[AUTH].list_tokens(principal.user_id)
    items, page = paged(request, [token_json(t) for t in tokens])
    return ok(items, page=page)


async def revoke_token(request: web.Request) -> web.Response:
    principal = require_principal(request)
    token_id = parse_uuid(request.match_info["id"], "token id")
    repo = request.app[AUTH]
    token = await repo.get_token(token_id)
    if token is None or (token.user_id != principal.user_id and not principal.is_admin):
        raise not_found("token not found")
    await repo.revoke_token(token_id)
    request.app[keys.STREAMS].end_streams_of(token.user_id)
    revoked = await repo.get_token(token_id)
    assert revoked is not None
    return ok(token_json(revoked))


# -- workspaces --------------------------------------------------------------------

async def create_workspace(request: web.Request) -> web.Response:
    principal = require_principal(request)
    name = (await parse_body(request, WorkspaceCreate)).name
    try:
        workspace = await request.app[WORKSPACES].create_workspace(name, principal.user_id)
    except WorkspaceNameTaken:
        raise conflict(f"a workspace named {name!r} exists") from None
    return ok(workspace_json(workspace, "admin"), status=201)


async def list_workspaces(request: web.Request) -> web.Response:
    principal = require_principal(request)
    items, page = paged(request, await _workspaces_of(request, principal))
    return ok(items, page=page)


async def add_member(request: web.Request) -> web.Response:
    workspace_id = parse_workspace_id(request.match_info["id"])
    await require_workspace_role(request, workspace_id, Role.ADMIN)
    body = await parse_body(request, MemberAdd)
    role = Role.parse(body.role)
    auth = request.app[AUTH]
    if body.userId is not None:
        user = await auth.get_user(body.userId)
    else:
        user = await auth.find_user(body.username or "")
    if user is None:
        raise not_found("user not found")
    role_name = role.word
    try:
        created = await request.app[WORKSPACES].set_member(workspace_id, user.id, role_name)
    except LastWorkspaceAdmin:
        raise conflict("a workspace must keep at least one admin") from None
    member = Member(workspace_id, user.id, user.username, role_name)
    return ok(member_json(member), status=201 if created else 200)


async def list_members(request: web.Request) -> web.Response:
    """Any member may see who else is in the workspace and with which role."""
    workspace_id = parse_workspace_id(request.match_info["id"])
    await require_workspace_role(request, workspace_id, Role.VIEWER)
    members = await request.app[WORKSPACES].members(workspace_id)
    items, page = paged(request, [member_json(m) for m in members])
    return ok(items, page=page)


async def remove_member(request: web.Request) -> web.Response:
    workspace_id = parse_workspace_id(request.match_info["id"])
    await require_workspace_role(request, workspace_id, Role.ADMIN)
    user_id = parse_uuid(request.match_info["userId"], "user id")
    try:
        removed = await request.app[WORKSPACES].remove_member(workspace_id, user_id)
    except LastWorkspaceAdmin:
        raise conflict("a workspace must keep at least one admin") from None
    if not removed:
        raise not_found("not a member of this workspace")
    # Only this workspace's streams: ending all of a user's streams would let anyone who
    # adds and removes them in a workspace of their own cut them off at will.
    request.app[keys.STREAMS].end_streams_of(user_id, workspace_id)
    return ok({"workspaceId": workspace_id, "userId": user_id, "removed": True})
