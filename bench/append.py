"""Append throughput: 200 coroutines, each awaiting single-event appends, durable as configured.

The reference is plain `sqlite3` inserting the very rows our store wrote (same table,
same indexes, hash columns included, WAL, synchronous=FULL), in transactions the size
of our average group commit: what SQLite itself can do with those commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import note, percentile, report, scratch_dir
from eventstore.interface import NO_STREAM, EventStore
from eventstore.projector import Projector
from eventstore.records import NewEvent
from eventstore.sqlite import EVENT_COLUMNS, SCHEMA, SQLiteEventStore
from projections import all_projections
from projections.vocabulary import EventType

WRITERS = 200
APPENDS_EACH = 500  # 100,000 events in all
SYNCHRONOUS = "FULL"


def run_event(n: int, i: int) -> NewEvent:
    """The i-th event of run n, as the engine writes a run: created, started, then steps."""
    if i == 0:
        return NewEvent(EventType.RUN_CREATED, {
            "workflowId": f"wf-{n % 50}", "workflowName": f"Workflow {n % 50}",
            "workspaceId": "ws-1", "inputs": {"n": n}})
    if i == 1:
        return NewEvent(EventType.RUN_STARTED)
    if i % 3 == 2:
        return NewEvent(EventType.NODE_STARTED, {
            "nodeId": f"node-{i}", "nodeName": "Step", "nodeType": "code", "attempt": 1,
            "input": {"i": i}})
    if i % 3 == 0:
        return NewEvent(EventType.NODE_PROGRESS, {
            "nodeId": f"node-{i - 1}", "progress": 50, "message": "half way"})
    return NewEvent(EventType.NODE_COMPLETED, {
        "nodeId": f"node-{i - 2}", "attempt": 1, "output": {"ok": True}, "durationMs": 12})


async def append_runs(store: EventStore) -> tuple[float, list[float]]:
    """WRITERS runs appended at once, one event per append; (seconds, append latencies)."""
    latencies: list[float] = []

    async def run(n: int) -> None:
        run_id = f"run-{n:04d}"
        version = NO_STREAM
        for i in range(APPENDS_EACH):
            event = run_event(n, i)
            started = time.perf_counter()
            recorded = await store.append(run_id, [event], version)
            latencies.append(time.perf_counter() - started)
            version = recorded[-1].version

    started = time.perf_counter()
    await asyncio.gather(*(run(n) for n in range(WRITERS)))
    return time.perf_counter() - started, latencies


async def run_appenders(path: Path, projectors: Sequence[Projector]) -> dict[str, float]:
    store = await SQLiteEventStore.open(path, projectors=projectors, synchronous=SYNCHRONOUS)
    commits = 0
    # Count group commits through the writer's before-commit hook (keeping any hook the
    # store installed there itself).
    hooked = store._writer.before_commit

    def count_commit(conn: sqlite3.Connection) -> None:
        nonlocal commits
        commits += 1
        if hooked is not None:
            hooked(conn)

    store._writer.before_commit = count_commit
    seconds, latencies = await append_runs(store)
    events = await store.head()
    await store.close()
    return {
        "events": events, "seconds": seconds, "commits": commits,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def reference_insert(source: Path, target: Path, batch: int) -> float:
    """Plain sqlite3: the same rows into the same table, `batch` rows per durable commit."""
    rows = sqlite3.connect(source).execute(
        f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position").fetchall()
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    conn.executescript(SCHEMA)
    sql = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[i:i + batch])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


async def main() -> None:
    note(f"{WRITERS} coroutines x {APPENDS_EACH} single-event appends, synchronous={SYNCHRONOUS}")
    with scratch_dir("bench-append-") as tmp:
        for label, projectors in (("", all_projections()), ("_bare", [])):
            result = await run_appenders(tmp / f"log{label}.db", projectors)
            rate = result["events"] / result["seconds"]
            per_commit = result["events"] / max(result["commits"], 1)
            reference = reference_insert(
                tmp / f"log{label}.db", tmp / f"ref{label}.db", max(1, round(per_commit)))
            what = "with the run projections" if projectors else "no projections"
            note(f"{what}: {result['events']:.0f} events in {result['seconds']:.1f} s,"
                 f" {result['commits']:.0f} group commits")
            report(f"append{label}_events_per_s", rate, "events/s")
            report(f"append{label}_events_per_commit", per_commit, "events")
            report(f"append{label}_latency_p50_ms", result["p50_ms"], "ms")
            report(f"append{label}_latency_p99_ms", result["p99_ms"], "ms")
            report(f"append{label}_sqlite_reference_events_per_s", reference, "events/s")
            report(f"append{label}_vs_reference_ratio", rate / reference, "x")


if __name__ == "__main__":
    asyncio.run(main())
