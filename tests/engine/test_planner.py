"""The planner decides what a run does next from its definition and its folded events alone.

Plain functions of plain values: no event loop, no store. Each test folds the events a
run would have recorded and asks the planner what comes next.
"""

from __future__ import annotations

from typing import Any

from projections.vocabulary import EventType, NodeStatus
from service.engine.planner import (
    CancelRun,
    CompleteRun,
    FailRun,
    Planner,
    ReattachNode,
    RetryAfter,
    SkipNode,
    StartNode,
    after_failure,
    node_inputs,
    restart_steps,
    unfinished_nodes,
)
from service.engine.registry import builtin_registry
from service.engine.state import RunState
from service.workflows.definition import WorkflowDefinition, parse_definition

BRANCHES = {"name": "branches", "nodes": [
    {"id": "check", "type": "condition", "params": {"left": 5, "op": "gt", "right": 3}},
    {"id": "yes", "type": "transform", "params": {"value": "high"},
     "after": [{"node": "check", "branch": True}]},
    {"id": "no", "type": "transform", "params": {"value": "low"},
     "after": [{"node": "check", "branch": False}]},
    {"id": "after_no", "type": "noop", "after": ["no"]},
    {"id": "join", "type": "noop", "after": ["yes", "after_no"]},
]}


def definition(raw: dict[str, Any]) -> WorkflowDefinition:
    return parse_definition(raw, builtin_registry())


def chain(*ids: str, retry: dict[str, Any] | None = None) -> WorkflowDefinition:
    nodes: list[dict[str, Any]] = [{"id": node_id, "type": "noop", "after": [ids[i - 1]] if i else []}
                                   for i, node_id in enumerate(ids)]
    if retry is not None:
        for node in nodes:
            node["retry"] = retry
    return definition({"name": "chain", "nodes": nodes})


def started_run() -> RunState:
    state = RunState("run-1")
    state.apply(EventType.RUN_CREATED, {"workflowId": "w"})
    state.apply(EventType.RUN_STARTED, {})
    return state


def record(state: RunState, type_: str, node_id: str, **fields: Any) -> None:
    state.apply(type_, {"nodeId": node_id, **fields})


def complete(state: RunState, node_id: str, output: Any = None, attempt: int = 1) -> None:
    record(state, EventType.NODE_STARTED, node_id, attempt=attempt)
    record(state, EventType.NODE_COMPLETED, node_id, attempt=attempt, output=output)


def drain(planner: Planner, state: RunState, outputs: dict[str, Any]) -> list[Any]:
    """Ask for steps until none is left, carrying each out as the run's driver would
    for nodes that complete at once (with `outputs[node]`)."""
    steps = []
    while (step := planner.next_step(state)) is not None:
        steps.append(step)
        if isinstance(step, StartNode):
            complete(state, step.node_id, outputs.get(step.node_id))
            planner.settled(step.node_id)
        else:
            record(state, EventType.NODE_SKIPPED, step.node_id, attempt=0)
    return steps


def test_only_nodes_whose_predecessors_settled_start() -> None:
    planner, state = Planner(chain("a", "b", "c")), started_run()
    assert planner.next_step(state) == StartNode("a", 1)
    record(state, EventType.NODE_STARTED, "a", attempt=1)
    assert planner.next_step(state) is None  # b waits for a

    record(state, EventType.NODE_COMPLETED, "a", attempt=1, output=1)
    planner.settled("a")
    assert planner.next_step(state) == StartNode("b", 1)
    assert planner.next_step(state) is None  # c waits for b


