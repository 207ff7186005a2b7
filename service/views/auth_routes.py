"""The route table entries of the identity endpoints (handlers in auth_views.py)."""

from __future__ import annotations

from service.routing import (
    BAD_REQUEST,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    UNAVAILABLE,
    Access,
    NoBody,
    PathParam,
    RouteTable,
    data,
    page,
)
from service.views.auth_views import (
    API,
    add_member,
    change_password,
    create_token,
    create_user,
    create_workspace,
    delete_user,
    list_members,
    list_tokens,
    list_users,
    list_workspaces,
    login,
    logout,
    me,
    remove_member,
    revoke_token,
)
from service.views.models.auth import (
    LoggedOut,
    Me,
    Member,
    MemberRemoved,
    NewToken,
    NewUser,
    PasswordChanged,
    SessionUser,
    Token,
    User,
    UserDeleted,
    Workspace,
)
from service.views.queries import PageQuery
from service.views.requests import (
    LoginRequest,
    MemberAdd,
    PasswordChange,
    TokenCreate,
    UserCreate,
    WorkspaceCreate,
)

WORKSPACE_ID = PathParam("`default` or a workspace UUID.", {"type": "string"})
LAST_ADMIN = CONFLICT.saying("A workspace must keep at least one admin.")
WORKSPACE_NOT_FOUND = NOT_FOUND.saying("Workspace not found (or not the caller's).")


def _session_routes(table: RouteTable) -> None:
    tag = "auth"
    table.register(
        "POST", f"{API}/auth/login", login, operation_id="login", tag=tag,
        summary="Sign in: sets the session cookie", access=Access.PUBLIC,
        description="A foreign Origin header is refused (login CSRF).", body=LoginRequest,
        replies=(data(SessionUser, "Signed in; `Set-Cookie` carries a fresh session."),),
        errors=(BAD_REQUEST, UNAUTHORIZED.saying(
            "Wrong username or password (one message for both)."), FORBIDDEN, TOO_LARGE,
            TOO_MANY_REQUESTS, UNAVAILABLE))
    table.register(
        "POST", f"{API}/auth/logout", logout, operation_id="logout", tag=tag,
        summary="Sign out: ends the session and clears the cookie", access=Access.OPTIONAL,
        description="No body is read; with a session cookie the CSRF rule still wants a JSON "
                    "or form Content-Type.", body=NoBody,
        replies=(data(LoggedOut, "Signed out (also when there was no session)."),),
        errors=(UNAUTHORIZED, FORBIDDEN, UNAVAILABLE))
    table.register(
        "GET", f"{API}/auth/me", me, operation_id="getMe", tag=tag,
        summary="The caller and their workspaces", replies=(data(Me, "The caller."),))
    table.register(
        "POST", f"{API}/auth/password", change_password, operation_id="changePassword",
        tag=tag, summary="Change the caller's password", body=PasswordChange,
        description="A wrong current password counts as a failed login for the throttle, so "
                    "a stolen session or token cannot guess it freely.",
        replies=(data(PasswordChanged, (
            "Changed. Every login session of the user ends, the caller's too (a stolen "
            "cookie holds that very session); a caller signed in by cookie gets a fresh one "
            "in `Set-Cookie`. API tokens stay valid until revoked.")),),
        errors=(BAD_REQUEST, FORBIDDEN.saying(
            "`currentPassword` is wrong, or the CSRF rule refused a cookie write."),
            TOO_MANY_REQUESTS))


