"""DAG execution: node types, branches, skip propagation, joins, run output, concurrency."""

from __future__ import annotations

from typing import Any

from projections.vocabulary import EventType, NodeStatus, RunStatus
from tests.support.engine import Harness


def n(id_: str, type_: str = "noop", after: list[Any] | None = None, **extra: Any) -> dict:
    return {"id": id_, "type": type_, "after": after or [], **extra}


async def test_transform_and_templates_flow_between_nodes(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "t", "trigger": {"staticData": {"a": 1, "b": 2}},
                                       "nodes": [
        n("first", "transform", params={"value": {"sum": ["{{trigger.data.a}}", "{{inputs.b}}"]}}),
        n("second", "transform", ["first"],
          params={"value": "got {{nodes.first.output.sum}} and {{inputs.extra}}"}),
    ]}, inputs={"b": 5, "extra": "x"})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"second": "got [1,5] and x"}
    events = await harness.events(run_id)
    assert [t for t, _ in events][:2] == [EventType.RUN_CREATED, EventType.RUN_STARTED]
    created = events[0][1]
    assert created["trigger"] == {"data": {"a": 1, "b": 5, "extra": "x"}}
    assert created["inputs"] == {"b": 5, "extra": "x"}
    started = [d for t, d in events if t == EventType.NODE_STARTED]
    assert started[0]["input"] == {"value": {"sum": [1, 5]}}
    assert all({"nodeName", "nodeType", "attempt"} <= d.keys() for t, d in events
               if t.startswith("Node"))


async def test_condition_branches_skip_the_branch_not_taken_and_what_only_it_leads_to(
    harness: Harness,
) -> None:
    definition = {"name": "b", "nodes": [
        n("check", "condition", params={"left": "{{inputs.score}}", "op": "gte", "right": 8}),
        n("hi", "transform", [{"node": "check", "branch": True}], params={"value": "hi"}),
        n("hi2", "noop", ["hi"]),
        n("lo", "transform", [{"node": "check", "branch": False}], params={"value": "lo"}),
        n("join", "noop", ["hi2", "lo"]),
    ]}
    run_id, state = await harness.run(definition, inputs={"score": 9})
    statuses = {k: v.status for k, v in state.nodes.items()}
    assert statuses == {"check": NodeStatus.COMPLETED, "hi": NodeStatus.COMPLETED,
                        "hi2": NodeStatus.COMPLETED, "lo": NodeStatus.SKIPPED,
                        "join": NodeStatus.COMPLETED}
    _, state = await harness.run(definition, inputs={"score": 1})
    assert state.nodes["hi"].status == state.nodes["hi2"].status == NodeStatus.SKIPPED
    assert state.nodes["join"].status == NodeStatus.COMPLETED
    assert state.status == RunStatus.COMPLETED


async def test_a_join_whose_every_incoming_edge_is_untaken_is_skipped(harness: Harness) -> None:
    _, state = await harness.run({"name": "j", "nodes": [
        n("c", "condition", params={"left": 1, "op": "eq", "right": 2}),
        n("a", "noop", [{"node": "c", "branch": True}]),
        n("b", "noop", [{"node": "c", "branch": True}]),
        n("join", "noop", ["a", "b"]),
        n("after_join", "noop", ["join"]),
        n("else", "transform", [{"node": "c", "branch": False}], params={"value": 1}),
    ]})
    assert state.nodes["join"].status == NodeStatus.SKIPPED
    assert state.nodes["after_join"].status == NodeStatus.SKIPPED
    # Run output: sinks by id, skipped sinks left out.
    assert state.output == {"else": 1}


