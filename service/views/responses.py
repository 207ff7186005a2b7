"""Success bodies: `{"data": ...}`, lists add `"pagination"`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def data_response(
    data: Any, pagination: dict[str, int] | None = None, status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )
