"""JSON errors: `{"error": {"code", "message"}}` with the right status, built in one place."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None,
    fields: list[dict[str, str]] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    if fields is not None:
        body["fields"] = fields  # every bad field of a body: [{path, message}]
    return web.Response(
        status=status,
        body=orjson.dumps({"error": body}),
        content_type="application/json",
        headers=headers,
    )


class ApiError(Exception):
    """Raised by views and helpers; the error middleware renders it."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None,
        headers: dict[str, str] | None = None, fields: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
        self.fields = fields

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.details, self.headers,
                              self.fields)


def bad_request(message: str, details: Any = None) -> ApiError:
    return ApiError(400, "bad_request", message, details)


def unauthorized(message: str = "authentication required") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str = "you may not do this") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def unprocessable(message: str, details: Any = None) -> ApiError:
    return ApiError(422, "invalid_workflow", message, details)


def too_many_requests(message: str, retry_after_s: int) -> ApiError:
    return ApiError(429, "too_many_requests", message, {"retryAfterSeconds": retry_after_s},
                    headers={"Retry-After": str(retry_after_s)})


def too_many_streams(held: int, limit: int) -> ApiError:
    return ApiError(429, "too_many_requests",
                    f"at most {limit} open streams per user; close one first",
                    {"openStreams": held, "limit": limit})


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


# aiohttp's own HTTP exceptions mapped to our codes, so every error body is JSON.
HTTP_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid_workflow", 429: "too_many_requests", 503: "unavailable",
}
