"""Per-node retries with exponential backoff and attempt numbers; node and run timeouts."""

from __future__ import annotations

from datetime import datetime

from projections.vocabulary import EventType, NodeStatus, RunStatus
from tests.support.engine import CountingServer, Harness


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_a_failing_node_is_retried_with_growing_backoff_and_attempt_numbers(
    harness: Harness, counting_server: CountingServer,
) -> None:
    run_id, state = await harness.run({"name": "r", "nodes": [
        {"id": "call", "type": "http_request",
         "params": {"url": f"{counting_server.base}/flaky?fail_until=3"},
         "retry": {"maxAttempts": 3, "backoffMs": 100}}]})
    assert state.status == RunStatus.COMPLETED
    assert counting_server.hits["flaky"] == 3
    records = [e for e in await harness.store.read(run_id) if e.type.startswith("Node")]
    summary = [(e.type, e.payload["attempt"], e.payload.get("willRetry")) for e in records]
    assert summary == [
        (EventType.NODE_STARTED, 1, None), (EventType.NODE_FAILED, 1, True),
        (EventType.NODE_STARTED, 2, None), (EventType.NODE_FAILED, 2, True),
        (EventType.NODE_STARTED, 3, None), (EventType.NODE_COMPLETED, 3, None)]
    gap1 = _t(records[2].recorded_at) - _t(records[1].recorded_at)
    gap2 = _t(records[4].recorded_at) - _t(records[3].recorded_at)
    # Each retry waits at least its backoff, and the second one twice as long. (Only lower
    # bounds: how much longer a loaded machine takes is no property of the engine.)
    assert gap1 >= 0.09
    assert gap2 >= 0.19
    assert "503" in records[1].payload["error"]


async def test_retries_run_out_and_the_run_fails(
    harness: Harness, counting_server: CountingServer,
) -> None:
    run_id, state = await harness.run({"name": "r", "nodes": [
        {"id": "call", "type": "http_request",
         "params": {"url": f"{counting_server.base}/down?fail_until=99"},
         "retry": {"maxAttempts": 2, "backoffMs": 10}}]})
    assert state.status == RunStatus.FAILED
    failed = [d for t, d in await harness.events(run_id) if t == EventType.NODE_FAILED]
    assert [(d["attempt"], d["willRetry"]) for d in failed] == [(1, True), (2, False)]
    assert counting_server.hits["down"] == 2


async def test_a_node_timeout_fails_each_attempt(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "t", "nodes": [
        {"id": "slow", "type": "delay", "params": {"ms": 5000}, "timeoutMs": 100,
         "retry": {"maxAttempts": 2}}]})
    assert state.status == RunStatus.FAILED
    failed = [d for t, d in await harness.events(run_id) if t == EventType.NODE_FAILED]
    assert [d["error"] for d in failed] == ["timed out after 100 ms"] * 2
    assert [d["attempt"] for d in failed] == [1, 2]


async def test_a_run_timeout_cancels_what_is_in_flight_and_fails_the_run(
    harness: Harness,
) -> None:
    run_id, state = await harness.run({"name": "t", "timeoutMs": 300, "nodes": [
        {"id": "quick", "type": "delay", "params": {"ms": 10}},
        {"id": "slow", "type": "delay", "after": ["quick"], "params": {"ms": 5000}},
        {"id": "next", "type": "noop", "after": ["slow"]}]})
    assert state.status == RunStatus.FAILED
    assert state.error == "run timed out after 300 ms"
    assert state.nodes["quick"].status == NodeStatus.COMPLETED
    assert state.nodes["slow"].status == NodeStatus.CANCELLED
    assert "next" not in state.nodes


async def test_non_retryable_failures_skip_the_retry_policy(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "t", "nodes": [
        {"id": "boom", "type": "fail", "params": {"message": "no"},
         "retry": {"maxAttempts": 5}}]})
    assert state.status == RunStatus.FAILED
    assert [t for t, _ in await harness.node_events(run_id, "boom")] == [
        EventType.NODE_STARTED, EventType.NODE_FAILED]
