"""How the fault tests send raw requests and judge an error answer: a JSON error body
`{"error": {"code", "message"}}`, whatever the route and whatever went wrong."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson


async def raw_request(base: str, method: str, path: str, token: str | None = None,
                      **kwargs: Any) -> tuple[int, str, bytes]:
    """Status, content type and body of one request, with a bearer token if given."""
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.request(method, base + path, headers=headers, **kwargs) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def error_body_problem(status: int, content_type: str, raw: bytes) -> str | None:
    """None if an error answer is a JSON error body, else what is wrong with it."""
    if "json" not in content_type:
        return f"{status} with content type {content_type!r}: {raw[:200]!r}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"{status} with a body that is not JSON: {raw[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)):
        return f"{status} without an error object: {raw[:200]!r}"
    return None


def assert_json_error(status: int, content_type: str, raw: bytes, expected: int) -> dict[str, Any]:
    """The error object of an answer that must be `expected` with a JSON error body."""
    assert status == expected, (status, raw[:300])
    problem = error_body_problem(status, content_type, raw)
    assert problem is None, problem
    return dict(orjson.loads(raw)["error"])
