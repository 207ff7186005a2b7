"""What the service says of a run whose data retention or erasure removed."""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.tables import Tables, TableStore


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
