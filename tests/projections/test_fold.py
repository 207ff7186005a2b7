"""The run projection's fold: one write per row per batch, the same tables however the log is cut."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.records import NewEvent, RecordedEvent
from eventstore.rows import RowChanges
from eventstore.sqlite_rows import create_schema, project
from projections.runs import RunsProjection
from projections.runs_schema import TABLES
from projections.vocabulary import EventType as E
from tests.projections.run_histories import created, node, random_runs


def record(history: list[tuple[str, NewEvent]]) -> list[RecordedEvent]:
    """Events as the log would hold them (the chain is not what a fold reads)."""
    versions: dict[str, int] = {}
    recorded = []
    for position, (stream, event) in enumerate(history, start=1):
        versions[stream] = versions.get(stream, 0) + 1
        recorded.append(RecordedEvent(
            position, stream, versions[stream], event.type, orjson.dumps(event.data),
            f"2026-01-01T00:00:{position // 1000:02d}.{position % 1000:03d}Z", "", ""))
    return recorded


def interleaved(seed: int) -> list[RecordedEvent]:
    """Many runs' appends interleaved at random, as concurrent runs write them."""
    rng = random.Random(seed)
    pending = [[(run.run_id, event) for event in batch]
               for run in random_runs(seed, runs=60, workflows=4) for batch in run.appends]
    # Keep each run's appends in order while mixing runs.
    by_run: dict[str, list[list[tuple[str, NewEvent]]]] = {}
    for batch in pending:
        by_run.setdefault(batch[0][0], []).append(batch)
    history: list[tuple[str, NewEvent]] = []
    queues = list(by_run.values())
    while queues:
        queue = rng.choice(queues)
        history += queue.pop(0)
        if not queue:
            queues.remove(queue)
    return record(history)


def fold_in_batches(path: Path, events: list[RecordedEvent], size: int) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        projection = RunsProjection()
        create_schema(conn, projection)
        conn.execute("BEGIN")
        for i in range(0, len(events), size):
            project(conn, [projection], events[i:i + size])
        conn.execute("COMMIT")
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in TABLES}
    finally:
        conn.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_tables_are_the_same_however_the_log_is_cut_into_batches(
    tmp_path: Path, seed: int
) -> None:
    events = interleaved(seed)
    one_by_one = fold_in_batches(tmp_path / "one.db", events, 1)
    assert all(one_by_one[t] for t in TABLES)
    for size in (2, 7, 64, len(events)):
        assert fold_in_batches(tmp_path / f"batch-{size}.db", events, size) == one_by_one, size


def test_a_node_started_progressed_and_completed_in_one_batch_is_written_once() -> None:
    events = record([
        ("run-1", created("wf-1", "Sync")), ("run-1", NewEvent(E.RUN_STARTED)),
        ("run-1", node(E.NODE_STARTED, "a", attempt=1, input={"x": 1})),
        ("run-1", node(E.NODE_PROGRESS, "a", progress=50, message="half")),
        ("run-1", node(E.NODE_COMPLETED, "a", attempt=1, output={"ok": True}, durationMs=5)),
        ("run-1", NewEvent(E.RUN_COMPLETED, {"output": {}})),
    ])
    changes = RowChanges()
    RunsProjection().fold(events, {}, changes)
    by_table: dict[str, int] = {}
    for statement, params in changes:
        by_table[statement.table] = by_table.get(statement.table, 0) + len(params)
    # One run row (inserted as it ends), one node row, and the counters it passed through.
    assert by_table == {"runs": 1, "node_runs": 1, "run_status_counts": 3}
    ((statement, (row,)),) = [(s, p) for s, p in changes if s.table == "node_runs"]
    values = dict(zip(statement.columns, row, strict=False))
    assert (values["status"], values["progress"], values["message"]) == ("completed", 100, "half")
    assert orjson.loads(values["output"]) == {"ok": True}


