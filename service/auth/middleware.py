"""Who is calling (Bearer token or session cookie), and the CSRF rule for cookie writes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from service import keys
from service.auth.keys import AUTH
from service.auth.principal import PRINCIPAL, Principal
from service.auth.repository import TOKEN_PREFIX, User
from service.auth.sessions import end_session, get_session
from service.content_types import FORM_TYPES, is_json_type
from service.errors import error_response, forbidden
from service.metrics.access import is_scrape_token
from service.triggers.webhooks import HOOKS_PREFIX

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a cross-site page cannot send without a CORS preflight is JSON; forms it can send,
# so for those the Origin check below is what stops a forged request.
SESSION_ID = "sid"


def check_same_origin(request: web.Request) -> None:
    """403 when an Origin header names another site than this server: its own
    scheme://host, or the `public_origin` it is reached at through a reverse proxy."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    origin = origin.lower()
    if origin == f"{request.scheme}://{request.host}".lower():
        return
    public = request.app[keys.SETTINGS].public_origin
    if public and origin == public.rstrip("/").lower():
        return
    raise forbidden("cross-origin request refused")


def check_csrf(request: web.Request) -> None:
    """403 unless the body is JSON or a form and any Origin sent is this server's own."""
    content_type = request.content_type
    if not (is_json_type(content_type) or content_type in FORM_TYPES):
        raise forbidden("a cookie-authenticated write needs a JSON or form content type")
    check_same_origin(request)


def _principal(user: User, via: str) -> Principal:
    return Principal(user_id=user.id, username=user.username, is_admin=user.is_admin, via=via)


async def _from_token(request: web.Request, header: str) -> Principal | None:
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
        return None
    user = await request.app[AUTH].user_for_token(secret)
    return _principal(user, "token") if user is not None else None


async def _from_session(request: web.Request) -> Principal | None:
    session = await get_session(request)
    secret = session.get(SESSION_ID)
    if not isinstance(secret, str):
        return None
    user = await request.app[AUTH].user_for_session(secret)
    if user is None:
        # Logged out elsewhere, expired or the user was deleted: drop the dead cookie.
        await end_session(request)
        return None
    return _principal(user, "session")


async def current_principal(request: web.Request) -> Principal | None:
    """Who the request's credentials name now, looked up again (None if they no longer
    hold): for streams, which outlive the lookup made when they opened."""
    header = request.headers.get("Authorization")
    if header is not None:
        return await _from_token(request, header)
    return await _from_session(request)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set `request[PRINCIPAL]`; a bad token is 401 even when a valid cookie came along."""
    request[PRINCIPAL] = None
    if request.path.startswith(HOOKS_PREFIX):
        # Webhook deliveries carry the sender's credentials, never ours: their
        # Authorization may hold the webhook's token, and a browser's cookie must neither
        # sign a delivery in nor be refused by the CSRF rule. The webhook's own auth
        # decides (service/views/webhook_receiver.py); nothing there reads PRINCIPAL.
        return await handler(request)
    header = request.headers.get("Authorization")
    if header is not None:
        principal = await _from_token(request, header)
        # The scrape token is no user's: only GET /metrics takes it (service/metrics/).
        if principal is None and not is_scrape_token(request):
            return error_response(
                401, "unauthorized", "invalid or revoked API token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
    else:
        principal = await _from_session(request)
        if principal is not None and request.method in UNSAFE_METHODS:
            check_csrf(request)
    request[PRINCIPAL] = principal
    return await handler(request)
