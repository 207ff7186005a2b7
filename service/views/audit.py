"""GET /api/v1/audit/verify: the hash chain checked end to end, for administrators."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from service import keys
from service.auth.access import require_admin
from service.views.responses import data_response

VERIFY_PATH = "/api/v1/audit/verify"


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