def test_a_join_starts_once_after_all_its_predecessors() -> None:
    planner = Planner(definition({"name": "join", "nodes": [
        {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"},
        {"id": "join", "type": "noop", "after": ["a", "b"]}]}))
    state = started_run()
    steps = drain(planner, state, {})
    assert sorted(s.node_id for s in steps[:2]) == ["a", "b"]
    assert steps[2:] == [StartNode("join", 1)]


def test_the_branch_not_taken_is_skipped_and_the_skip_spreads_to_what_only_it_leads_to() -> None:
    planner, state = Planner(definition(BRANCHES)), started_run()
    steps = drain(planner, state, {"check": {"result": True}})
    assert StartNode("yes", 1) in steps
    assert SkipNode("no") in steps
    assert SkipNode("after_no") in steps
    # The join has one taken edge (from yes): it runs.
    assert steps[-1] == StartNode("join", 1)
    assert state.nodes["no"].status == NodeStatus.SKIPPED


def test_a_false_condition_takes_the_other_branch() -> None:
    planner, state = Planner(definition(BRANCHES)), started_run()
    steps = drain(planner, state, {"check": {"result": False}})
    assert SkipNode("yes") in steps
    assert StartNode("no", 1) in steps
    assert StartNode("after_no", 1) in steps


def test_the_branch_not_taken_is_skipped_before_the_taken_branch_starts() -> None:
    """A node started may end the run at once (an inline `fail`): the skip of the branch
    not taken must be recorded first, or a failed run would leave it unsettled."""
    for taken in (True, False):
        planner, state = Planner(definition(BRANCHES)), started_run()
        assert planner.next_step(state) == StartNode("check", 1)
        complete(state, "check", {"result": taken})
        planner.settled("check")
        assert planner.next_step(state) == SkipNode("no" if taken else "yes")


def test_a_node_already_started_or_waiting_for_its_retry_is_not_started_again() -> None:
    planner, state = Planner(chain("a", "b", retry={"maxAttempts": 3})), started_run()
    record(state, EventType.NODE_STARTED, "a", attempt=1)
    record(state, EventType.NODE_FAILED, "a", attempt=1, error="x", willRetry=True)
    assert state.nodes["a"].status == NodeStatus.PENDING
    # The retry timer starts attempt 2, not the planner.
    assert planner.next_step(state) is None


def test_the_run_completes_with_its_last_nodes_outputs_once_all_settled_and_none_runs() -> None:
    planner, state = Planner(definition(BRANCHES)), started_run()
    assert planner.completion(state, running=False) is None
    drain(planner, state, {"check": {"result": True}, "yes": "high"})
    assert planner.completion(state, running=True) is None  # a node task is still out
    # `join` is the only last node; a skipped last node would be left out.
    assert planner.completion(state, running=False) == CompleteRun({"join": None})


def test_skipped_last_nodes_are_not_in_the_output() -> None:
    planner = Planner(definition({"name": "two ends", "nodes": [
        {"id": "check", "type": "condition", "params": {"left": 1, "op": "eq", "right": 1}},
        {"id": "yes", "type": "transform", "params": {"value": "y"},
         "after": [{"node": "check", "branch": True}]},
        {"id": "no", "type": "transform", "params": {"value": "n"},
         "after": [{"node": "check", "branch": False}]}]}))
    state = started_run()
    drain(planner, state, {"check": {"result": True}, "yes": "y"})
    assert planner.completion(state, running=False) == CompleteRun({"yes": "y"})


def test_a_run_that_ended_is_not_completed_again() -> None:
    planner, state = Planner(chain("a")), started_run()
    drain(planner, state, {})
    state.apply(EventType.RUN_COMPLETED, {"output": {"a": None}})
    assert planner.completion(state, running=False) is None


def test_inputs_are_the_outputs_of_completed_predecessors_only() -> None:
    flow, state = definition(BRANCHES), started_run()
    complete(state, "check", {"result": True})
    complete(state, "yes", "high")
    record(state, EventType.NODE_SKIPPED, "no", attempt=0)
    record(state, EventType.NODE_SKIPPED, "after_no", attempt=0)
    assert node_inputs(flow, state, "join") == {"yes": "high"}
    assert node_inputs(flow, state, "check") == {}


def test_a_restarted_run_continues_each_node_where_its_log_left_it() -> None:
    state = started_run()
    complete(state, "done")
    record(state, EventType.NODE_STARTED, "interrupted", attempt=1)
    record(state, EventType.NODE_STARTED, "retry_due", attempt=1)
    record(state, EventType.NODE_FAILED, "retry_due", attempt=1, error="x", willRetry=True)
    record(state, EventType.NODE_STARTED, "waiting", attempt=2)
    record(state, EventType.NODE_WAITING, "waiting", attempt=2, prompt="ok?")
    record(state, EventType.NODE_STARTED, "answered", attempt=1)
    record(state, EventType.NODE_WAITING, "answered", attempt=1, prompt="ok?")
    record(state, EventType.NODE_RESUMED, "answered", attempt=1, by="u", data=None)
    assert restart_steps(state) == [
        StartNode("interrupted", 2),  # its attempt never ended: the next one runs
        StartNode("retry_due", 2),
        ReattachNode("waiting", 2),  # keeps waiting, in the same attempt
        ReattachNode("answered", 1),  # gets its answer, in the same attempt
    ]


def test_a_restarted_run_with_a_failed_node_fails_and_a_requested_cancel_is_finished() -> None:
    state = started_run()
    record(state, EventType.NODE_STARTED, "a", attempt=1)
    record(state, EventType.NODE_FAILED, "a", attempt=1, error="boom", willRetry=False)
    assert restart_steps(state) == [FailRun("node a failed")]

    state.apply(EventType.RUN_CANCEL_REQUESTED, {"reason": "stop", "by": "u"})
    assert restart_steps(state) == [CancelRun({"reason": "stop", "by": "u"})]


def test_a_failed_attempt_is_retried_with_growing_backoff_until_the_last_attempt() -> None:
    flow = chain("a", retry={"maxAttempts": 3, "backoffMs": 100})
    assert after_failure(flow, "a", 1, retryable=True) == RetryAfter(0.1)
    assert after_failure(flow, "a", 2, retryable=True) == RetryAfter(0.2)
    assert after_failure(flow, "a", 3, retryable=True) is None
    assert after_failure(flow, "a", 1, retryable=False) is None


def test_an_ending_run_leaves_unfinished_the_nodes_in_flight_or_due_for_a_retry() -> None:
    state = started_run()
    complete(state, "done")
    record(state, EventType.NODE_STARTED, "running", attempt=1)
    record(state, EventType.NODE_STARTED, "waiting", attempt=1)
    record(state, EventType.NODE_WAITING, "waiting", attempt=1, prompt=None)
    record(state, EventType.NODE_STARTED, "retry_due", attempt=1)
    record(state, EventType.NODE_FAILED, "retry_due", attempt=1, error="x", willRetry=True)
    record(state, EventType.NODE_SKIPPED, "skipped", attempt=0)
    assert unfinished_nodes(state) == ["running", "waiting", "retry_due"]
