"""What a run does next, decided from its definition and the state of its node runs.

Pure: no asyncio, no store, no clock. The run's driver asks after every change of
state, carries each decision out (records its events, starts node tasks) and asks
again; the decisions of one round are committed together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.vocabulary import NodeStatus
from service.engine.state import SETTLED, RunState
from service.workflows.definition import WorkflowDefinition

IN_FLIGHT = frozenset({NodeStatus.RUNNING, NodeStatus.WAITING})


@dataclass(frozen=True, slots=True)
class StartNode:
    """Start this attempt of the node (record NodeStarted, then run it)."""

    node_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ReattachNode:
    """After a restart: run the node's recorded attempt again without a new NodeStarted
    (it was waiting, or its answer came): it picks up its wait where it was."""

    node_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class SkipNode:
    """No incoming edge of the node was taken: record it skipped."""

    node_id: str


@dataclass(frozen=True, slots=True)
class CompleteRun:
    """Every node settled: the run completes with its last nodes' outputs."""

    output: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FailRun:
    error: str


@dataclass(frozen=True, slots=True)
class CancelRun:
    """A cancel was requested (and recorded) before the run could stop: finish it."""

    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """The failed attempt is retried after `delay_s` seconds."""

    delay_s: float


NodeStep = StartNode | SkipNode
RestartStep = StartNode | ReattachNode | FailRun | CancelRun


def branch_taken(output: Any) -> bool:
    """Which branch a condition's output selects."""
    return bool(output.get("result")) if isinstance(output, dict) else bool(output)


def readiness(definition: WorkflowDefinition, state: RunState, node_id: str) -> bool | None:
    """None: a predecessor is not settled; True: some incoming edge is taken; False: skip."""
    edges = definition.nodes[node_id].after
    taken = not edges
    for edge in edges:
        pred = state.nodes.get(edge.node)
        if pred is None or pred.status not in SETTLED:
            return None
        if pred.status == NodeStatus.COMPLETED and (
            edge.branch is None or branch_taken(pred.output) == edge.branch
        ):
            taken = True
    return taken


def node_inputs(definition: WorkflowDefinition, state: RunState,
                node_id: str) -> dict[str, Any]:
    """What a node gets as `inputs`: each completed predecessor's output, by its id."""
    nodes = state.nodes
    return {edge.node: nodes[edge.node].output for edge in definition.nodes[node_id].after
            if nodes[edge.node].status == NodeStatus.COMPLETED}


def restart_steps(state: RunState) -> list[RestartStep]:
    """What a run driven from its log does first: finish a cancel that was requested, fail
    on a failed node, and continue each node that was in flight or due for a retry."""
    if state.cancel_request is not None:
        return [CancelRun(state.cancel_request)]
    steps: list[RestartStep] = []
    for node_id, node in state.nodes.items():
        if node.status == NodeStatus.FAILED:
            steps.append(FailRun(f"node {node_id} failed"))
            break
        if node.status == NodeStatus.WAITING or (
            node.status == NodeStatus.RUNNING and node.resumed is not None
        ):
            steps.append(ReattachNode(node_id, node.attempt))
        elif node.status == NodeStatus.RUNNING or (
            node.status == NodeStatus.PENDING and node.attempt > 0
        ):
            steps.append(StartNode(node_id, node.attempt + 1))  # interrupted, or retry due
    return steps


def after_failure(definition: WorkflowDefinition, node_id: str, attempt: int,
                  retryable: bool) -> RetryAfter | None:
    """Whether a failed attempt is retried (and when); None: the run fails."""
    policy = definition.nodes[node_id].retry
    if retryable and attempt < policy.max_attempts:
        return RetryAfter(policy.delay_ms(attempt) / 1000)
    return None


def unfinished_nodes(state: RunState) -> list[str]:
    """Nodes a run that ends now leaves unfinished (in flight, or waiting for a retry)."""
    return [node_id for node_id, node in state.nodes.items()
            if node.status in IN_FLIGHT or (node.status == NodeStatus.PENDING and node.attempt)]


class Planner:
    """Which node to start or skip next, and when the run is complete.

    Keeps the nodes whose readiness may have changed: at first every node, then the
    successors of each node that settles, so a round looks only at what it may change.
    """

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self._candidates: list[str] = list(definition.nodes)

    def settled(self, node_id: str) -> None:
        """`node_id` completed or was skipped: its successors may be ready now."""
        self._candidates.extend(self.definition.successors[node_id])

    def next_step(self, state: RunState) -> NodeStep | None:
        """The next node to start or skip; None when no node can move.

        The caller records each step (a skip settles the node) before asking again.
        Skips come before starts: a node started now may end the run at once (an inline
        `fail`), and a branch not taken must still be recorded as skipped.
        """
        starts: list[str] = []
        while self._candidates:
            node_id = self._candidates.pop()
            node = state.nodes.get(node_id)
            if node is not None and (node.status != NodeStatus.PENDING or node.attempt > 0):
                continue
            ready = readiness(self.definition, state, node_id)
            if ready is None:
                continue
            if ready:
                starts.append(node_id)
                continue
            self._candidates.extend(reversed(starts))  # asked again, in the same order
            self.settled(node_id)
            return SkipNode(node_id)
        if not starts:
            return None
        self._candidates.extend(reversed(starts[1:]))
        return StartNode(starts[0], 1)

    def completion(self, state: RunState, running: bool) -> CompleteRun | None:
        """The run's completion once every node settled and no node task runs."""
        if state.terminal or running or state.settled != len(self.definition.nodes):
            return None
        return CompleteRun({sink: state.nodes[sink].output for sink in self.definition.sinks
                            if state.nodes[sink].status == NodeStatus.COMPLETED})
