"""The one parser of ids in paths, bodies and queries: UUIDs, and workspace ids.

Only the hyphenated form is an id (`0f8c...-...`, either case, answered in lower case).
`uuid.UUID` also takes braces, `urn:uuid:` and 32 bare hex digits; those spellings are
refused, so one id has one spelling in URLs, logs and the tables, and a path id and a
body id are judged alike.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.auth.schema import DEFAULT_WORKSPACE_ID
from service.errors import bad_request

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def canonical_uuid(value: Any) -> str:
    """The lower-case form of a hyphenated UUID; ValueError for anything else."""
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise ValueError("must be a UUID")
    return value.lower()


def canonical_workspace_id(value: Any) -> str:
    """A workspace id is the built-in `default` or a UUID; ValueError for anything else."""
    if value == DEFAULT_WORKSPACE_ID:
        return DEFAULT_WORKSPACE_ID
    try:
        return canonical_uuid(value)
    except ValueError:
        raise ValueError("must be `default` or a UUID") from None


def parse_uuid(value: Any, what: str = "id") -> str:
    """The canonical form of a UUID, or 400 naming the field."""
    try:
        return canonical_uuid(value)
    except ValueError:
        raise bad_request(f"{what} must be a UUID") from None


def parse_workspace_id(value: Any) -> str:
    """`default` or a UUID, or 400."""
    if value == DEFAULT_WORKSPACE_ID:
        return DEFAULT_WORKSPACE_ID
    return parse_uuid(value, "workspace id")


def path_uuid(request: web.Request, name: str, what: str | None = None) -> str:
    """The UUID in the path segment `name`, or 400."""
    return parse_uuid(request.match_info[name], what or name)