def _user_and_token_routes(table: RouteTable) -> None:
    table.register(
        "POST", f"{API}/users", create_user, operation_id="createUser", tag="users",
        summary="Create a user (global admins)", body=UserCreate,
        replies=(data(NewUser, "Created.", status=201),), errors=(BAD_REQUEST, CONFLICT))
    table.register(
        "GET", f"{API}/users", list_users, operation_id="listUsers", tag="users",
        summary="List users (global admins)", query=PageQuery,
        replies=(page(User, "A page of users."),), errors=(BAD_REQUEST, FORBIDDEN))
    table.register(
        "DELETE", f"{API}/users/{{id}}", delete_user, operation_id="deleteUser", tag="users",
        summary="Delete a user (global admins)", path_params={"id": PathParam("User id.")},
        replies=(data(UserDeleted, "Deleted."),),
        errors=(BAD_REQUEST, NOT_FOUND, CONFLICT.saying(
            "Admins cannot delete their own account.")))
    table.register(
        "POST", f"{API}/tokens", create_token, operation_id="createToken", tag="tokens",
        summary="Create an API token for the caller", body=TokenCreate,
        body_description="A JSON object (may be empty).",
        replies=(data(NewToken, "Created; the secret is in `token`, shown once.", status=201),),
        errors=(BAD_REQUEST,))
    table.register(
        "GET", f"{API}/tokens", list_tokens, operation_id="listTokens", tag="tokens",
        summary="The caller's API tokens", query=PageQuery,
        replies=(page(Token, "A page of tokens (never their secrets)."),),
        errors=(BAD_REQUEST,))
    table.register(
        "DELETE", f"{API}/tokens/{{id}}", revoke_token, operation_id="revokeToken",
        tag="tokens", summary="Revoke an API token (own, or any for global admins)",
        path_params={"id": PathParam("Token id.")},
        replies=(data(Token, "The revoked token."),), errors=(BAD_REQUEST, NOT_FOUND))


def _workspace_routes(table: RouteTable) -> None:
    tag = "workspaces"
    table.register(
        "POST", f"{API}/workspaces", create_workspace, operation_id="createWorkspace",
        tag=tag, summary="Create a workspace; the caller becomes its admin",
        body=WorkspaceCreate, replies=(data(Workspace, "Created.", status=201),),
        errors=(BAD_REQUEST, CONFLICT.saying("A workspace with this name exists.")))
    table.register(
        "GET", f"{API}/workspaces", list_workspaces, operation_id="listWorkspaces", tag=tag,
        summary="The caller's workspaces (all, for global admins)", query=PageQuery,
        replies=(page(Workspace, "A page of workspaces with the caller's role."),),
        errors=(BAD_REQUEST,))
    table.register(
        "POST", f"{API}/workspaces/{{id}}/members", add_member, operation_id="setMember",
        tag=tag, summary="Add a member or change their role (workspace admins)",
        path_params={"id": WORKSPACE_ID}, body=MemberAdd,
        replies=(data(Member, "An existing member's role changed."),
                 data(Member, "Member added.", status=201)),
        errors=(BAD_REQUEST, NOT_FOUND.saying(
            "Workspace not found (or not the caller's) or no such user."), LAST_ADMIN))
    table.register(
        "GET", f"{API}/workspaces/{{id}}/members", list_members, operation_id="listMembers",
        tag=tag, summary="The workspace's members and their roles (any member)",
        path_params={"id": WORKSPACE_ID}, query=PageQuery,
        replies=(page(Member, "A page of members, by username."),),
        errors=(BAD_REQUEST, WORKSPACE_NOT_FOUND))
    table.register(
        "DELETE", f"{API}/workspaces/{{id}}/members/{{userId}}", remove_member,
        operation_id="removeMember", tag=tag, summary="Remove a member (workspace admins)",
        path_params={"id": WORKSPACE_ID, "userId": PathParam("User id.")},
        replies=(data(MemberRemoved, (
            "Removed; their open streams of this workspace's runs end now, and reconnecting "
            "to them is refused.")),),
        errors=(BAD_REQUEST, NOT_FOUND.saying(
            "Workspace not found (or not the caller's), or the user is not a member."),
            LAST_ADMIN))


def register_routes(table: RouteTable) -> None:
    _session_routes(table)
    _user_and_token_routes(table)
    _workspace_routes(table)
