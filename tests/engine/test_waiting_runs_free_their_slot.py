"""`max_concurrent_runs` counts runs that have work to do: a run that only waits for an
answer gives its slot to the pending runs, and takes one again once answered; a run with
a node still working beside its waiting one keeps its slot."""

from __future__ import annotations

import asyncio

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, RunStatus
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.engine import Harness, make_engine

GATE = {"name": "gate", "nodes": [
    {"id": "gate", "type": "approval", "params": {"prompt": "go?"}},
    {"id": "after", "type": "noop", "after": ["gate"]}]}
GATE_BESIDE_WORK = {"name": "gate and work", "nodes": [
    {"id": "gate", "type": "approval", "params": {"prompt": "go?"}},
    {"id": "work", "type": "delay", "params": {"ms": 400}}]}
QUICK = {"name": "quick", "nodes": [{"id": "a", "type": "noop"}]}


async def test_runs_waiting_for_approval_leave_their_slots_to_pending_runs(
    store: SQLiteEventStore, repo: WorkflowRepository,
) -> None:
    engine = make_engine(store, repo, EngineSettings(max_concurrent_runs=2))
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        gate = await repo.create("default", GATE, "t")
        quick = await repo.create("default", QUICK, "t")
        waiting = [await engine.start_run(gate.id, "default", {}, {}, "t") for _ in range(4)]
        for run_id in waiting:
            await harness.wait_for_event(run_id, EventType.NODE_WAITING, "gate")
        # Four runs wait for people with a limit of two: other runs still run at once.
        quick_runs = [await engine.start_run(quick.id, "default", {}, {}, "t")
                      for _ in range(3)]
        statuses = await asyncio.wait_for(asyncio.gather(*map(engine.wait, quick_runs)), 10)
        assert statuses == [RunStatus.COMPLETED] * 3
        assert engine.queued_runs() == []
        # Answered, each goes on at once, the limit notwithstanding.
        for run_id in waiting:
            assert await engine.resume(run_id, "gate", "alice") == "resumed"
        statuses = await asyncio.wait_for(asyncio.gather(*map(engine.wait, waiting)), 10)
        assert statuses == [RunStatus.COMPLETED] * 4
        assert engine.scheduler.active == engine.scheduler.parked == set()
    finally:
        await engine.stop()


async def test_a_run_working_beside_its_waiting_node_keeps_its_slot(
    store: SQLiteEventStore, repo: WorkflowRepository,
) -> None:
    engine = make_engine(store, repo, EngineSettings(max_concurrent_runs=1))
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        busy = await repo.create("default", GATE_BESIDE_WORK, "t")
        quick = await repo.create("default", QUICK, "t")
        run_id = await engine.start_run(busy.id, "default", {}, {}, "t")
        await harness.wait_for_event(run_id, EventType.NODE_WAITING, "gate")
        queued = await engine.start_run(quick.id, "default", {}, {}, "t")
        assert engine.queued_runs() == [queued]  # the delay still works: no slot free
        # Once the delay is done only the approval is left: the queued run starts.
        assert await asyncio.wait_for(engine.wait(queued), 10) == RunStatus.COMPLETED
        assert (await engine.run_state(run_id)).status == RunStatus.WAITING
        assert await engine.resume(run_id, "gate", "bob") == "resumed"
        assert await engine.wait(run_id) == RunStatus.COMPLETED
    finally:
        await engine.stop()
