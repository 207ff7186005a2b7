"""Read models of runs: the run list, activity (node) runs and per-workflow status counts.

Applied by the store inside the append's transaction (see eventstore/projector.py),
so a read model is never ahead of or behind the log. Counts are kept incrementally
so no request path ever counts rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import orjson

from eventstore.records import RecordedEvent
from projections.vocabulary import RUN_STATUS_AFTER, EventType, node_status_after

# Activity-run ids are derived, not stored in the log: the same run and node always
# give the same id, so a rebuild reproduces them exactly.
ACTIVITY_NAMESPACE = uuid.UUID("7d0c8f0e-6a59-4b8e-9d3e-2f1c0b5a4e11")


def activity_run_id(run_id: str, node_id: str) -> str:
    return str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{run_id}/{node_id}"))


SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id               TEXT PRIMARY KEY,
    seq              INTEGER NOT NULL UNIQUE,
    workflow_id      TEXT NOT NULL,
    workflow_version INTEGER,
    workflow_name    TEXT NOT NULL DEFAULT '',
    workspace_id     TEXT NOT NULL,
    chat_id          TEXT,
    parent_run_id    TEXT,
    parent_node_id   TEXT,
    status           TEXT NOT NULL,
    inputs           BLOB,
    env_names        BLOB,
    trigger_data     BLOB,
    output           BLOB,
    error            TEXT,
    cancel_reason    TEXT,
    cancelled_by     TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT,
    last_position    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_workflow_status_seq ON runs (workflow_id, status, seq);
CREATE INDEX IF NOT EXISTS runs_status_seq ON runs (status, seq);
-- (name, seq, workspace): a name search pages by seq and filters workspaces in the index.
CREATE INDEX IF NOT EXISTS runs_name_seq_workspace ON runs (workflow_name, seq, workspace_id);
CREATE INDEX IF NOT EXISTS runs_workspace_seq ON runs (workspace_id, seq);
CREATE INDEX IF NOT EXISTS runs_chat_seq ON runs (chat_id, seq) WHERE chat_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS node_runs (
    run_id        TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    id            TEXT NOT NULL,
    node_name     TEXT,
    node_type     TEXT,
    status        TEXT NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 1,
    input         BLOB,
    output        BLOB,
    error         TEXT,
    progress      INTEGER,
    message       TEXT,
    prompt        TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    duration_ms   INTEGER,
    seq           INTEGER NOT NULL,
    -- The only index: node events are the bulk of all writes, and every index costs
    -- pages in each group commit. `id` is derived from (run, node).
    UNIQUE (run_id, node_id)
);

CREATE TABLE IF NOT EXISTS run_status_counts (
    workspace_id  TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    status        TEXT NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, workflow_id, workflow_name, status)
);
"""

TABLES = ["runs", "node_runs", "run_status_counts"]


def _json(value: Any) -> bytes | None:
    return None if value is None else orjson.dumps(value)


def _error_text(error: Any) -> str | None:
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return orjson.dumps(error).decode()


