"""Typed app keys of the identity package."""

from __future__ import annotations

from aiohttp import web

from service.auth.repository import AuthRepository
from service.auth.throttle import LoginThrottle
from service.auth.workspaces import WorkspaceRepository

AUTH = web.AppKey("auth_repository", AuthRepository)
WORKSPACES = web.AppKey("workspace_repository", WorkspaceRepository)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
