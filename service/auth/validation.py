"""Request bodies and fields for the identity endpoints, checked strictly (400 with a reason)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.auth.middleware import FORM_TYPES, is_json_type
from service.errors import bad_request
from service.views.params import form_fields, json_body, page_params, pagination

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NAME = 100


async def read_body(request: web.Request, allow_form: bool = False) -> dict[str, Any]:
    """The body as a dict: a JSON object, or (if allowed) a urlencoded or multipart form."""
    content_type = request.content_type
    if is_json_type(content_type):
        return await json_body(request)  # 413 past client_max_size, 400 when malformed
    if allow_form and content_type in FORM_TYPES:
        return await form_fields(request)
    wanted = "JSON or form" if allow_form else "JSON"
    raise bad_request(f"expected a {wanted} body (got Content-Type {content_type!r})")


def string_field(
    body: dict[str, Any], name: str, *, required: bool = True, max_len: int = MAX_NAME,
    min_len: int = 0,
) -> str | None:
    """A string field; 400 if missing (when required), of another type, or out of bounds."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    if not min_len <= len(value) <= max_len:
        raise bad_request(f"{name} must be {min_len} to {max_len} characters")
    return value


def bool_field(body: dict[str, Any], name: str, default: bool = False) -> bool:
    """A boolean field; forms may say true/false/1/0/on."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "on", "off"):
        return value.lower() in ("true", "1", "on")
    raise bad_request(f"{name} must be a boolean")


def username_field(body: dict[str, Any]) -> str:
    username = string_field(body, "username", max_len=64, min_len=1)
    assert username is not None
    if not USERNAME_RE.match(username):
        raise bad_request(
            "username must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def paged(request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    """One page of a list held in memory (short lists: tokens, workspaces) and its pagination."""
    page, limit = page_params(request)
    start = (page - 1) * limit
    return items[start:start + limit], pagination(page, limit, len(items))
