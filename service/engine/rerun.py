"""Reruns: a new run of a finished run's workflow, optionally from one node on.

From a node, every node upstream of it (in the definition the rerun uses) that completed in
the original is not run again: its NodeStarted and NodeCompleted are copied into the new
run's log right after its RunCreated, in the same append, and RunCreated's `rerunOf` names
the original event each output was copied from. The run then goes on as a recovered run
would: completed nodes are done, and the rest runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eventstore.records import NewEvent, RecordedEvent
from projections.payloads import RerunOf
from projections.vocabulary import EventType
from service.workflows.definition import WorkflowDefinition, ancestors


class RerunRefused(Exception):
    """The rerun cannot start as asked (the message says why)."""


class RunStillGoing(RerunRefused):
    """Only finished runs are rerun."""


class UnknownRerunNode(RerunRefused):
    """`fromNode` is not a node of the definition the rerun would use."""


@dataclass(slots=True)
class _Node:
    started: dict[str, Any] | None = None
    completed: RecordedEvent | None = None


@dataclass(slots=True)
class RerunPlan:
    """What a rerun writes after its RunCreated, and the `rerunOf` RunCreated carries."""

    rerun_of: RerunOf
    events: list[NewEvent] = field(default_factory=list)


def plan_rerun(original_id: str, original: Iterable[RecordedEvent],
               definition: WorkflowDefinition, from_node: str | None) -> RerunPlan:
    """The reused nodes of a rerun of `original` (its events) with `definition`."""
    if from_node is not None and from_node not in definition.nodes:
        raise UnknownRerunNode(f"no node {from_node!r} in the workflow version the rerun uses")
    plan = RerunPlan({"runId": original_id, "fromNode": from_node, "reused": {}})
    if from_node is None:
        return plan
    nodes: dict[str, _Node] = {}
    for event in original:
        node_id = event.payload.get("nodeId")
        if not isinstance(node_id, str):
            continue
        node = nodes.setdefault(node_id, _Node())
        if event.type == EventType.NODE_STARTED:
            node.started, node.completed = dict(event.payload), None
        elif event.type == EventType.NODE_COMPLETED:
            node.completed = event
    upstream = ancestors(definition.nodes, from_node)
    # In definition order, so the copied events read like a run that did them.
    for node_id in definition.nodes:
        found = nodes.get(node_id)
        if node_id not in upstream or found is None or found.completed is None:
            continue
        completed = dict(found.completed.payload)
        started = found.started or {
            key: completed[key] for key in ("nodeId", "nodeName", "nodeType", "attempt")}
        started.setdefault("input", None)
        plan.events.append(NewEvent(EventType.NODE_STARTED, started))
        # Nothing ran: the copy took no time.
        plan.events.append(NewEvent(EventType.NODE_COMPLETED, {**completed, "durationMs": 0}))
        plan.rerun_of["reused"][node_id] = found.completed.position
    return plan
