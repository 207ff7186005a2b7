"""Typed app keys of the identity package (a leaf, like service/keys.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from service.auth.repository import AuthRepository
    from service.auth.throttle import LoginThrottle
    from service.auth.workspaces import WorkspaceRepository

AUTH: web.AppKey[AuthRepository] = web.AppKey("auth_repository")
WORKSPACES: web.AppKey[WorkspaceRepository] = web.AppKey("workspace_repository")
LOGIN_THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("login_throttle")
