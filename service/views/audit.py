"""GET /api/v1/audit/verify: the hash chain checked end to end, for administrators."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from service import keys
from service.auth.access import require_admin
from service.routing import FORBIDDEN, RouteTable, data
from service.views.models.events import LogVerification
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


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", VERIFY_PATH, verify, operation_id="verifyLog", tag="events",
        summary="Verify the event log's hash chain (global admins)",
        description="Walks the whole log as `runstream verify` does.",
        replies=(data(LogVerification, "The verification result."),), errors=(FORBIDDEN,))
