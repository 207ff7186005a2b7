"""Read-model queries over 1,000,000 runs, dashboard counters, and the rebuild rate.

The million runs are made by the run projection itself: their events are folded by
`RunsProjection`'s fold, in batches, on one connection in large transactions (no log, no writer
queue), with the list indexes built once at the end rather than row by row. Queries
go through `RunQueries`, the code the list endpoints call, on the store's readers.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import median_ms, median_ms_async, note, report, scratch_dir
from eventstore.interface import NO_STREAM
from eventstore.records import NewEvent, RecordedEvent
from eventstore.sqlite import SCHEMA, SQLiteEventStore
from eventstore.sqlite_rows import create_schema, project
from projections import all_projections
from projections.queries import RunFilter, RunQueries
from projections.rebuild import rebuild
from projections.runs import RunsProjection
from projections.vocabulary import EventType, RunStatus

RUNS = int(os.environ.get("BENCH_RUNS", 1_000_000))  # fewer for a quick look
WORKFLOWS = 50
BUILD_TRANSACTION = 50_000  # runs per transaction while building
BUILD_BATCH = 5_000  # events per fold, as a rebuild folds them
PAGE = 50
DEEP_OFFSET = max(PAGE, 5_000 * RUNS // 1_000_000)  # page 101 of a million runs
REBUILD_RUNS = 20_000  # about 200,000 events
REPEAT = 21

# A history of finished work with some in flight, as a busy instance has.
STATUS_MIX = {
    RunStatus.COMPLETED: 70, RunStatus.FAILED: 12, RunStatus.CANCELLED: 4,
    RunStatus.RUNNING: 5, RunStatus.WAITING: 2, RunStatus.PENDING: 7,
}
TEAMS = ["Billing", "Sales", "Ops", "Data", "Support"]
JOBS = ["invoice sync", "lead scoring", "nightly report", "backup check", "ticket triage",
        "churn alert", "CRM import", "price update", "welcome email", "usage rollup"]
WORKFLOW_NAMES = [f"{TEAMS[w % 5]} {JOBS[w // 5]}" for w in range(WORKFLOWS)]
STATUS_EVENTS: dict[str, list[str]] = {
    RunStatus.PENDING: [],
    RunStatus.RUNNING: [EventType.RUN_STARTED],
    RunStatus.WAITING: [EventType.RUN_STARTED, EventType.RUN_WAITING],
    RunStatus.COMPLETED: [EventType.RUN_STARTED, EventType.RUN_COMPLETED],
    RunStatus.FAILED: [EventType.RUN_STARTED, EventType.RUN_FAILED],
    RunStatus.CANCELLED: [EventType.RUN_STARTED, EventType.RUN_CANCEL_REQUESTED,
                          EventType.RUN_CANCELLED],
}
PAYLOADS: dict[str, bytes] = {
    EventType.RUN_STARTED: b"{}",
    EventType.RUN_WAITING: b"{}",
    EventType.RUN_COMPLETED: orjson.dumps({"output": {"ok": True, "rows": 42}}),
    EventType.RUN_FAILED: orjson.dumps({"error": {"message": "HTTP 502 from upstream"}}),
    EventType.RUN_CANCEL_REQUESTED: orjson.dumps({"reason": "superseded", "by": "user-3"}),
    EventType.RUN_CANCELLED: orjson.dumps({"reason": "superseded"}),
}


def timestamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(1_760_000_000 + seconds))


def created_payload(rng: random.Random, workflow: int) -> dict[str, Any]:
    return {
        "workflowId": f"wf-{workflow:02d}", "workflowVersion": rng.randint(1, 9),
        "workflowName": WORKFLOW_NAMES[workflow], "workspaceId": f"ws-{workflow % 5}",
        "chatId": f"chat-{rng.randint(1, 5000)}" if rng.random() < 0.2 else None,
        "inputs": {"customer": rng.randint(1, 100_000), "dryRun": False},
        "envNames": ["API_TOKEN"], "trigger": {"type": "schedule", "data": {}},
        "createdBy": f"user-{rng.randint(1, 40)}",
    }


def build_runs(path: Path, runs: int) -> float:
    """Fold `runs` run histories into a fresh database with the run projection; runs/s."""
    rng = random.Random(2026)
    statuses = list(STATUS_MIX)
    weights = list(STATUS_MIX.values())
    projection = RunsProjection()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.executescript(SCHEMA)
    create_schema(conn, projection)
    conn.execute("INSERT INTO projection_checkpoints (name, position) VALUES (?, 0)",
                 (projection.name,))
    # Index maintenance row by row is what makes a million inserts slow; the same
    # indexes built once afterwards (by create_schema, below) are identical.
    indexes = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'"
        " AND sql IS NOT NULL")]
    for name in indexes:
        conn.execute(f"DROP INDEX {name}")
    started = time.perf_counter()
    position = 0
    batch: list[RecordedEvent] = []
    conn.execute("BEGIN")
    for i in range(runs):
        run_id = f"run-{i:07d}"
        workflow = rng.randrange(WORKFLOWS)
        status = rng.choices(statuses, weights)[0]
        at = i * 3
        position += 1
        batch.append(RecordedEvent(
            position, run_id, 1, EventType.RUN_CREATED,
            orjson.dumps(created_payload(rng, workflow)), timestamp(at), "", ""))
        for version, type_ in enumerate(STATUS_EVENTS[status], start=2):
            position += 1
            batch.append(RecordedEvent(
                position, run_id, version, type_, PAYLOADS[type_], timestamp(at + version), "",
                ""))
        if len(batch) >= BUILD_BATCH:
            project(conn, [projection], batch)
            batch.clear()
        if i % BUILD_TRANSACTION == BUILD_TRANSACTION - 1:
            project(conn, [projection], batch)
            batch.clear()
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    project(conn, [projection], batch)
    conn.execute("COMMIT")
    create_schema(conn, projection)  # the indexes, built in one pass each
    seconds = time.perf_counter() - started
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return runs / seconds


def plain_sql_ms(path: Path, sql: str, params: tuple[Any, ...]) -> float:
    """The list query alone on a plain connection: what SQLite spends, without the service."""
    conn = sqlite3.connect(path)
    try:
        return median_ms(lambda: conn.execute(sql, params).fetchall(), REPEAT)
    finally:
        conn.close()


async def measure_queries(path: Path) -> None:
    store = await SQLiteEventStore.open(path, projectors=all_projections())
    queries = RunQueries(store)
    try:
        busy = RunFilter(workflow_id="wf-07", status=RunStatus.COMPLETED)
        rows, total = await queries.list_runs(busy, 0, PAGE)
        assert len(rows) == PAGE, len(rows)
        assert total > DEEP_OFFSET + PAGE, total
        note(f"wf-07 completed: {total} runs")

        async def page(run_filter: RunFilter, offset: int) -> None:
            found, _ = await queries.list_runs(run_filter, offset, PAGE)
            assert found, (run_filter, offset)

        figures = {
            "list_workflow_status_first_page": (busy, 0),
            "list_workflow_status_deep_page": (busy, DEEP_OFFSET),
            "list_status_first_page": (RunFilter(status=RunStatus.FAILED), 0),
            "list_status_deep_page": (RunFilter(status=RunStatus.FAILED), DEEP_OFFSET),
            "list_all_deep_page": (RunFilter(), DEEP_OFFSET),
            # `invoice` names 5 of the 50 workflows, `s invoice` two, `Ops backup` one.
            "search_five_workflows_first_page": (RunFilter(name_search="invoice"), 0),
            "search_five_workflows_deep_page": (RunFilter(name_search="invoice"), DEEP_OFFSET),
            "search_two_workflows_deep_page": (RunFilter(name_search="s invoice"), DEEP_OFFSET),
            "search_one_workflow_first_page": (RunFilter(name_search="Ops backup"), 0),
            "search_one_workflow_deep_page": (RunFilter(name_search="Ops backup"), DEEP_OFFSET),
            # A member of two workspaces searching a word found in ten workflows.
            "search_member_first_page": (
                RunFilter(workspace_ids=["ws-1", "ws-2"], name_search="sales"), 0),
            "search_member_deep_page": (
                RunFilter(workspace_ids=["ws-1", "ws-2"], name_search="sales"), DEEP_OFFSET),
        }
        for name, (run_filter, offset) in figures.items():
            ms = await median_ms_async(lambda f=run_filter, o=offset: page(f, o), REPEAT)
            report(f"projections_{name}_ms", ms, "ms")

        sql = ("SELECT id, workflow_id, workflow_name, status, created_at, updated_at FROM runs"
               " WHERE workflow_id = ? AND status = ? ORDER BY seq DESC LIMIT ? OFFSET ?")
        report("projections_list_first_page_plain_sql_ms",
               plain_sql_ms(path, sql, ("wf-07", "completed", PAGE, 0)), "ms")
        report("projections_list_deep_page_plain_sql_ms",
               plain_sql_ms(path, sql, ("wf-07", "completed", PAGE, DEEP_OFFSET)), "ms")

        async def workflow_counts() -> None:
            assert await queries.status_counts("wf-07", None)

        async def dashboard() -> None:
            # Every workflow's counters by status: the dashboard's one query.
            assert await store.fetch_all(
                "SELECT workflow_id, status, SUM(count) FROM run_status_counts"
                " GROUP BY workflow_id, status")

        report("projections_dashboard_workflow_counts_ms",
               await median_ms_async(workflow_counts, REPEAT), "ms")
        report("projections_dashboard_all_counts_ms",
               await median_ms_async(dashboard, REPEAT), "ms")
    finally:
        await store.close()


def run_history(rng: random.Random, n: int) -> list[NewEvent]:
    """A finished run with three steps: 11 or 12 events."""
    workflow = rng.randrange(WORKFLOWS)
    events = [NewEvent(EventType.RUN_CREATED, created_payload(rng, workflow)),
              NewEvent(EventType.RUN_STARTED)]
    for step in range(3):
        node_id = f"step-{step}"
        events.append(NewEvent(EventType.NODE_STARTED, {
            "nodeId": node_id, "nodeName": f"Step {step}", "nodeType": "http", "attempt": 1,
            "input": {"n": n}}))
        if rng.random() < 0.3:
            events.append(NewEvent(EventType.NODE_PROGRESS, {
                "nodeId": node_id, "progress": 50, "message": "half way"}))
        events.append(NewEvent(EventType.NODE_COMPLETED, {
            "nodeId": node_id, "attempt": 1, "output": {"status": 200},
            "durationMs": rng.randint(5, 900)}))
    events.append(NewEvent(EventType.RUN_COMPLETED, {"output": {"ok": True}}))
    return events


async def measure_rebuild(path: Path) -> None:
    store = await SQLiteEventStore.open(path, projectors=all_projections(), synchronous="OFF")
    rng = random.Random(7)
    histories = [run_history(rng, n) for n in range(REBUILD_RUNS)]

    async def writer(k: int) -> None:
        for n in range(k, REBUILD_RUNS, 50):
            await store.append(f"run-{n:06d}", histories[n], NO_STREAM)

    await asyncio.gather(*(writer(k) for k in range(50)))
    events = await store.head()
    await store.close()
    result = await asyncio.to_thread(rebuild, path, all_projections(), True)
    assert result.matches, result.differences
    note(f"rebuild replayed {result.events} events in {result.seconds:.1f} s")
    report("projections_rebuild_events_per_s", result.events_per_second, "events/s")
    assert result.events == events


async def main() -> None:
    with scratch_dir("bench-projections-") as tmp:
        started = time.perf_counter()
        rate = await asyncio.to_thread(build_runs, tmp / "runs.db", RUNS)
        note(f"built {RUNS} runs over {WORKFLOWS} workflows in"
             f" {time.perf_counter() - started:.0f} s")
        report("projections_build_runs_per_s", rate, "runs/s")
        await measure_queries(tmp / "runs.db")
        (tmp / "runs.db").unlink()
        await measure_rebuild(tmp / "log.db")


if __name__ == "__main__":
    asyncio.run(main())
