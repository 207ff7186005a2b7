"""Retention prunes whole finished families: the chain still verifies, archives check
against the kept headers, projections equal a replay, and the log records the prune."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from pydantic import TypeAdapter

from eventstore.sqlite import verify_file
from projections import all_projections
from projections.payloads import EventsPrunedPayload
from projections.rebuild import rebuild
from projections.vocabulary import RETENTION_STREAM, EventType
from service.retention.archives import check_archives
from service.retention.pruner import Pruner
from service.settings import Settings
from tests.retention.runs import add_runs, finish, open_store, query, write
from tests.support.auth import make_settings
from tests.support.cli import run


def settings_for(data_dir: Path, **policy: object) -> Settings:
    return make_settings(data_dir, **policy)


async def prune(data_dir: Path, **policy: object) -> dict[str, object]:
    store = await open_store(data_dir)
    try:
        return (await Pruner(store, settings_for(data_dir, **policy)).prune()).as_dict()
    finally:
        await store.close()


async def test_prune_keeps_the_newest_runs_and_every_header(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    old = await add_runs(store, 6)
    new = await add_runs(store, 4)
    head = await store.head()
    await store.close()

    report = await prune(tmp_path, retention_max_runs=4)

    assert report["runs"] == 6
    assert report["events"] == 6 * 5
    kept = {row[0] for row in query(tmp_path, "SELECT id FROM runs")}
    assert kept == set(new)
    # Every header stays; the pruned ones have no data left.
    assert query(tmp_path, "SELECT COUNT(*) FROM events")[0][0] == head + 1
    marks = ", ".join("?" * len(old))
    assert query(tmp_path, f"SELECT COUNT(*) FROM events WHERE stream IN ({marks})"
                           " AND length(data) > 0", old) == [(0,)]
    assert query(tmp_path, "SELECT COUNT(*) FROM node_runs")[0][0] == 4
    assert query(tmp_path, "SELECT SUM(count) FROM run_status_counts")[0][0] == 4
    # The prune is an event of the log, naming the runs, the policy and the archive.
    ((type_, data),) = query(tmp_path, "SELECT type, data FROM events WHERE stream = ?",
                             (RETENTION_STREAM,))
    recorded = orjson.loads(data)
    assert type_ == EventType.EVENTS_PRUNED
    TypeAdapter(EventsPrunedPayload).validate_python(recorded, strict=True)
    assert sorted(recorded["runs"]) == sorted(old)
    assert recorded["policy"]["maxRuns"] == 4
    assert recorded["policy"]["source"] == "default"
    assert recorded["archive"] == report["archives"][0]  # type: ignore[index]

    result = verify_file(tmp_path / "runstream.db")
    assert result.ok
    assert result.checked == head + 1
    archive = tmp_path / "archive" / recorded["archive"]
    (checked,) = check_archives(tmp_path / "runstream.db", [archive])
    assert checked.ok
    assert checked.checked == 6 * 5
    assert rebuild(tmp_path / "runstream.db", all_projections(), replace=False).matches


async def test_a_run_whose_events_lie_far_apart_is_archived_whole(tmp_path: Path) -> None:
    """Its last event lies pages after the others (6,000 events of other runs between):
    the batch's read of the log around it stops short, and the run is read on its own."""
    store = await open_store(tmp_path)
    (slow,) = await add_runs(store, 1, status="running")
    await add_runs(store, 1200)
    await finish(store, slow)
    await store.close()
    positions = [row[0] for row in query(
        tmp_path, "SELECT position FROM events WHERE stream = ? ORDER BY position", (slow,))]

    report = await prune(tmp_path, retention_max_runs=1200)

    assert report["runs"] == 1
    assert report["events"] == len(positions) == 4
    (archive,) = report["archives"]  # type: ignore[misc]
    path = tmp_path / "archive" / archive
    (checked,) = check_archives(tmp_path / "runstream.db", [path])
    assert checked.ok
    with gzip.open(path) as lines:
        assert [orjson.loads(line)["position"] for line in lines] == positions


