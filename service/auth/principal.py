"""Who is calling (roles a member can hold are in service/auth/roles.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    is_admin: bool
    # "session" (cookie) or "token" (Bearer): the CSRF rule applies to sessions only.
    via: str


# Set by the authentication middleware on every request (None when anonymous).
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