def awkward_history() -> list[RecordedEvent]:
    """Every case where a row's final value depends on what came before it in the log."""
    return record([
        ("run-2", NewEvent(E.RUN_STARTED)),  # before its run is created: ignored
        ("run-1", created("wf-1", "Sync")),
        ("run-1", NewEvent(E.RUN_STARTED)),
        ("run-1", node(E.NODE_PROGRESS, "b", progress=5)),  # before b started: no row yet
        ("run-1", node(E.NODE_STARTED, "a", attempt=1, input={"x": 1})),
        ("run-1", node(E.NODE_WAITING, "a", prompt="ok?")),
        ("run-1", node(E.NODE_FAILED, "a", attempt=1, error="flaky", durationMs=5,
                       willRetry=True)),
        # A restart keeps the prompt and the duration, clears the error.
        ("run-1", node(E.NODE_STARTED, "a", attempt=2, input={"x": 2})),
        ("run-1", node(E.NODE_STARTED, "b", attempt=1)),
        ("run-1", node(E.NODE_PROGRESS, "a", progress=30, message="again")),
        ("run-2", created("wf-1", "Sync", workspace="ws-2")),
        ("run-1", created("wf-9", "Again")),  # a second RunCreated changes nothing
        ("run-1", NewEvent(E.RUN_WAITING)),
        ("run-1", NewEvent(E.RUN_RESUMED)),
        ("run-1", NewEvent(E.RUN_STARTED)),  # started_at stays the first start's
        ("run-1", NewEvent(E.RUN_CANCEL_REQUESTED, {"reason": "late", "by": "user-2"})),
        ("run-1", node(E.NODE_CANCELLED, "a")),
        ("run-1", NewEvent(E.RUN_CANCELLED, {"reason": None})),  # keeps the request's reason
        ("run-2", NewEvent(E.RUN_STARTED)),
        ("run-2", node(E.NODE_SKIPPED, "c", nodeName="If", nodeType="if")),
        ("run-2", node(E.NODE_STARTED, "c", attempt=1)),
        ("run-2", NewEvent(E.RUN_FAILED, {"error": {"code": "E1"}})),
    ])


def test_every_cut_of_an_awkward_history_folds_to_the_same_tables(tmp_path: Path) -> None:
    events = awkward_history()
    one_by_one = fold_in_batches(tmp_path / "one.db", events, 1)
    assert one_by_one == fold_in_batches(tmp_path / "whole.db", events, len(events))
    for cut in range(1, len(events)):
        conn = sqlite3.connect(tmp_path / f"cut-{cut}.db", isolation_level=None)
        try:
            projection = RunsProjection()
            create_schema(conn, projection)
            project(conn, [projection], events[:cut])
            project(conn, [projection], events[cut:])
            tables = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                      for t in TABLES}
        finally:
            conn.close()
        assert tables == one_by_one, cut


def test_an_awkward_history_leaves_what_each_event_means(tmp_path: Path) -> None:
    events = awkward_history()
    fold_in_batches(tmp_path / "whole.db", events, len(events))
    conn = sqlite3.connect(tmp_path / "whole.db")
    conn.row_factory = sqlite3.Row
    try:
        runs = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM runs")}
        nodes = {(r["run_id"], r["node_id"]): dict(r) for r in conn.execute(
            "SELECT * FROM node_runs")}
        counts = {(r["workspace_id"], r["status"]): r["count"] for r in conn.execute(
            "SELECT * FROM run_status_counts")}
    finally:
        conn.close()
    first_start = events[2].recorded_at
    one, two = runs["run-1"], runs["run-2"]
    assert (one["workflow_id"], one["status"], one["started_at"]) == ("wf-1", "cancelled",
                                                                      first_start)
    assert (one["cancel_reason"], one["cancelled_by"]) == ("late", "user-2")
    assert (two["workspace_id"], two["status"], two["seq"]) == ("ws-2", "failed", 11)
    a = nodes[("run-1", "a")]
    assert (a["status"], a["attempt"], a["prompt"], a["duration_ms"], a["error"]) == (
        "cancelled", 2, "ok?", 5, None)
    assert (a["progress"], a["message"], orjson.loads(a["input"])) == (30, "again", {"x": 2})
    b = nodes[("run-1", "b")]
    assert (b["status"], b["progress"]) == ("running", None)
    c = nodes[("run-2", "c")]
    assert (c["status"], c["node_type"], c["started_at"]) == ("running", "if", events[20].recorded_at)
    # Every counter a run passed through has a row, at zero once the run moved on.
    assert counts == {("ws-1", "pending"): 0, ("ws-1", "running"): 0, ("ws-1", "waiting"): 0,
                      ("ws-1", "cancelled"): 1, ("ws-2", "pending"): 0,
                      ("ws-2", "running"): 0, ("ws-2", "failed"): 1}