async def test_condition_operators(harness: Harness) -> None:
    cases = [("eq", "a", "a", True), ("ne", 1, 2, True), ("gt", 2, 1, True),
             ("gte", 2, 2, True), ("lt", 2, 1, False), ("lte", "a", "b", True),
             ("contains", "hello", "ell", True), ("contains", [1, 2], 3, False),
             ("exists", "{{inputs.missing}}", None, False), ("exists", 0, None, True)]
    nodes = [n(f"c{i}", "condition", params={"left": left, "op": op, "right": right})
             for i, (op, left, right, _) in enumerate(cases)]
    _, state = await harness.run({"name": "ops", "nodes": nodes})
    assert [state.output[f"c{i}"]["result"] for i in range(len(cases))] == \
        [expected for *_, expected in cases]


async def test_a_condition_on_incomparable_values_fails_the_run(harness: Harness) -> None:
    _, state = await harness.run({"name": "x", "nodes": [
        n("c", "condition", params={"left": "a", "op": "gt", "right": 1})]})
    assert state.status == RunStatus.FAILED
    assert "cannot compare" in state.error


async def test_fail_node_fails_the_run_and_cancels_in_flight_siblings(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "f", "nodes": [
        n("slow", "delay", params={"ms": 5000}),
        n("pre", "delay", params={"ms": 50}),
        n("boom", "fail", ["pre"], params={"message": "ticket not found"}),
        n("never", "noop", ["boom"]),
    ]})
    assert state.status == RunStatus.FAILED
    assert state.error == "node boom failed: ticket not found"
    assert state.nodes["slow"].status == NodeStatus.CANCELLED
    assert "never" not in state.nodes
    types = [t for t, _ in await harness.events(run_id)]
    assert types[-1] == EventType.RUN_FAILED


async def test_independent_nodes_run_concurrently(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "par", "nodes": [
        n(f"d{i}", "delay", params={"ms": 300}) for i in range(10)] + [
        n("join", "noop", [f"d{i}" for i in range(10)])]})
    assert state.status == RunStatus.COMPLETED
    # Every delay started before the first one finished: they ran side by side (shown by
    # the log's order, not by a stopwatch a loaded machine could fool).
    types = [(t, d.get("nodeId")) for t, d in await harness.events(run_id)]
    first_done = next(i for i, (t, node) in enumerate(types)
                      if t == EventType.NODE_COMPLETED and node.startswith("d"))
    started = {node for t, node in types[:first_done] if t == EventType.NODE_STARTED}
    assert started == {f"d{i}" for i in range(10)}


async def test_delay_reports_progress_on_long_waits(harness: Harness) -> None:
    run_id, state = await harness.run({"name": "d", "nodes": [
        n("wait", "delay", params={"ms": 1200})]})
    progress = [d for t, d in await harness.events(run_id) if t == EventType.NODE_PROGRESS]
    assert progress
    assert all(0 <= d["progress"] < 100 and d["attempt"] == 1 for d in progress)
    assert state.output == {"wait": {"delayedMs": 1200}}


async def test_run_status_moves_through_pending_running_completed(harness: Harness) -> None:
    run_id, _ = await harness.run({"name": "s", "nodes": [n("a")]})
    types = [t for t, _ in await harness.events(run_id)]
    assert types == [EventType.RUN_CREATED, EventType.RUN_STARTED, EventType.NODE_STARTED,
                     EventType.NODE_COMPLETED, EventType.RUN_COMPLETED]


async def test_a_branch_not_taken_is_recorded_skipped_even_when_the_taken_one_fails_the_run(
    harness: Harness,
) -> None:
    run_id, state = await harness.run({"name": "fails", "nodes": [
        n("check", "condition", params={"left": 1, "op": "gt", "right": 2}),
        {"id": "route", "type": "noop", "after": [{"node": "check", "branch": True}]},
        {"id": "bad", "type": "fail", "params": {"message": "not found"},
         "after": [{"node": "check", "branch": False}]},
    ]})
    assert state.status == RunStatus.FAILED
    assert state.nodes["route"].status == NodeStatus.SKIPPED
    skipped = [d["nodeId"] for t, d in await harness.events(run_id) if t == EventType.NODE_SKIPPED]
    assert skipped == ["route"]
