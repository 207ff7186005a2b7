"""GET /api/v1/audit/verify: the hash chain checked end to end, for administrators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from service import keys
from service.auth.access import require_admin
from service.views.responses import data_response

VERIFY_PATH = "/api/v1/audit/verify"

OPENAPI_PATHS: dict[str, Any] = {
    VERIFY_PATH: {"get": {
        "summary": "Verify the event log's hash chain (administrators)",
        "description": (
            "Walks the whole log as `runstream verify` does. `data`: ok, checked, head, "
            "headHash (keep it: truncating the newest events is only detectable against a "
            "head kept elsewhere), firstBadPosition and reason when a link does not hold."
        ),
        "responses": {
            "200": {"description": "The verification result"},
            "401": {"description": "Not signed in"},
            "403": {"description": "Not an administrator"},
        },
    }},
}


async def verify(request: web.Request) -> web.Response:
    require_admin(request)
    store = request.app[keys.STORE]
    result = await store.verify()
    head_hash = None
    if result.ok and result.head > 0:
        last = await store.read(None, result.head - 1, 1)
        head_hash = last[0].hash if last else None
    return data_response({
        "ok": result.ok,
        "checked": result.checked,
        "head": result.head,
        "headHash": head_hash,
        "firstBadPosition": result.first_bad_position,
        "reason": result.reason,
        "verifiedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    })


def setup_routes(app: web.Application) -> None:
    app.router.add_get(VERIFY_PATH, verify)
