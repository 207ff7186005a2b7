"""Projections: what the run lists, activity runs and counters hold, and rebuild == live."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.interface import NO_STREAM, EventStore
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.runs import TABLES, activity_run_id
from projections.vocabulary import EventType as E
from tests.projections.run_histories import append_concurrently, created, node, random_runs
from tests.support.backends import Backend, SQLiteBackend
from tests.support.eventstore import head_reaches

RUNSTREAM = Path(sys.executable).parent / "runstream"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runstream.db"


@pytest.fixture
async def store(backend: Backend) -> EventStore:
    return await backend.open()


def query(path: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    return SQLiteBackend(path).query(sql, *params)


def run_row(backend: Backend, run_id: str) -> dict[str, Any]:
    (row,) = backend.query("SELECT * FROM runs WHERE id = ?", run_id)
    return row


def node_row(backend: Backend, run_id: str, node_id: str) -> dict[str, Any]:
    (row,) = backend.query("SELECT * FROM node_runs WHERE run_id = ? AND node_id = ?",
                           run_id, node_id)
    return row


def counts(backend: Backend) -> dict[tuple[str, str], int]:
    """Non-zero counters by (workflow, status)."""
    return {(r["workflow_id"], r["status"]): r["count"] for r in backend.query(
        "SELECT workflow_id, status, SUM(count) AS count FROM run_status_counts"
        " GROUP BY workflow_id, status HAVING SUM(count) != 0")}


def counted_rows(backend: Backend) -> dict[tuple[str, str], int]:
    """The same figures counted from the runs table: what the counters must equal."""
    return {(r["workflow_id"], r["status"]): r["n"] for r in backend.query(
        "SELECT workflow_id, status, COUNT(*) AS n FROM runs GROUP BY workflow_id, status")}


def snapshot(backend: Backend) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted((tuple(row.values()) for row in backend.query(f"SELECT * FROM {t}")),
                      key=repr) for t in TABLES}


def run_cli(*args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    done = subprocess.run([str(RUNSTREAM), *args], capture_output=True, env=env, timeout=60,
                          check=False)
    return done.returncode, orjson.loads(done.stdout)


# -- content of the read models ------------------------------------------------


async def test_a_completed_run_with_a_retried_node(store: EventStore, backend: Backend) -> None:
    run = "run-1"
    await store.append(run, [created(
        "wf-1", "Invoice sync", workflowVersion=3, chatId="chat-9", inputs={"month": 11},
        envNames=["API_KEY"], trigger={"type": "webhook", "data": {"id": 7}},
        createdBy="user-7")], NO_STREAM)
    row = run_row(backend, run)
    assert (row["status"], row["started_at"], row["finished_at"]) == ("pending", None, None)
    assert counts(backend) == {("wf-1", "pending"): 1}

    started = await store.append(run, [
        NewEvent(E.RUN_STARTED),
        node(E.NODE_STARTED, "fetch", nodeName="Fetch", nodeType="http", attempt=1,
             input={"url": "https://x"}),
        node(E.NODE_PROGRESS, "fetch", progress=50, message="halfway"),
        node(E.NODE_THINKING, "fetch", text="..."),
    ], 1)
    assert run_row(backend, run)["status"] == "running"
    assert counts(backend) == {("wf-1", "running"): 1}
    fetch = node_row(backend, run, "fetch")
    assert (fetch["status"], fetch["progress"], fetch["message"]) == ("running", 50, "halfway")

    await store.append(run, [
        node(E.NODE_COMPLETED, "fetch", attempt=1, output={"rows": 3}, durationMs=120),
        node(E.NODE_STARTED, "post", nodeName="Post", nodeType="http", attempt=1, input={}),
        node(E.NODE_FAILED, "post", attempt=1, error={"message": "timeout"}, willRetry=True),
    ], 5)
    post = node_row(backend, run, "post")
    assert (post["status"], post["error"], post["finished_at"]) == ("pending", "timeout", None)

    done = await store.append(run, [
        node(E.NODE_STARTED, "post", nodeName="Post", nodeType="http", attempt=2, input={}),
        node(E.NODE_COMPLETED, "post", attempt=2, output={"ok": True}, durationMs=40),
        NewEvent(E.RUN_COMPLETED, {"output": {"posted": 3}}),
    ], 8)

    row = run_row(backend, run)
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
    assert row["seq"] == 1
    assert row["last_position"] == done[-1].position

    fetch = node_row(backend, run, "fetch")
    assert fetch["id"] == activity_run_id(run, "fetch")
    assert (fetch["node_name"], fetch["node_type"], fetch["status"], fetch["attempt"]) == (
        "Fetch", "http", "completed", 1)
    assert orjson.loads(fetch["input"]) == {"url": "https://x"}
    assert orjson.loads(fetch["output"]) == {"rows": 3}
    assert (fetch["duration_ms"], fetch["progress"]) == (120, 100)
    post = node_row(backend, run, "post")
    assert (post["status"], post["attempt"], post["error"], post["duration_ms"]) == (
        "completed", 2, None, 40)
    assert post["finished_at"] == done[1].recorded_at
    assert counts(backend) == {("wf-1", "completed"): 1}


async def test_a_failed_run_keeps_the_error_text(store: EventStore, backend: Backend) -> None:
    await store.append("run-f", [created("wf-1", "Sync"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "a", attempt=1)])
    await store.append("run-f", [
        node(E.NODE_FAILED, "a", attempt=1, error={"message": "HTTP 500", "status": 500},
             willRetry=False),
        NewEvent(E.RUN_FAILED, {"error": {"code": "E1"}}),
    ])
    a = node_row(backend, "run-f", "a")
    assert (a["status"], a["error"]) == ("failed", "HTTP 500")
    assert a["finished_at"] is not None
    row = run_row(backend, "run-f")
    assert row["status"] == "failed"
    assert orjson.loads(row["error"]) == {"code": "E1"}  # no message: the error as JSON
    assert row["finished_at"] is not None


async def test_a_cancelled_run(store: EventStore, backend: Backend) -> None:
    await store.append("run-c", [created("wf-1", "Sync"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "a", attempt=1)])
    await store.append("run-c", [NewEvent(E.RUN_CANCEL_REQUESTED, {"reason": "too slow",
                                                                   "by": "user-2"})])
    row = run_row(backend, "run-c")
    assert (row["status"], row["cancel_reason"], row["cancelled_by"]) == (
        "running", "too slow", "user-2")
    await store.append("run-c", [node(E.NODE_CANCELLED, "a"), NewEvent(E.RUN_CANCELLED, {})])
    row = run_row(backend, "run-c")
    assert (row["status"], row["cancel_reason"], row["cancelled_by"]) == (
        "cancelled", "too slow", "user-2")
    assert row["finished_at"] is not None
    a = node_row(backend, "run-c", "a")
    assert a["status"] == "cancelled"
    assert a["finished_at"] is not None
    assert counts(backend) == {("wf-1", "cancelled"): 1}


async def test_a_run_waiting_for_a_person_and_resumed(
    store: EventStore, backend: Backend
) -> None:
    await store.append("run-w", [created("wf-1", "Approve"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_STARTED, "ask", attempt=1),
                                 node(E.NODE_WAITING, "ask", prompt="Ship it?"),
                                 NewEvent(E.RUN_WAITING)])
    assert run_row(backend, "run-w")["status"] == "waiting"
    ask = node_row(backend, "run-w", "ask")
    assert (ask["status"], ask["prompt"]) == ("waiting", "Ship it?")
    assert counts(backend) == {("wf-1", "waiting"): 1}
    await store.append("run-w", [node(E.NODE_RESUMED, "ask", by="user-3", data={"yes": True}),
                                 NewEvent(E.RUN_RESUMED)])
    assert run_row(backend, "run-w")["status"] == "running"
    assert node_row(backend, "run-w", "ask")["status"] == "running"
    assert counts(backend) == {("wf-1", "running"): 1}


async def test_skipped_nodes_and_child_runs(store: EventStore, backend: Backend) -> None:
    await store.append("run-p", [created("wf-1", "Parent"), NewEvent(E.RUN_STARTED),
                                 node(E.NODE_SKIPPED, "branch", nodeName="If", nodeType="if")])
    await store.append("run-child", [created("wf-2", "Child", parentRunId="run-p",
                                             parentNodeId="spawn")])
    branch = node_row(backend, "run-p", "branch")
    assert (branch["status"], branch["started_at"], branch["node_type"]) == (
        "skipped", None, "if")
    child = run_row(backend, "run-child")
    assert (child["parent_run_id"], child["parent_node_id"]) == ("run-p", "spawn")


async def test_events_of_a_run_never_created_are_ignored(
    store: EventStore, backend: Backend
) -> None:
    await store.append("run-ghost", [NewEvent(E.RUN_STARTED), node(E.NODE_COMPLETED, "a"),
                                     NewEvent("SomethingElse", {"nodeId": 3})])
    assert backend.query("SELECT * FROM runs") == []
    assert backend.query("SELECT * FROM node_runs") == []


async def test_counters_equal_the_rows_they_count_after_many_transitions(
    store: EventStore, backend: Backend
) -> None:
    runs = random_runs(seed=7, runs=120, workflows=6)
    await append_concurrently(store, runs)
    assert counts(backend) == counted_rows(backend)
    statuses = {r["id"]: r["status"] for r in backend.query("SELECT id, status FROM runs")}
    assert statuses == {run.run_id: run.outcome.value for run in runs}
    assert len({run.outcome for run in runs}) == 6  # the mix really has every status


# -- rebuild -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rebuild_equals_live_after_a_random_mix_of_runs(
    backend: Backend, seed: int
) -> None:
    store = await backend.open()
    try:
        await append_concurrently(store, random_runs(seed, runs=150, workflows=5))
        head = await store.head()
    finally:
        await store.close()
    live = snapshot(backend)
    assert all(live[t] for t in TABLES)

    report = await backend.rebuild(replace=False)
    assert report.matches, report.differences
    assert report.events == head
    every_table = [t for projection in all_projections() for t in projection.tables()]
    assert report.differences == {t: (0, 0) for t in every_table}
    assert report.events_per_second > 0

    await backend.rebuild(replace=True)
    assert snapshot(backend) == live


async def test_rebuild_beside_a_live_writer_loses_no_append(backend: Backend) -> None:
    store = await backend.open()
    try:
        runs = random_runs(seed=11, runs=150, workflows=5)
        writing = asyncio.ensure_future(append_concurrently(store, runs))
        await head_reaches(store, 200)
        report = await backend.rebuild(replace=True)
        assert report.matches, report.differences
        await writing
    finally:
        await store.close()
    assert (await backend.rebuild(replace=False)).matches
    assert counts(backend) == counted_rows(backend)


async def test_a_projection_added_later_catches_up_to_what_rebuild_makes(
    backend: Backend,
) -> None:
    store = await backend.open(projectors=[])  # no projections yet
    await append_concurrently(store, random_runs(seed=5, runs=60, workflows=3))
    await store.close()
    store = await backend.open()
    await store.close()
    caught_up = snapshot(backend)
    assert caught_up["runs"]
    assert (await backend.rebuild(replace=False)).matches
    assert snapshot(backend) == caught_up


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


def tamper_with_projections(backend: Backend) -> dict[str, Any]:
    """Fail one unfailed run and lose one node row behind the store's back; the victim run."""
    (victim,) = backend.query("SELECT id, status FROM runs WHERE status != 'failed' LIMIT 1")
    assert backend.execute("UPDATE runs SET status = 'failed' WHERE id = ?", victim["id"]) == 1
    assert backend.execute("DELETE FROM node_runs WHERE id = (SELECT MIN(id) FROM node_runs)") == 1
    return victim


async def test_rebuild_finds_and_repairs_a_tampered_projection(backend: Backend) -> None:
    store = await backend.open()
    await append_concurrently(store, random_runs(seed=3, runs=80, workflows=4))
    await store.close()
    victim = tamper_with_projections(backend)

    report = await backend.rebuild(replace=False)
    assert not report.matches
    assert report.differences["runs"] == (1, 1)
    assert report.differences["node_runs"] == (0, 1)
    assert run_row(backend, victim["id"])["status"] == "failed"  # a check leaves them alone

    assert not (await backend.rebuild(replace=True)).matches
    assert run_row(backend, victim["id"])["status"] == victim["status"]
    assert (await backend.rebuild(replace=False)).matches


def test_rebuild_command_repairs_a_tampered_projection(populated: Path) -> None:
    db = SQLiteBackend(populated / "runstream.db")
    victim = tamper_with_projections(db)

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