async def test_a_second_prune_removes_nothing_twice(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await add_runs(store, 5)
    await store.close()
    assert (await prune(tmp_path, retention_max_runs=2))["runs"] == 3
    again = await prune(tmp_path, retention_max_runs=2)
    assert again["runs"] == 0
    assert again["archives"] == []
    assert query(tmp_path, "SELECT COUNT(*) FROM events WHERE stream = ?",
                 (RETENTION_STREAM,)) == [(1,)]


async def test_waiting_runs_and_children_of_unfinished_parents_are_never_pruned(
        tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    (waiting,) = await add_runs(store, 1, status="waiting")
    (parent,) = await add_runs(store, 1, status="running")
    children = await add_runs(store, 2, parent=parent)  # finished, parent still running
    (done_parent,) = await add_runs(store, 1, status="running")
    done_children = await add_runs(store, 2, parent=done_parent)
    await finish(store, done_parent)
    await store.close()

    report = await prune(tmp_path, retention_max_runs=1)

    kept = {row[0] for row in query(tmp_path, "SELECT id FROM runs")}
    assert kept == {waiting, parent, *children}
    assert report["runs"] == 3  # the finished family, whole: parent and both children
    ((data,),) = query(tmp_path, "SELECT data FROM events WHERE stream = ?",
                       (RETENTION_STREAM,))
    assert sorted(orjson.loads(data)["runs"]) == sorted([done_parent, *done_children])
    assert rebuild(tmp_path / "runstream.db", all_projections(), replace=False).matches


async def test_an_age_limit_prunes_only_what_finished_before_it(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await add_runs(store, 3)
    await store.close()
    assert (await prune(tmp_path, retention_max_age_days=1))["runs"] == 0
    write(tmp_path, "UPDATE runs SET finished_at = '2020-01-01T00:00:00.000Z'")
    assert (await prune(tmp_path, retention_max_age_days=1))["runs"] == 3


async def test_a_workspace_policy_replaces_the_default(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await add_runs(store, 3)
    await add_runs(store, 3, workspace="other")
    pruner = Pruner(store, settings_for(tmp_path, retention_max_runs=1))
    await pruner.ensure_schema()
    from service.retention.policy import RetentionPolicy
    await pruner.policies.put("other", RetentionPolicy(max_runs=2), "someone")
    plan = await pruner.plan()
    await store.close()
    assert sorted((b.workspace_id, b.source, len(b.runs)) for b in plan) == [
        ("default", "default", 2), ("other", "workspace", 1)]


def test_verify_and_export_from_the_command_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    async def setup() -> list[str]:
        store = await open_store(tmp_path)
        ids = await add_runs(store, 3)
        await store.close()
        return ids

    ids = asyncio.run(setup())
    config = tmp_path / "retention.toml"
    config.write_text("retention_max_runs = 1\nsynchronous = \"NORMAL\"\n")
    common = ("--data-dir", str(tmp_path), "--config", str(config))
    code, planned, _ = run(capsys, "prune", "--dry-run", *common)
    assert code == 0
    assert planned["runs"] == 2
    assert query(tmp_path, "SELECT COUNT(*) FROM runs") == [(3,)]  # a dry run changes nothing
    code, report, _ = run(capsys, "prune", *common)
    assert code == 0
    assert report["runs"] == 2
    archive = tmp_path / "archive" / report["archives"][0]
    code, verified, _ = run(capsys, "verify", "--archive", str(archive), *common)
    assert code == 0
    assert verified["ok"]
    assert verified["archives"][0]["checked"] == 10
    pruned = next(run_id for run_id in ids if query(
        tmp_path, "SELECT 1 FROM pruned_runs WHERE run_id = ?", (run_id,)))
    code, out, err = run(capsys, "export", "--stream", pruned, *common)
    assert code == 3
    assert out is None
    assert archive.name in err
    code, report, _ = run(capsys, "rebuild", "--check", *common)
    assert code == 0
    assert report["matches"]


async def test_a_subscriber_never_reads_pruned_data_from_memory(tmp_path: Path) -> None:
    """The store keeps recent events in memory for live subscribers: what a prune removed
    from the log must be gone from there too (an erased run's data would be served)."""
    store = await open_store(tmp_path)
    try:
        old = await add_runs(store, 3)
        new = await add_runs(store, 2)
        head = await store.head()
        assert store.hub.covers(0)  # every event is still in memory
        await Pruner(store, settings_for(tmp_path, retention_max_runs=2)).prune()
        seen = []
        async for event in store.subscribe(None, after=0):
            seen.append(event)
            if event.position >= head:
                break
    finally:
        await store.close()
    assert {e.stream for e in seen if e.pruned} == set(old)
    assert all(not e.pruned for e in seen if e.stream in new)
