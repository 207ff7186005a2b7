"""Request id + one log line per request, and JSON bodies for every error."""

from __future__ import annotations

import asyncio
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from eventstore.errors import EventTooLarge, StoreUnavailable
from service.errors import HTTP_STATUS_CODES, ApiError, error_response
from service.logging import http_log as log
from service.logging import log_request
from service.streams.serving import EventStreamResponse

REQUEST_ID_HEADER = "X-Request-Id"
# Logged (never sent) for a request whose client left before it was answered, as nginx does.
CLIENT_CLOSED_REQUEST = 499


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id for every log line of this request and emit the canonical line."""
    request_id = request.headers.get(REQUEST_ID_HEADER, "")
    if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
        request_id = uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    logged_by_stream = False
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        if isinstance(response, EventStreamResponse):
            # Served after this returns: the stream writes the line when it ends.
            response.request_started = started
            logged_by_stream = True
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        # The client left before its answer (or the server is shutting down): no status
        # was sent, and 500 would report an error that did not happen.
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        if not logged_by_stream:
            log_request(request, status, started)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Translate every failure into `{"error": {...}}`; nothing leaks as HTML or a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except StoreUnavailable as exc:
        return error_response(503, "unavailable", str(exc))
    except EventTooLarge as exc:
        return error_response(413, "too_large", str(exc),
                              {"size": exc.size, "limit": exc.limit})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_STATUS_CODES.get(exc.status, "error")
        message = exc.reason if exc.status != 413 else "request body too large"
        return error_response(exc.status, code, message)
    except Exception:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal server error")
