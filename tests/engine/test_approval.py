"""Approval nodes: the run waits until resumed with data, or fails when rejected."""

from __future__ import annotations

from projections.vocabulary import EventType, NodeStatus, RunStatus
from tests.support.engine import Harness

APPROVAL = {"name": "a", "trigger": {"staticData": {"v": "1.2"}}, "nodes": [
    {"id": "prep", "type": "noop"},
    {"id": "ask", "type": "approval", "after": ["prep"],
     "params": {"prompt": "Ship {{trigger.data.v}}?"}},
    {"id": "ship", "type": "transform", "after": ["ask"],
     "params": {"value": {"by": "{{nodes.ask.output.by}}", "note": "{{nodes.ask.output.data.note}}"}}},
]}


async def test_the_run_waits_then_resumes_with_the_answer(harness: Harness) -> None:
    engine = harness.engine
    run_id = await harness.start(APPROVAL)
    waiting = await harness.wait_for_event(run_id, EventType.NODE_WAITING, "ask")
    assert waiting["prompt"] == "Ship 1.2?"
    assert waiting["attempt"] == 1
    state = await engine.run_state(run_id)
    assert state.status == RunStatus.WAITING
    assert state.nodes["ask"].status == NodeStatus.WAITING
    assert await engine.resume(run_id, "prep", "carol", {}) == "not_waiting"
    assert await engine.resume(run_id, "ask", "carol", {"note": "go"}, approved=True) == "resumed"
    assert await engine.wait(run_id) == RunStatus.COMPLETED
    state = await engine.run_state(run_id)
    assert state.output == {"ship": {"by": "carol", "note": "go"}}
    types = [t for t, _ in await harness.events(run_id)]
    assert types.index(EventType.RUN_WAITING) < types.index(EventType.NODE_RESUMED) < \
        types.index(EventType.RUN_RESUMED)
    assert await engine.resume(run_id, "ask", "carol", {}) == "not_waiting"


async def test_a_rejection_fails_the_run(harness: Harness) -> None:
    run_id = await harness.start(APPROVAL)
    await harness.wait_for_event(run_id, EventType.NODE_WAITING, "ask")
    assert await harness.engine.resume(run_id, "ask", "dave", {"why": "no"}, approved=False) == \
        "resumed"
    assert await harness.engine.wait(run_id) == RunStatus.FAILED
    state = await harness.engine.run_state(run_id)
    assert state.error == "node ask failed: rejected by dave"
    assert "ship" not in state.nodes


async def test_an_unanswered_approval_times_out(harness: Harness) -> None:
    _, state = await harness.run({"name": "t", "nodes": [
        {"id": "ask", "type": "approval", "params": {"prompt": "?", "timeoutMs": 100}}]})
    assert state.status == RunStatus.FAILED
    assert "no answer within 100 ms" in state.error


async def test_cancel_while_waiting(harness: Harness) -> None:
    run_id = await harness.start(APPROVAL)
    await harness.wait_for_event(run_id, EventType.NODE_WAITING, "ask")
    assert await harness.engine.cancel(run_id, "abandoned", "erin") == "cancelled"
    state = await harness.engine.run_state(run_id)
    assert state.status == RunStatus.CANCELLED
    assert state.nodes["ask"].status == NodeStatus.CANCELLED


async def test_resume_of_an_unknown_run(harness: Harness) -> None:
    assert await harness.engine.resume("nope", "ask", "x", {}) == "not_found"
