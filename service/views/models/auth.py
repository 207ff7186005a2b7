"""Identity answers: the caller, users, API tokens, workspaces and members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from service.auth.roles import ROLE_NAMES
from service.views.models.base import Count, ResponseModel, Timestamp, Uuid, one_of

if TYPE_CHECKING:
    Role = str
else:
    Role = one_of(ROLE_NAMES)
WorkspaceId = str  # `default` or a UUID


class User(ResponseModel):
    id: Uuid
    username: str
    isAdmin: bool
    createdAt: Timestamp


class NewUser(User):
    password: str | None = Field(None, description=(
        "Only when the server generated it: shown this once."))


class SessionUser(User):
    via: Literal["session"]


class Workspace(ResponseModel):
    id: WorkspaceId = Field(description="`default` or a UUID.")
    name: str
    createdAt: Timestamp
    role: Role = Field(description="The caller's role there.")


class Me(ResponseModel):
    id: Uuid
    username: str
    isAdmin: bool
    via: Literal["session", "token"] = Field(description="How the caller authenticated.")
    workspaces: list[Workspace]


class LoggedOut(ResponseModel):
    loggedOut: Literal[True]


class PasswordChanged(ResponseModel):
    passwordChanged: Literal[True]
    sessionsEnded: Count


class UserDeleted(ResponseModel):
    id: Uuid
    deleted: Literal[True]


class Token(ResponseModel):
    id: Uuid
    userId: Uuid
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    createdAt: Timestamp
    revokedAt: Timestamp | None


class NewToken(Token):
    token: str = Field(description="The secret (`rs_...`): shown this once, stored hashed.")


class Member(ResponseModel):
    workspaceId: WorkspaceId
    userId: Uuid
    username: str
    role: Role


class MemberRemoved(ResponseModel):
    workspaceId: WorkspaceId
    userId: Uuid
    removed: Literal[True]

