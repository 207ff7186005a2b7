"""Limits of identity fields, shared by the request models and the CLI; paging of short lists."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.views.params import pagination
from service.views.queries import page_params

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
USERNAME_RE = re.compile(USERNAME_PATTERN)
MAX_USERNAME = 64
MAX_NAME = 100


def paged(request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    """One page of a list held in memory (short lists: tokens, workspaces) and its pagination."""
    page, limit = page_params(request)
    start = (page - 1) * limit
    return items[start:start + limit], pagination(page, limit, len(items))
