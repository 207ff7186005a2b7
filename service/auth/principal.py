"""Who is calling, and the roles a member can hold in a workspace."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from aiohttp import web


class Role(IntEnum):
    """Workspace roles; each includes the rights of the ones below it."""

    VIEWER = 1  # read
    RUNNER = 2  # + execute, cancel, resume
    EDITOR = 3  # + edit workflows
    ADMIN = 4  # + manage members

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    is_admin: bool
    # "session" (cookie) or "token" (Bearer): the CSRF rule applies to sessions only.
    via: str


# Set by the authentication middleware on every request (None when anonymous).
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
