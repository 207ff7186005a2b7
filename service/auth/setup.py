"""Wires identity into the app: session storage, tables and bootstrap, middleware (its
routes are in the app's route table, service/views/auth_routes.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from service import keys
from service.auth.keys import AUTH, LOGIN_THROTTLE, WORKSPACES
from service.auth.middleware import authenticate
from service.auth.passwords import generate_password
from service.auth.repository import AuthRepository
from service.auth.schema import ADMIN_USERNAME
from service.auth.session_key import session_fernet
from service.auth.sessions import STORAGE, save_sessions
from service.auth.throttle import LoginThrottle, ThrottleLimits
from service.auth.workspaces import WorkspaceRepository

SESSION_COOKIE = "runstream_session"


async def _identity_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the tables and, on the first start only, `admin` and `default`."""
    store = app[keys.STORE]
    settings = app[keys.SETTINGS]
    auth = AuthRepository(store)
    app[AUTH] = auth
    app[WORKSPACES] = WorkspaceRepository(store)
    await auth.ensure_schema()
    # In the database: every node of a cluster counts the same failures.
    throttle = LoginThrottle(store, ThrottleLimits(
        per_account=settings.login_max_failures,
        per_client=settings.login_max_failures_per_client,
        window_s=settings.login_failure_window_s,
    ))
    await throttle.ensure_schema()
    app[LOGIN_THROTTLE] = throttle
    password = settings.admin_password or generate_password()
    if await auth.bootstrap(password) and not settings.admin_password:
        # Printed, not logged: log lines are kept and shipped; this must be seen once only.
        print(
            f"runstream: created user {ADMIN_USERNAME!r} with password: {password}",
            file=sys.stderr, flush=True,
        )
    yield


def setup_auth(app: web.Application) -> None:
    """Install sessions and authentication; call after the store's cleanup context is added."""
    settings = app[keys.SETTINGS]
    storage = EncryptedCookieStorage(
        session_fernet(settings),
        cookie_name=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="Lax",
        secure=settings.session_cookie_secure,
    )
    app[STORAGE] = storage
    app.middlewares.append(save_sessions)
    app.middlewares.append(authenticate)
    app.cleanup_ctx.append(_identity_ctx)
