"""Runs written straight into a real store as the engine writes them (the log's own event
types), so retention tests can make thousands quickly."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

from eventstore.interface import EventStore
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import EventType

WORKSPACE = "default"
WORKFLOW = "00000000-0000-4000-8000-000000000001"


def run_events(status: str = "completed", parent: str | None = None,
               payload_bytes: int = 200, workspace: str = WORKSPACE) -> list[NewEvent]:
    """A run's events up to `status` (completed, failed, waiting or running)."""
    events = [
        NewEvent(EventType.RUN_CREATED, {
            "workflowId": WORKFLOW, "workflowVersion": 1, "workflowName": "Soak",
            "workspaceId": workspace, "parentRunId": parent,
            "parentNodeId": "child" if parent else None, "inputs": {}, "createdBy": "u"}),
        NewEvent(EventType.RUN_STARTED, {}),
        NewEvent(EventType.NODE_STARTED, {"nodeId": "a", "nodeName": "A", "nodeType": "noop",
                                          "attempt": 1, "input": {}}),
    ]
    if status == "waiting":
        events += [NewEvent(EventType.NODE_WAITING, {"nodeId": "a", "prompt": "ok?"}),
                   NewEvent(EventType.RUN_WAITING, {})]
    elif status == "running":
        pass
    else:
        events.append(NewEvent(EventType.NODE_COMPLETED, {
            "nodeId": "a", "attempt": 1, "output": {"text": "x" * payload_bytes},
            "durationMs": 1}))
        terminal = EventType.RUN_COMPLETED if status == "completed" else EventType.RUN_FAILED
        events.append(NewEvent(terminal, {"output": {}} if status == "completed"
                               else {"error": "boom"}))
    return events


async def add_runs(store: EventStore, count: int, status: str = "completed",
                   parent: str | None = None, payload_bytes: int = 200,
                   workspace: str = WORKSPACE) -> list[str]:
    """`count` runs appended concurrently (group commit), their ids in log order."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await asyncio.gather(*(store.append(run_id, run_events(
        status, parent, payload_bytes, workspace)) for run_id in ids))
    return ids


async def finish(store: EventStore, run_id: str) -> None:
    await store.append(run_id, [NewEvent(EventType.RUN_COMPLETED, {"output": {}})])


async def open_store(data_dir: Path) -> SQLiteEventStore:
    return await SQLiteEventStore.open(data_dir / "runstream.db", all_projections(),
                                       synchronous="NORMAL")


def write(data_dir: Path, sql: str, params: Sequence[object] = ()) -> None:
    """An edit behind the store's back (tampering), on a plain connection."""
    conn = sqlite3.connect(data_dir / "runstream.db", isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def query(data_dir: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "runstream.db")
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()
