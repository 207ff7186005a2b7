"""What the service says of a run whose data retention or erasure removed."""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.interface import EventStore
from eventstore.tables import Tables, TableStore
from projections.vocabulary import RETENTION_STREAM


async def pruned_run(store: TableStore, run_id: str) -> dict[str, Any] | None:
    """When and how a run was pruned (None if it was not)."""
    rows = await Tables(store).fetch_all(
        "SELECT run_id, workspace_id, chat_id, kind, pruned_at, position, archive, by_user,"
        " reason, policy FROM pruned_runs WHERE run_id = ?", (run_id,))
    if not rows:
        return None
    row = rows[0]
    return {"runId": row[0], "workspaceId": row[1], "chatId": row[2], "kind": row[3],
            "prunedAt": row[4], "position": row[5], "archive": row[6], "by": row[7],
            "reason": row[8], "policy": None if row[9] is None else orjson.loads(row[9])}


async def last_pruned(store: EventStore, workspace_id: str) -> dict[str, Any] | None:
    """What retention last pruned of a workspace (time, runs, events, archive); None if
    nothing. Erasures are not retention and are not counted here."""
    rows = await Tables(store).fetch_all(
        "SELECT position, pruned_at, archive, COUNT(*) FROM pruned_runs WHERE workspace_id = ?"
        " AND kind = 'retention' GROUP BY position, pruned_at, archive"
        " ORDER BY position DESC LIMIT 1", (workspace_id,))
    if not rows:
        return None
    position, pruned_at, archive, runs = rows[0]
    # The EventsPruned itself says how many events went (the retention stream is never
    # pruned, so its data is there).
    (record,) = await store.read(RETENTION_STREAM, position - 1, 1)
    return {"prunedAt": pruned_at, "runs": int(runs), "events": record.payload["events"],
            "archive": archive, "position": position}
