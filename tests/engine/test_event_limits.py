"""A node input or output above max_event_bytes fails that node cleanly: the message names
the limit, the run takes its failure path, and nothing half-written is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.engine.engine import Engine
from service.engine.event_limits import MAX_ERROR_CHARS
from service.workflows import WorkflowRepository
from tests.support.engine import TEST_SETTINGS, CountingServer, Harness

LIMIT = 64 * 1024


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Harness]:
    """An engine and a store with the same small limit, as the app configures them."""
    store = await SQLiteEventStore.open(tmp_path / "limited.db", all_projections(),
                                        synchronous="NORMAL", max_event_bytes=LIMIT)
    repo = WorkflowRepository(store)
    await repo.ensure_schema()
    engine = Engine(store, repo, TEST_SETTINGS.with_service_limits(LIMIT, {}))
    await engine.start()
    yield Harness(store, repo, engine)
    await engine.stop()
    await store.close()


async def test_an_input_above_the_limit_fails_the_node_and_the_run(limited: Harness) -> None:
    # Ten copies of a 10 KB input make a 100 KB node input.
    definition = {"name": "big input", "nodes": [
        {"id": "grow", "type": "transform", "params": {"value": ["{{inputs.doc}}"] * 10}},
        {"id": "after", "type": "noop", "after": ["grow"]},
    ]}
    run_id, state = await limited.run(definition, {"doc": "x" * 10_000})
    assert state.status == RunStatus.FAILED
    assert state.nodes["grow"].status == NodeStatus.FAILED
    assert "after" not in state.nodes or state.nodes["after"].status != NodeStatus.COMPLETED
    events = await limited.node_events(run_id, "grow")
    started = next(data for type_, data in events if type_ == EventType.NODE_STARTED)
    assert started["input"] is None
    failed = next(data for type_, data in events if type_ == EventType.NODE_FAILED)
    assert "input" in failed["error"]
    assert f"max_event_bytes = {LIMIT}" in failed["error"]
    assert failed["willRetry"] is False


async def test_an_output_above_the_limit_fails_the_node_without_retry(
    limited: Harness, counting_server: CountingServer,
) -> None:
    definition = {"name": "big output", "nodes": [
        {"id": "fetch", "type": "http_request", "retry": {"maxAttempts": 3, "backoffMs": 1},
         "params": {"method": "GET", "url": f"{counting_server.base}/big?size={2 * LIMIT}"}},
    ]}
    run_id, state = await limited.run(definition)
    assert state.status == RunStatus.FAILED
    events = await limited.node_events(run_id, "fetch")
    assert [type_ for type_, _ in events] == [
        EventType.NODE_STARTED, EventType.NODE_FAILED]  # one attempt: retrying cannot help
    error = events[-1][1]["error"]
    assert "output" in error
    assert f"max_event_bytes = {LIMIT}" in error
    assert counting_server.hits["big"] == 1


async def test_outputs_that_fit_alone_but_not_together_fail_the_run(limited: Harness) -> None:
    # Three sinks of 30 KB each: every node is fine, the run's output (all three) is not.
    definition = {"name": "wide", "nodes": [
        {"id": f"s{i}", "type": "transform", "params": {"value": "{{inputs.doc}}"}}
        for i in range(3)
    ]}
    run_id, state = await limited.run(definition, {"doc": "y" * 30_000})
    assert state.status == RunStatus.FAILED
    assert all(state.nodes[f"s{i}"].status == NodeStatus.COMPLETED for i in range(3))
    assert "run's output" in str(state.error)
    assert str(LIMIT) in str(state.error)


async def test_a_long_error_is_cut_and_says_so(harness: Harness) -> None:
    definition = {"name": "long error", "nodes": [
        {"id": "boom", "type": "fail", "params": {"message": "{{inputs.text}}"}}]}
    run_id, state = await harness.run(definition, {"text": "e" * 50_000})
    error = (await harness.node_events(run_id, "boom"))[-1][1]["error"]
    assert len(error) < MAX_ERROR_CHARS + 100
    assert error.endswith(f"({50_000 - MAX_ERROR_CHARS} more characters)")


async def test_an_event_that_outgrows_the_limit_only_once_redacted_fails_the_run(
    limited: Harness,
) -> None:
    # "1" is a secret here: every 1 in the value becomes ***, tripling it past the limit
    # after the node's own check passed. The run must still end, not stall for good.
    definition = {"name": "grows", "nodes": [
        {"id": "ones", "type": "transform", "params": {"value": "{{env.FLAG}}" * 22_000}}]}
    run_id = await limited.start(definition, envs={"FLAG": "1"})
    await asyncio.wait_for(limited.engine.wait(run_id), 10)
    state = await limited.engine.run_state(run_id)
    assert state.status == RunStatus.FAILED
    assert "max_event_bytes" in str(state.error)


async def test_a_secret_cut_by_a_long_error_is_still_hidden(harness: Harness) -> None:
    secret = "sk-live-ABCDEFGHIJKLMNOP"
    definition = {"name": "long error", "nodes": [
        {"id": "boom", "type": "fail", "params": {"message": "{{inputs.text}}{{env.KEY}}"}}]}
    text = "x" * (MAX_ERROR_CHARS - 10)
    run_id = await harness.start(definition, {"text": text}, envs={"KEY": secret})
    await asyncio.wait_for(harness.engine.wait(run_id), 10)
    raw = b"".join(event.data for event in await harness.store.read(run_id))
    assert b"sk-live" not in raw
