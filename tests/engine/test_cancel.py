"""Cancel stops in-flight nodes and starts no new ones; max_concurrent_runs queues FIFO."""

from __future__ import annotations

import asyncio
import time

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.engine import CountingServer, Harness, make_engine

SLOW = {"name": "slow", "nodes": [
    {"id": "wait", "type": "delay", "params": {"ms": 10_000}},
    {"id": "after", "type": "noop", "after": ["wait"]}]}


async def test_cancel_during_a_delay_stops_it_and_records_who_and_why(harness: Harness) -> None:
    run_id = await harness.start(SLOW)
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "wait")
    started = time.monotonic()
    assert await harness.engine.cancel(run_id, "changed my mind", "alice") == "cancelled"
    assert time.monotonic() - started < 1
    assert await harness.engine.wait(run_id) == RunStatus.CANCELLED
    events = await harness.events(run_id)
    types = [t for t, _ in events]
    assert types[-3:] == [EventType.RUN_CANCEL_REQUESTED, EventType.NODE_CANCELLED,
                          EventType.RUN_CANCELLED]
    assert events[-1][1] == {"reason": "changed my mind", "by": "alice"}
    assert events[-2][1]["nodeId"] == "wait"
    assert events[-2][1]["attempt"] == 1
    assert not any(d.get("nodeId") == "after" for _, d in events)


async def test_cancel_during_an_http_request_aborts_it(
    harness: Harness, counting_server: CountingServer,
) -> None:
    run_id = await harness.start({"name": "h", "nodes": [
        {"id": "call", "type": "http_request",
         "params": {"url": f"{counting_server.base}/slow?sleep=10"}}]})
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "call")
    await counting_server.until(lambda hits: "slow" in hits)
    assert await harness.engine.cancel(run_id, "too slow", "bob") == "cancelled"
    state = await harness.engine.run_state(run_id)
    assert state.status == RunStatus.CANCELLED
    assert state.nodes["call"].status == NodeStatus.CANCELLED


async def test_cancelling_a_finished_or_unknown_run_changes_nothing(harness: Harness) -> None:
    run_id, _ = await harness.run({"name": "q", "nodes": [{"id": "a", "type": "noop"}]})
    before = await harness.events(run_id)
    assert await harness.engine.cancel(run_id, "late", "x") == "already_completed"
    assert await harness.events(run_id) == before
    assert await harness.engine.cancel("00000000-0000-4000-8000-000000000000", "r", "x") == \
        "not_found"


async def test_runs_beyond_max_concurrent_wait_pending_in_fifo_order(
    store: SQLiteEventStore, repo: WorkflowRepository,
) -> None:
    engine = make_engine(store, repo, EngineSettings(max_concurrent_runs=2))
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        workflow = await repo.create("default", {"name": "d", "nodes": [
            {"id": "d", "type": "delay", "params": {"ms": 150}}]}, "t")
        runs = [await engine.start_run(workflow.id, "default", {}, {}, "t") for _ in range(5)]
        assert engine.queued_runs() == runs[2:]
        assert (await engine.run_state(runs[4])).status == RunStatus.PENDING
        assert await engine.cancel(runs[3], "not needed", "t") == "cancelled"
        assert engine.queued_runs() == [runs[2], runs[4]]
        statuses = await asyncio.gather(*(engine.wait(r) for r in runs))
        assert statuses == [RunStatus.COMPLETED] * 3 + [RunStatus.CANCELLED, RunStatus.COMPLETED]
        starts = {}
        for run_id in runs:
            for event in await store.read(run_id):
                if event.type == EventType.RUN_STARTED:
                    starts[run_id] = event.position
        assert runs[3] not in starts
        order = sorted(starts, key=starts.__getitem__)
        assert order == [runs[0], runs[1], runs[2], runs[4]] or \
            order == [runs[1], runs[0], runs[2], runs[4]]
        assert [t for t, _ in await harness.events(runs[3])] == [
            EventType.RUN_CREATED, EventType.RUN_CANCEL_REQUESTED, EventType.RUN_CANCELLED]
    finally:
        await engine.stop()


async def test_stop_writes_nothing_so_runs_resume_later(
    store: SQLiteEventStore, repo: WorkflowRepository,
) -> None:
    engine = make_engine(store, repo)
    await engine.start()
    workflow = await repo.create("default", {"name": "d", "nodes": [
        {"id": "d", "type": "delay", "params": {"ms": 300}}]}, "t")
    run_id = await engine.start_run(workflow.id, "default", {}, {}, "t")
    await Harness(store, repo, engine).wait_for_event(run_id, EventType.NODE_STARTED)
    await engine.stop()
    assert (await engine.run_state(run_id)).status == RunStatus.RUNNING
    again = make_engine(store, repo)
    await again.start()
    try:
        assert await asyncio.wait_for(again.wait(run_id), 5) == RunStatus.COMPLETED
        attempts = [e.payload["attempt"] for e in await store.read(run_id)
                    if e.type == EventType.NODE_STARTED]
        assert attempts == [1, 2]
    finally:
        await again.stop()


async def test_cancelling_twice_or_a_failed_run_reports_the_seed_outcomes(
    harness: Harness,
) -> None:
    run_id = await harness.start(SLOW)
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "wait")
    assert await harness.engine.cancel(run_id, "r", "x") == "cancelled"
    assert await harness.engine.cancel(run_id, "r", "x") == "not_eligible"
    failed, _ = await harness.run({"name": "f", "nodes": [{"id": "f", "type": "fail"}]})
    assert await harness.engine.cancel(failed, "r", "x") == "already_completed"
