"""Subworkflows: child runs linked to their parent; failure and cancel cross the link."""

from __future__ import annotations

import asyncio
from pathlib import Path

from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.workflows.importer import import_directory
from tests.support.engine import Harness, make_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


async def children_of(harness: Harness, run_id: str) -> list[str]:
    rows = await harness.store.fetch_all(
        "SELECT stream FROM events WHERE type = 'RunCreated' AND stream != ?", (run_id,))
    found = []
    for (stream,) in rows:
        created = (await harness.store.read(stream, 0, 1))[0].payload
        if created["parentRunId"] == run_id:
            found.append(stream)
    return found


async def test_a_child_run_succeeds_and_its_output_is_the_nodes(harness: Harness) -> None:
    child = await harness.repo.create("default", {"name": "double", "nodes": [
        {"id": "out", "type": "transform", "params": {"value": {"twice": ["{{inputs.x}}",
                                                                          "{{inputs.x}}"]}}}]},
        "t")
    run_id, state = await harness.run({"name": "parent", "nodes": [
        {"id": "sub", "type": "subworkflow",
         "params": {"workflowId": child.id, "inputs": {"x": "{{inputs.n}}"}}},
        {"id": "by_name", "type": "subworkflow", "params": {"workflow": "double",
                                                           "inputs": {"x": 1}}},
        {"id": "use", "type": "transform", "after": ["sub", "by_name"],
         "params": {"value": "{{nodes.sub.output.out.twice}}"}}]}, inputs={"n": 4})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"use": [4, 4]}
    children = await children_of(harness, run_id)
    assert len(children) == 2
    for child_id in children:
        created = (await harness.store.read(child_id, 0, 1))[0].payload
        assert created["parentRunId"] == run_id
        assert created["parentNodeId"] in ("sub", "by_name")
        assert await harness.engine.wait(child_id) == RunStatus.COMPLETED


async def test_a_failing_child_fails_the_node_and_the_parent(harness: Harness) -> None:
    await harness.repo.create("default", {"name": "broken", "nodes": [
        {"id": "boom", "type": "fail", "params": {"message": "kaput"}}]}, "t")
    run_id, state = await harness.run({"name": "parent", "nodes": [
        {"id": "sub", "type": "subworkflow", "params": {"workflow": "broken"}}]})
    assert state.status == RunStatus.FAILED
    assert state.nodes["sub"].status == NodeStatus.FAILED
    assert "kaput" in state.nodes["sub"].error


async def test_cancelling_the_parent_cancels_the_child(harness: Harness) -> None:
    await harness.repo.create("default", {"name": "slow child", "nodes": [
        {"id": "wait", "type": "delay", "params": {"ms": 10_000}}]}, "t")
    run_id = await harness.start({"name": "parent", "nodes": [
        {"id": "sub", "type": "subworkflow", "params": {"workflow": "slow child"}}]})
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "sub")
    child = await harness.child_of(run_id)
    await harness.wait_for_event(child, EventType.NODE_STARTED, "wait")
    assert await harness.engine.cancel(run_id, "stop all", "frank") == "cancelled"
    assert await harness.engine.wait(child) == RunStatus.CANCELLED
    child_state = await harness.engine.run_state(child)
    assert child_state.cancel_request == {"reason": "stop all", "by": "frank"}
    assert child_state.nodes["wait"].status == NodeStatus.CANCELLED


async def test_an_unknown_child_workflow_fails_the_node(harness: Harness) -> None:
    _, state = await harness.run({"name": "parent", "nodes": [
        {"id": "sub", "type": "subworkflow", "params": {"workflow": "does not exist"}}]})
    assert state.status == RunStatus.FAILED
    assert "no workflow named" in state.error


async def test_the_example_parent_runs_its_children_by_name(harness: Harness) -> None:
    imported = {w.name: w for w in await import_directory(harness.repo, EXAMPLES, "default", "t")}
    parent = imported["Triage then greet"]
    run_id = await harness.engine.start_run(parent.id, "default", {"score": 9}, {}, "t")
    assert await harness.engine.wait(run_id) == RunStatus.COMPLETED
    state = await harness.engine.run_state(run_id)
    assert state.output == {"summary": {
        "triage": {"decision": {"paged": {"action": "page", "priority": "normal"},
                                "queued": None}},
        "greeting": "Hello, on-call!"}}


async def test_after_a_restart_the_node_adopts_the_child_it_had_started(
        harness: Harness) -> None:
    await harness.repo.create("default", {"name": "gated child", "nodes": [
        {"id": "ask", "type": "approval", "params": {"prompt": "go?"}}]}, "t")
    run_id = await harness.start({"name": "parent", "nodes": [
        {"id": "sub", "type": "subworkflow", "params": {"workflow": "gated child"}}]})
    child = await harness.child_of(run_id)
    await harness.wait_for_event(child, EventType.NODE_WAITING, "ask")
    await harness.engine.stop()  # as a crash: nothing recorded, the runs continue on start
    engine = make_engine(harness.store, harness.repo)
    try:
        await engine.start()
        await harness.wait_for_event(run_id, EventType.NODE_STARTED, "sub")
        assert await engine.resume(child, "ask", "ops", {"ok": True}) == "resumed"
        assert await asyncio.wait_for(engine.wait(run_id), 10) == RunStatus.COMPLETED
    finally:
        await engine.stop()
    attempts = [d["attempt"] for t, d in await harness.node_events(run_id, "sub")
                if t == EventType.NODE_STARTED]
    assert attempts == [1, 2]
    assert await children_of(harness, run_id) == [child]  # adopted, not started again
