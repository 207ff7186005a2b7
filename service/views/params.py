"""Parsing and bounds of request input, shared by every view."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from service.errors import bad_request
from service.limits import MAX_BODY_DEPTH
from service.workflows.templates import nesting_depth


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "total": total, "totalPages": -(-total // limit)}


async def json_body(request: web.Request) -> dict[str, Any]:
    """A JSON object body, or 400 saying what is wrong with it."""
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    check_depth(body)
    return body


def check_depth(value: Any) -> None:
    """400 for JSON nested deeper than MAX_BODY_DEPTH (it could not be stored or answered)."""
    if nesting_depth(value, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise bad_request(f"the body nests deeper than {MAX_BODY_DEPTH} levels")


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """`request.post()`, with a malformed form or multipart body a 400 instead of a 500.

    aiohttp raises InvalidHeader (a bad part header), ValueError (no or unknown boundary,
    nested multipart, UnicodeDecodeError) or LookupError (an unknown charset).
    """
    try:
        return await request.post()
    except (HttpProcessingError, ValueError, LookupError) as exc:
        raise bad_request(f"malformed form body: {exc}".splitlines()[0][:200]) from None


async def form_fields(request: web.Request) -> dict[str, Any]:
    """A urlencoded or multipart body as text fields (a file upload is 400)."""
    form = await read_form(request)
    body: dict[str, Any] = {}
    for key in form:
        value = form[key]
        if not isinstance(value, str):
            raise bad_request(f"field {key!r} must be text, not a file")
        body[key] = value
    return body
