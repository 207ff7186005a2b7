"""Cookie sessions: aiohttp-session's EncryptedCookieStorage, driven through typed request keys.

aiohttp-session's own middleware keeps its state under string request keys, which aiohttp
3.14 warns about; this module uses the library's storage and Session with typed keys instead.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

STORAGE = web.AppKey("session_storage", EncryptedCookieStorage)
SESSION = web.RequestKey("session", Session)
# Set when this request created or ended a session, i.e. the cookie must be (re)written.
_DIRTY = web.RequestKey("session_dirty", bool)


async def get_session(request: web.Request) -> Session:
    """The session the request's cookie carries (empty and new if none or undecryptable)."""
    session = request.get(SESSION)
    if session is None:
        session = await request.app[STORAGE].load_session(request)
        request[SESSION] = session
    return session


async def new_session(request: web.Request) -> Session:
    """A fresh session replacing whatever the cookie held; it is saved with the response."""
    session = await request.app[STORAGE].new_session()
    request[SESSION] = session
    request[_DIRTY] = True
    return session


async def end_session(request: web.Request) -> None:
    """Empty the session; the response deletes the cookie."""
    (await get_session(request)).invalidate()
    request[_DIRTY] = True


@web.middleware
async def save_sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write the cookie of a session that was started or ended during the request."""
    response = await handler(request)
    # A prepared (streaming) response has sent its headers already; nothing can be added.
    if request.get(_DIRTY) and isinstance(response, web.Response) and not response.prepared:
        await request.app[STORAGE].save_session(request, response, request[SESSION])
    return response
