"""A node input or output above max_event_bytes fails that node cleanly: the message names
the limit, the run takes its failure path, and nothing half-written is left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from engine_fixtures import *  # noqa: F403
from engine_fixtures import TEST_SETTINGS, CountingServer, Harness

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.engine import Engine
from service.engine.runner import MAX_ERROR_CHARS
from service.workflows import WorkflowRepository

LIMIT = 64 * 1024


@pytest.fixture
async def limited(store: SQLiteEventStore, repo: WorkflowRepository) -> AsyncIterator[Harness]:
    settings = TEST_SETTINGS.__class__(**{**TEST_SETTINGS.__dict__, "max_event_bytes": LIMIT})
    engine = Engine(store, repo, settings)
    await engine.start()
    yield Harness(store, repo, engine)
    await engine.stop()


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
    assert "input" in failed["error"] and f"max_event_bytes = {LIMIT}" in failed["error"]
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
    assert "output" in error and f"max_event_bytes = {LIMIT}" in error
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
    assert "run's output" in str(state.error) and str(LIMIT) in str(state.error)


async def test_a_long_error_is_cut_and_says_so(harness: Harness) -> None:
    definition = {"name": "long error", "nodes": [
        {"id": "boom", "type": "fail", "params": {"message": "{{inputs.text}}"}}]}
    run_id, state = await harness.run(definition, {"text": "e" * 50_000})
    error = (await harness.node_events(run_id, "boom"))[-1][1]["error"]
    assert len(error) < MAX_ERROR_CHARS + 100
    assert error.endswith(f"({50_000 - MAX_ERROR_CHARS} more characters)")
