"""/api/v1/audit: the hash chain checked end to end, and signed checkpoints of the head,
for global administrators."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from service import keys
from service.auth.access import require_admin
from service.routing import BAD_REQUEST, FORBIDDEN, NoBody, RouteTable, data
from service.views.body import parse_query
from service.views.models.audit import Checkpoint, CheckpointList
from service.views.models.events import LogVerification
from service.views.queries import CheckpointListQuery
from service.views.responses import data_response

VERIFY_PATH = "/api/v1/audit/verify"
CHECKPOINTS_PATH = "/api/v1/audit/checkpoints"


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


async def sign_checkpoint(request: web.Request) -> web.Response:
    require_admin(request)
    checkpoint = await request.app[keys.CHECKPOINTS].sign_head()
    return data_response(checkpoint.as_dict(), status=201)


async def list_checkpoints(request: web.Request) -> web.Response:
    require_admin(request)
    query = parse_query(request, CheckpointListQuery)
    checkpoints = request.app[keys.CHECKPOINTS]
    newest = await checkpoints.newest(query.limit)
    return data_response({
        "algorithm": "Ed25519", "publicKey": checkpoints.public_key,
        "keyId": checkpoints.key_id, "checkpoints": [c.as_dict() for c in newest],
        "total": await checkpoints.count(),
    })


def register_routes(table: RouteTable) -> None:
    table.register(
        "GET", VERIFY_PATH, verify, operation_id="verifyLog", tag="events",
        summary="Verify the event log's hash chain (global admins)",
        description="Walks the whole log as `runstream verify` does.",
        replies=(data(LogVerification, "The verification result."),), errors=(FORBIDDEN,))
    table.register(
        "POST", CHECKPOINTS_PATH, sign_checkpoint, operation_id="signCheckpoint", tag="audit",
        summary="Sign the log's head now (global admins)",
        description="The service also signs one every `checkpoint_interval_s`. Save the "
                    "answer elsewhere: `runstream checkpoint verify FILE` proves later that "
                    "the log still extends it.",
        body=NoBody, body_required=False,
        replies=(data(Checkpoint, "Signed.", status=201),), errors=(FORBIDDEN,))
    table.register(
        "GET", CHECKPOINTS_PATH, list_checkpoints, operation_id="listCheckpoints", tag="audit",
        summary="Signed checkpoints, newest first, with the public key (global admins)",
        query=CheckpointListQuery,
        replies=(data(CheckpointList, "The checkpoints and the key that signed them."),),
        errors=(BAD_REQUEST, FORBIDDEN))
