"""The run projections' tables, written once for both backends.

SQLite and PostgreSQL share this DDL; only the names of two types differ.
"""

from __future__ import annotations

from eventstore.rows import Dialect

# The types each dialect gives the columns written {blob} and {integer} below.
TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"blob": "BLOB", "integer": "INTEGER"},
    "postgresql": {"blob": "BYTEA", "integer": "BIGINT"},
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id               TEXT PRIMARY KEY,
    seq              {integer} NOT NULL UNIQUE,
    workflow_id      TEXT NOT NULL,
    workflow_version {integer},
    workflow_name    TEXT NOT NULL DEFAULT '',
    workspace_id     TEXT NOT NULL,
    chat_id          TEXT,
    parent_run_id    TEXT,
    parent_node_id   TEXT,
    status           TEXT NOT NULL,
    inputs           {blob},
    env_names        {blob},
    trigger_data     {blob},
    output           {blob},
    error            TEXT,
    cancel_reason    TEXT,
    cancelled_by     TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT,
    last_position    {integer} NOT NULL
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
    attempt       {integer} NOT NULL DEFAULT 1,
    input         {blob},
    output        {blob},
    error         TEXT,
    progress      {integer},
    message       TEXT,
    prompt        TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    duration_ms   {integer},
    seq           {integer} NOT NULL,
    -- The only index: node events are the bulk of all writes, and every index costs
    -- pages in each group commit. `id` is derived from (run, node).
    UNIQUE (run_id, node_id)
);

CREATE TABLE IF NOT EXISTS run_status_counts (
    workspace_id  TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    status        TEXT NOT NULL,
    count         {integer} NOT NULL,
    PRIMARY KEY (workspace_id, workflow_id, workflow_name, status)
);

-- A rerun and the run it repeats (RunCreated's rerunOf), both ways: a chain of reruns is
-- walked from either end.
CREATE TABLE IF NOT EXISTS run_reruns (
    run_id     TEXT PRIMARY KEY,
    rerun_of   TEXT NOT NULL,
    from_node  TEXT,
    seq        {integer} NOT NULL
);
CREATE INDEX IF NOT EXISTS run_reruns_of ON run_reruns (rerun_of, seq);
"""

TABLES = ["runs", "node_runs", "run_status_counts", "run_reruns"]

# Every column of node_runs, in table order: a NodeStarted inserts them all.
NODE_COLUMNS = (
    "run_id", "node_id", "id", "node_name", "node_type", "status", "attempt", "input",
    "output", "error", "progress", "message", "prompt", "created_at", "started_at",
    "updated_at", "finished_at", "duration_ms", "seq",
)


def schema(dialect: Dialect) -> str:
    return SCHEMA.format(**TYPES[dialect])
