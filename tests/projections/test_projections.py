"""Projections: what the run lists, activity runs and counters hold, and rebuild == live."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.interface import NO_STREAM
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.rebuild import rebuild
from projections.runs import TABLES, activity_run_id
from projections.vocabulary import EventType as E
from tests.projections.run_histories import append_concurrently, created, node, random_runs
from tests.support.eventstore import head_reaches

RUNSTREAM = Path(sys.executable).parent / "runstream"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runstream.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteEventStore]:
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    yield store
    await store.close()


def query(path: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def run_row(path: Path, run_id: str) -> dict[str, Any]:
    (row,) = query(path, "SELECT * FROM runs WHERE id = ?", run_id)
    return row


def node_row(path: Path, run_id: str, node_id: str) -> dict[str, Any]:
    (row,) = query(path, "SELECT * FROM node_runs WHERE run_id = ? AND node_id = ?",
                   run_id, node_id)
    return row


def counts(path: Path) -> dict[tuple[str, str], int]:
    """Non-zero counters by (workflow, status)."""
    return {(r["workflow_id"], r["status"]): r["count"] for r in query(
        path, "SELECT workflow_id, status, SUM(count) AS count FROM run_status_counts"
              " GROUP BY workflow_id, status HAVING SUM(count) != 0")}


def counted_rows(path: Path) -> dict[tuple[str, str], int]:
    """The same figures counted from the runs table: what the counters must equal."""
    return {(r["workflow_id"], r["status"]): r["n"] for r in query(
        path, "SELECT workflow_id, status, COUNT(*) AS n FROM runs GROUP BY workflow_id, status")}


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def run_cli(*args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    done = subprocess.run([str(RUNSTREAM), *args], capture_output=True, env=env, timeout=60,
                          check=False)
    return done.returncode, orjson.loads(done.stdout)


# -- content of the read models ------------------------------------------------


async def test_a_completed_run_with_a_retried_node(store: SQLiteEventStore, db_path: Path) -> None:
    run = "run-1"
    await store.append(run, [created(
        "wf-1", "Invoice sync", workflowVersion=3, chatId="chat-9", inputs={"month": 11},
        envNames=["API_KEY"], trigger={"type": "webhook", "data": {"id": 7}},
        createdBy="user-7")], NO_STREAM)
    row = run_row(db_path, run)
    assert (row["status"], row["started_at"], row["finished_at"]) == ("pending", None, None)
    assert counts(db_path) == {("wf-1", "pending"): 1}

    started = await store.append(run, [
        NewEvent(E.RUN_STARTED),
        node(E.NODE_STARTED, "fetch", nodeName="Fetch", nodeType="http", attempt=1,
             input={"url": "https://x"}),
        node(E.NODE_PROGRESS, "fetch", progress=50, message="halfway"),
        node(E.NODE_THINKING, "fetch", text="..."),
    ], 1)
    assert run_row(db_path, run)["status"] == "running"
    assert counts(db_path) == {("wf-1", "running"): 1}
    fetch = node_row(db_path, run, "fetch")
    assert (fetch["status"], fetch["progress"], fetch["message"]) == ("running", 50, "halfway")

    await store.append(run, [
        node(E.NODE_COMPLETED, "fetch", attempt=1, output={"rows": 3}, durationMs=120),
        node(E.NODE_STARTED, "post", nodeName="Post", nodeType="http", attempt=1, input={}),
        node(E.NODE_FAILED, "post", attempt=1, error={"message": "timeout"}, willRetry=True),
    ], 5)
    post = node_row(db_path, run, "post")
    assert (post["status"], post["error"], post["finished_at"]) == ("pending", "timeout", None)

    done = await store.append(run, [
        node(E.NODE_STARTED, "post", nodeName="Post", nodeType="http", attempt=2, input={}),
        node(E.NODE_COMPLETED, "post", attempt=2, output={"ok": True}, durationMs=40),
        NewEvent(E.RUN_COMPLETED, {"output": {"posted": 3}}),
    ], 8)

    row = run_row(db_path, run)
    assert row["status"] == "completed"
    assert (row["workflow_id"], row["workflow_version"], row["workflow_name"]) == (
        "wf-1", 3, "Invoice sync")
    assert (row["workspace_id"], row["chat_id"], row["created_by"]) == ("ws-1", "chat-9", "user-7")
    assert orjson.loads(row["inputs"]) == {"month": 11}
    assert orjson.loads(row["env_names"]) == ["API_KEY"]
    assert orjson.loads(row["trigger_data"]) == {"id": 7}
    assert orjson.loads(row["output"]) == {"posted": 3}
    assert row["error"] is None
    assert row["started_at"] == started[0].recorded_at
    assert row["finished_at"] == row["updated_at"] == done[-1].recorded_at
    assert row["seq"] == 1 and row["last_position"] == done[-1].position

    fetch = node_row(db_path, run, "fetch")
    assert fetch["id"] == activity_run_id(run, "fetch")
    assert (fetch["node_name"], fetch["node_type"], fetch["status"], fetch["attempt"]) == (
        "Fetch", "http", "completed", 1)
    assert orjson.loads(fetch["input"]) == {"url": "https://x"}
    assert orjson.loads(fetch["output"]) == {"rows": 3}
    assert (fetch["duration_ms"], fetch["progress"]) == (120, 100)
    post = node_row(db_path, run, "post")
    assert (post["status"], post["attempt"], post["error"], post["duration_ms"]) == (
        "completed", 2, None, 40)
    assert post["finished_at"] == done[1].recorded_at
    assert counts(db_path) == {("wf-1", "completed"): 1}


async def test_a_failed_run_keeps_the_error_text(store: SQLiteEventStore, db_path: Path) -> None:
    await store.append("run-f", [created("wf-1", "Sync"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "a", attempt=1)])
    await store.append("run-f", [
        node(E.NODE_FAILED, "a", attempt=1, error={"message": "HTTP 500", "status": 500},
             willRetry=False),
        NewEvent(E.RUN_FAILED, {"error": {"code": "E1"}}),
    ])
    a = node_row(db_path, "run-f", "a")
    assert (a["status"], a["error"]) == ("failed", "HTTP 500")
    assert a["finished_at"] is not None
    row = run_row(db_path, "run-f")
    assert row["status"] == "failed"
    assert orjson.loads(row["error"]) == {"code": "E1"}  # no message: the error as JSON
    assert row["finished_at"] is not None


async def test_a_cancelled_run(store: SQLiteEventStore, db_path: Path) -> None:
    await store.append("run-c", [created("wf-1", "Sync"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "a", attempt=1)])
    await store.append("run-c", [NewEvent(E.RUN_CANCEL_REQUESTED, {"reason": "too slow",
                                                                   "by": "user-2"})])
    row = run_row(db_path, "run-c")
    assert (row["status"], row["cancel_reason"], row["cancelled_by"]) == (
        "running", "too slow", "user-2")
    await store.append("run-c", [node(E.NODE_CANCELLED, "a"), NewEvent(E.RUN_CANCELLED, {})])
    row = run_row(db_path, "run-c")
    assert (row["status"], row["cancel_reason"], row["cancelled_by"]) == (
        "cancelled", "too slow", "user-2")
    assert row["finished_at"] is not None
    a = node_row(db_path, "run-c", "a")
    assert a["status"] == "cancelled" and a["finished_at"] is not None
    assert counts(db_path) == {("wf-1", "cancelled"): 1}


async def test_a_run_waiting_for_a_person_and_resumed(
    store: SQLiteEventStore, db_path: Path
) -> None:
    await store.append("run-w", [created("wf-1", "Approve"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "ask", attempt=1),
                                 node(E.NODE_WAITING, "ask", prompt="Ship it?"),
                                 NewEvent(E.RUN_WAITING)])
    assert run_row(db_path, "run-w")["status"] == "waiting"
    ask = node_row(db_path, "run-w", "ask")
    assert (ask["status"], ask["prompt"]) == ("waiting", "Ship it?")
    assert counts(db_path) == {("wf-1", "waiting"): 1}
    await store.append("run-w", [node(E.NODE_RESUMED, "ask", by="user-3", data={"yes": True}),
                                 NewEvent(E.RUN_RESUMED)])
    assert run_row(db_path, "run-w")["status"] == "running"
    assert node_row(db_path, "run-w", "ask")["status"] == "running"
    assert counts(db_path) == {("wf-1", "running"): 1}


async def test_skipped_nodes_and_child_runs(store: SQLiteEventStore, db_path: Path) -> None:
    await store.append("run-p", [created("wf-1", "Parent"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_SKIPPED, "branch", nodeName="If", nodeType="if")])
    await store.append("run-child", [created("wf-2", "Child", parentRunId="run-p",
                                             parentNodeId="spawn")])
    branch = node_row(db_path, "run-p", "branch")
    assert (branch["status"], branch["started_at"], branch["node_type"]) == (
        "skipped", None, "if")
    child = run_row(db_path, "run-child")
    assert (child["parent_run_id"], child["parent_node_id"]) == ("run-p", "spawn")


async def test_events_of_a_run_never_created_are_ignored(
    store: SQLiteEventStore, db_path: Path
) -> None:
    await store.append("run-ghost", [NewEvent(E.RUN_STARTED), node(E.NODE_COMPLETED, "a"),
                                     NewEvent("SomethingElse", {"nodeId": 3})])
    assert query(db_path, "SELECT * FROM runs") == []
    assert query(db_path, "SELECT * FROM node_runs") == []


async def test_counters_equal_the_rows_they_count_after_many_transitions(
    store: SQLiteEventStore, db_path: Path
) -> None:
    runs = random_runs(seed=7, runs=120, workflows=6)
    await append_concurrently(store, runs)
    assert counts(db_path) == counted_rows(db_path)
    statuses = {r["id"]: r["status"] for r in query(db_path, "SELECT id, status FROM runs")}
    assert statuses == {run.run_id: run.outcome.value for run in runs}
    assert len({run.outcome for run in runs}) == 6  # the mix really has every status


# -- rebuild -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rebuild_equals_live_after_a_random_mix_of_runs(db_path: Path, seed: int) -> None:
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    try:
        await append_concurrently(store, random_runs(seed, runs=150, workflows=5))
        head = await store.head()
    finally:
        await store.close()
    live = snapshot(db_path)
    assert all(live[t] for t in TABLES)

    report = rebuild(db_path, all_projections(), replace=False)
    assert report.matches, report.differences
    assert report.events == head
    assert report.differences == {t: (0, 0) for t in TABLES}
    assert report.events_per_second > 0

    rebuild(db_path, all_projections(), replace=True)
    assert snapshot(db_path) == live


async def test_rebuild_beside_a_live_writer_loses_no_append(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    try:
        runs = random_runs(seed=11, runs=150, workflows=5)
        writing = asyncio.ensure_future(append_concurrently(store, runs))
        await head_reaches(store, 200)
        report = await asyncio.to_thread(rebuild, db_path, all_projections(), True)
        assert report.matches, report.differences
        await writing
    finally:
        await store.close()
    assert rebuild(db_path, all_projections(), replace=False).matches
    assert counts(db_path) == counted_rows(db_path)


async def test_a_projection_added_later_catches_up_to_what_rebuild_makes(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path)  # no projections yet
    await append_concurrently(store, random_runs(seed=5, runs=60, workflows=3))
    await store.close()
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    await store.close()
    caught_up = snapshot(db_path)
    assert caught_up["runs"]
    assert rebuild(db_path, all_projections(), replace=False).matches
    assert snapshot(db_path) == caught_up


@pytest.fixture
async def populated(db_path: Path) -> Path:
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    await append_concurrently(store, random_runs(seed=3, runs=80, workflows=4))
    await store.close()
    return db_path.parent


def test_rebuild_command_exits_0_when_live_equals_rebuilt(populated: Path) -> None:
    code, report = run_cli("rebuild", "--data-dir", str(populated))
    assert code == 0
    assert report["matches"] is True
    assert report["events"] > 0
    assert report["differences"]["runs"] == {"onlyLive": 0, "onlyRebuilt": 0}


def test_rebuild_command_repairs_a_tampered_projection(populated: Path) -> None:
    db = populated / "runstream.db"
    (victim,) = query(db, "SELECT id, status FROM runs WHERE status != 'failed' LIMIT 1")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE runs SET status = 'failed' WHERE id = ?", (victim["id"],))
        conn.execute("DELETE FROM node_runs WHERE rowid = (SELECT MIN(rowid) FROM node_runs)")
    conn.close()

    code, report = run_cli("rebuild", "--check", "--data-dir", str(populated))
    assert code == 1
    assert report["matches"] is False
    assert report["differences"]["runs"] == {"onlyLive": 1, "onlyRebuilt": 1}
    assert report["differences"]["node_runs"] == {"onlyLive": 0, "onlyRebuilt": 1}
    assert run_row(db, victim["id"])["status"] == "failed"  # --check leaves live tables alone

    code, report = run_cli("rebuild", "--data-dir", str(populated))
    assert code == 1  # it reports what it found, and replaces the live tables
    assert run_row(db, victim["id"])["status"] == victim["status"]

    code, report = run_cli("rebuild", "--data-dir", str(populated))
    assert (code, report["matches"]) == (0, True)
