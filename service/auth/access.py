"""The access checks the rest of the service calls: who is calling, and what they may touch."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.auth.keys import WORKSPACES
from service.auth.middleware import current_principal
from service.auth.principal import PRINCIPAL, Principal
from service.auth.roles import Role
from service.auth.workspaces import Chat
from service.errors import bad_request, forbidden, not_found, unauthorized
from service.ids import parse_uuid, parse_workspace_id
from service.limits import MAX_CHAT_TITLE


def require_principal(request: web.Request) -> Principal:
    """The caller, or 401."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise unauthorized()
    return principal


def require_admin(request: web.Request) -> Principal:
    """The caller if a global admin; 401 when anonymous, 403 otherwise."""
    principal = require_principal(request)
    if not principal.is_admin:
        raise forbidden("administrators only")
    return principal


async def workspace_role(
    request: web.Request, principal: Principal, workspace_id: str
) -> Role | None:
    """The caller's role in an existing workspace; global admins are ADMIN in every one."""
    repo = request.app[WORKSPACES]
    if principal.is_admin:
        # Even for admins: a workspace that does not exist grants nothing.
        return Role.ADMIN if await repo.get_workspace(workspace_id) is not None else None
    name = await repo.role_of(principal.user_id, workspace_id)
    return Role.parse(name) if name is not None else None


async def require_workspace_role(
    request: web.Request, workspace_id: str, role: Role, message: str = "workspace not found"
) -> Principal:
    """The caller if they hold `role` there; 404 (`message`) for non-members, 403 if too low."""
    principal = require_principal(request)
    workspace_id = parse_workspace_id(workspace_id)
    held = await workspace_role(request, principal, workspace_id)
    if held is None:
        # Non-members must not learn whether the object (or the workspace) exists.
        raise not_found(message)
    if held < role:
        raise forbidden(f"this needs the {role.word} role in the workspace")
    return principal


async def visible_workspace_ids(
    request: web.Request, principal: Principal | None, min_role: Role = Role.VIEWER
) -> list[str] | None:
    """Ids of the workspaces where the caller holds at least `min_role`; None means all."""
    if principal is None:
        return []
    if principal.is_admin:
        return None
    memberships = await request.app[WORKSPACES].memberships(principal.user_id)
    return [ws.id for ws, name in memberships if Role.parse(name) >= min_role]


class LiveAccess:
    """The access a stream was opened with, asked again while it runs (access can be taken
    away after it was checked): the `StreamAccess` of service/streams/registry.py."""

    # One per open stream: slots keep it small.
    __slots__ = ("_request", "user_id", "workspace_id", "_admin_only")

    def __init__(
        self, request: web.Request, principal: Principal, workspace_id: str | None = None,
        *, admin_only: bool = False,
    ) -> None:
        self._request = request
        self.user_id = principal.user_id
        # The workspace whose run it shows (None: it spans workspaces), or admins only.
        self.workspace_id = workspace_id
        self._admin_only = admin_only

    async def still_allowed(self) -> bool:
        """Whether the request's credentials still hold and still let it read
        `workspace_id` (or, with `admin_only`, still belong to a global admin)."""
        principal = await current_principal(self._request)
        if principal is None:
            return False
        if self._admin_only:
            return principal.is_admin
        if self.workspace_id is None:
            return True
        return await workspace_role(self._request, principal, self.workspace_id) is not None


def chat_json(chat: Chat) -> dict[str, Any]:
    return {"id": chat.id, "ownerId": chat.owner_id, "title": chat.title,
            "createdAt": chat.created_at}


async def create_chat(request: web.Request, principal: Principal, title: str) -> dict[str, Any]:
    """A new chat owned by the caller."""
    if not isinstance(title, str) or len(title) > MAX_CHAT_TITLE:
        raise bad_request(f"title must be a string of at most {MAX_CHAT_TITLE} characters")
    chat = await request.app[WORKSPACES].create_chat(principal.user_id, title)
    return chat_json(chat)


async def get_chat_for(request: web.Request, principal: Principal, chat_id: str) -> dict[str, Any]:
    """The caller's own chat: 400 malformed id, 404 missing, 403 someone else's."""
    chat = await request.app[WORKSPACES].get_chat(parse_uuid(chat_id, "chat id"))
    if chat is None:
        raise not_found("chat not found")
    if chat.owner_id != principal.user_id:
        raise forbidden("this chat belongs to another user")
    return chat_json(chat)
