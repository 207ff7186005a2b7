"""A run's state as a fold over its own events: the live path and recovery share it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eventstore.records import RecordedEvent
from projections.vocabulary import (
    RUN_STATUS_AFTER,
    TERMINAL_RUN_STATUSES,
    EventType,
    NodeStatus,
    RunStatus,
    node_status_after,
)

SETTLED = frozenset({NodeStatus.COMPLETED, NodeStatus.SKIPPED})


@dataclass(slots=True)
class NodeState:
    status: NodeStatus = NodeStatus.PENDING
    attempt: int = 0
    output: Any = None
    error: Any = None
    waiting_since: str | None = None
    resumed: dict[str, Any] | None = None
    prompt: Any = None  # what the node last waited with
    # What the node's attempts recorded to continue from (NodeCheckpoint), oldest first.
    checkpoints: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class RunState:
    run_id: str
    version: int = 0
    status: RunStatus | None = None
    created: dict[str, Any] = field(default_factory=dict)
    created_position: int = 0
    started_at: str | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)
    settled: int = 0
    cancel_request: dict[str, Any] | None = None
    output: Any = None
    error: Any = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    def node(self, node_id: str) -> NodeState:
        state = self.nodes.get(node_id)
        if state is None:
            state = self.nodes[node_id] = NodeState()
        return state

    def waiting_nodes(self) -> list[str]:
        return [nid for nid, n in self.nodes.items() if n.status == NodeStatus.WAITING]

    def apply(self, type_: str, data: dict[str, Any], recorded_at: str = "",
              position: int = 0) -> None:
        """Fold one event into the state (unknown types are ignored)."""
        self.version += 1
        run_status = RUN_STATUS_AFTER.get(type_)
        if run_status is not None:
            self.status = run_status
        if type_ == EventType.RUN_CREATED:
            self.created = data
            self.created_position = position
        elif type_ == EventType.RUN_STARTED:
            self.started_at = recorded_at
        elif type_ == EventType.RUN_CANCEL_REQUESTED:
            self.cancel_request = data
        elif type_ == EventType.RUN_COMPLETED:
            self.output = data.get("output")
        elif type_ in (EventType.RUN_FAILED, EventType.RUN_CANCELLED):
            self.error = data.get("error") or data.get("reason")
        if type_ == EventType.NODE_CHECKPOINT and "nodeId" in data:
            self.node(data["nodeId"]).checkpoints.append(data.get("data"))
            return
        node_status = node_status_after(type_, data)
        if node_status is None or "nodeId" not in data:
            return
        node = self.node(data["nodeId"])
        was_settled = node.status in SETTLED
        if type_ == EventType.NODE_STARTED:
            node.attempt = data.get("attempt", node.attempt + 1)
            node.resumed = node.waiting_since = None
        elif type_ == EventType.NODE_COMPLETED:
            node.output = data.get("output")
        elif type_ == EventType.NODE_FAILED:
            node.error = data.get("error")
        elif type_ == EventType.NODE_WAITING:
            # A node may wait again within one attempt (an agent, once per tool call):
            # each wait has its own answer.
            node.waiting_since = recorded_at
            node.resumed = None
            node.prompt = data.get("prompt")
        elif type_ == EventType.NODE_RESUMED:
            node.resumed = {"by": data.get("by"), "data": data.get("data"),
                            "approved": data.get("approved", True)}
        node.status = node_status
        self.settled += (node_status in SETTLED) - was_settled

    @classmethod
    def fold(cls, run_id: str, events: Iterable[RecordedEvent]) -> RunState:
        state = cls(run_id)
        for event in events:
            state.apply(event.type, event.payload, event.recorded_at, event.position)
        return state