class RunsProjection:
    name = "runs"

    def create_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)

    def drop_schema(self, conn: sqlite3.Connection) -> None:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def tables(self) -> list[str]:
        return list(TABLES)

    def apply(self, conn: sqlite3.Connection, event: RecordedEvent) -> None:
        if event.type.startswith("Run"):
            self._apply_run(conn, event)
        elif event.type.startswith("Node"):
            self._apply_node(conn, event)

    # -- runs ------------------------------------------------------------------

    def _apply_run(self, conn: sqlite3.Connection, event: RecordedEvent) -> None:
        data = event.payload
        at = event.recorded_at
        if event.type == EventType.RUN_CREATED:
            conn.execute(
                "INSERT INTO runs (id, seq, workflow_id, workflow_version, workflow_name,"
                " workspace_id, chat_id, parent_run_id, parent_node_id, status, inputs,"
                " env_names, trigger_data, created_by, created_at, updated_at, last_position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.stream, event.position, data["workflowId"],
                    data.get("workflowVersion"), data.get("workflowName") or "",
                    data["workspaceId"], data.get("chatId"), data.get("parentRunId"),
                    data.get("parentNodeId"), RUN_STATUS_AFTER[event.type],
                    _json(data.get("inputs", {})), _json(data.get("envNames", [])),
                    _json((data.get("trigger") or {}).get("data")), data.get("createdBy"),
                    at, at, event.position,
                ),
            )
            self._count(conn, event.stream, None, RUN_STATUS_AFTER[event.type])
            return
        row = conn.execute("SELECT status FROM runs WHERE id = ?", (event.stream,)).fetchone()
        if row is None:
            return  # an event for a run this projection never saw created: ignore
        old_status = row[0]
        new_status = RUN_STATUS_AFTER.get(event.type, old_status)
        sets = ["status = ?", "updated_at = ?", "last_position = ?"]
        params: list[Any] = [new_status, at, event.position]
        if event.type == EventType.RUN_STARTED:
            sets.append("started_at = COALESCE(started_at, ?)")
            params.append(at)
        elif event.type == EventType.RUN_CANCEL_REQUESTED:
            sets += ["cancel_reason = ?", "cancelled_by = ?"]
            params += [data.get("reason"), data.get("by")]
        elif event.type == EventType.RUN_COMPLETED:
            sets += ["output = ?", "finished_at = ?"]
            params += [_json(data.get("output")), at]
        elif event.type == EventType.RUN_FAILED:
            sets += ["error = ?", "finished_at = ?"]
            params += [_error_text(data.get("error")), at]
        elif event.type == EventType.RUN_CANCELLED:
            sets += ["cancel_reason = COALESCE(?, cancel_reason)",
                     "cancelled_by = COALESCE(?, cancelled_by)", "finished_at = ?"]
            params += [data.get("reason"), data.get("by"), at]
        params.append(event.stream)
        conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", params)
        if new_status != old_status:
            self._count(conn, event.stream, old_status, new_status)

    def _count(
        self, conn: sqlite3.Connection, run_id: str, old: str | None, new: str
    ) -> None:
        workspace_id, workflow_id, name = conn.execute(
            "SELECT workspace_id, workflow_id, workflow_name FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if old is not None:
            conn.execute(
                "UPDATE run_status_counts SET count = count - 1 WHERE workspace_id = ?"
                " AND workflow_id = ? AND workflow_name = ? AND status = ?",
                (workspace_id, workflow_id, name, old),
            )
        conn.execute(
            "INSERT INTO run_status_counts (workspace_id, workflow_id, workflow_name, status,"
            " count) VALUES (?, ?, ?, ?, 1) ON CONFLICT (workspace_id, workflow_id,"
            " workflow_name, status) DO UPDATE SET count = count + 1",
            (workspace_id, workflow_id, name, new),
        )

    # -- node runs -------------------------------------------------------------

    def _apply_node(self, conn: sqlite3.Connection, event: RecordedEvent) -> None:
        data = event.payload
        node_id = data.get("nodeId")
        if not isinstance(node_id, str):
            return
        at = event.recorded_at
        status = node_status_after(event.type, data)
        if event.type in (EventType.NODE_STARTED, EventType.NODE_SKIPPED):
            conn.execute(
                "INSERT INTO node_runs (id, run_id, node_id, node_name, node_type, status,"
                " attempt, input, created_at, started_at, updated_at, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, node_id) DO UPDATE SET status = excluded.status,"
                " attempt = excluded.attempt, input = excluded.input,"
                " started_at = excluded.started_at, updated_at = excluded.updated_at,"
                " error = NULL, progress = NULL, message = NULL, finished_at = NULL",
                (
                    activity_run_id(event.stream, node_id), event.stream, node_id, data.get("nodeName"),
                    data.get("nodeType"), status, data.get("attempt", 1),
                    _json(data.get("input")), at,
                    at if event.type == EventType.NODE_STARTED else None, at, event.position,
                ),
            )
            return
        sets = ["updated_at = ?"]
        params: list[Any] = [at]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if "attempt" in data:
            sets.append("attempt = ?")
            params.append(data["attempt"])
        if event.type == EventType.NODE_PROGRESS:
            sets += ["progress = ?", "message = ?"]
            params += [data.get("progress"), data.get("message")]
        elif event.type == EventType.NODE_COMPLETED:
            sets += ["output = ?", "duration_ms = ?", "finished_at = ?", "progress = 100"]
            params += [_json(data.get("output")), data.get("durationMs"), at]
        elif event.type == EventType.NODE_FAILED:
            sets += ["error = ?", "duration_ms = ?"]
            params += [_error_text(data.get("error")), data.get("durationMs")]
            if not data.get("willRetry"):
                sets.append("finished_at = ?")
                params.append(at)
        elif event.type == EventType.NODE_WAITING:
            sets.append("prompt = ?")
            params.append(data.get("prompt"))
        elif event.type == EventType.NODE_CANCELLED:
            sets.append("finished_at = ?")
            params.append(at)
        params += [event.stream, node_id]
        conn.execute(
            f"UPDATE node_runs SET {', '.join(sets)} WHERE run_id = ? AND node_id = ?", params
        )
