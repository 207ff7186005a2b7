"""The log's vocabulary, written once: event type names and canonical statuses.

Dialects map these canonical words to their own in one module each (service/dialects).
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    RUN_CREATED = "RunCreated"
    RUN_STARTED = "RunStarted"
    RUN_WAITING = "RunWaiting"
    RUN_RESUMED = "RunResumed"
    RUN_CANCEL_REQUESTED = "RunCancelRequested"
    RUN_COMPLETED = "RunCompleted"
    RUN_FAILED = "RunFailed"
    RUN_CANCELLED = "RunCancelled"
    NODE_STARTED = "NodeStarted"
    NODE_PROGRESS = "NodeProgress"
    NODE_THINKING = "NodeThinking"
    NODE_ANSWER_DELTA = "NodeAnswerDelta"
    NODE_CHECKPOINT = "NodeCheckpoint"
    NODE_COMPLETED = "NodeCompleted"
    NODE_FAILED = "NodeFailed"
    NODE_SKIPPED = "NodeSkipped"
    NODE_WAITING = "NodeWaiting"
    NODE_RESUMED = "NodeResumed"
    NODE_CANCELLED = "NodeCancelled"
    # Retention or erasure removed finished runs' event data (their chain headers stay):
    # {"runs": [ids], "events", "archive": file name or null, "archiveSha256", "policy":
    # {...} or null, "by": user id or null, "reason", "kind": "retention" | "erasure",
    # "counted": [[workspaceId, workflowId, workflowName], ...]}. Not a run event, so it
    # lives in a stream of its own.
    EVENTS_PRUNED = "EventsPruned"


# The stream of EventsPruned: never a run id (those are UUIDs), so no run can collide.
RETENTION_STREAM = "retention"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class NodeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
TERMINAL_RUN_EVENTS = frozenset(
    {EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED}
)

# The status each run event moves a run to (events absent here leave it as it is).
RUN_STATUS_AFTER: dict[str, RunStatus] = {
    EventType.RUN_CREATED: RunStatus.PENDING,
    EventType.RUN_STARTED: RunStatus.RUNNING,
    EventType.RUN_WAITING: RunStatus.WAITING,
    EventType.RUN_RESUMED: RunStatus.RUNNING,
    EventType.RUN_COMPLETED: RunStatus.COMPLETED,
    EventType.RUN_FAILED: RunStatus.FAILED,
    EventType.RUN_CANCELLED: RunStatus.CANCELLED,
}

# The status each node event moves a node to; NodeFailed with willRetry is special-cased
# by readers of this table (the node goes back to pending until its next attempt).
NODE_STATUS_AFTER: dict[str, NodeStatus] = {
    EventType.NODE_STARTED: NodeStatus.RUNNING,
    EventType.NODE_COMPLETED: NodeStatus.COMPLETED,
    EventType.NODE_FAILED: NodeStatus.FAILED,
    EventType.NODE_SKIPPED: NodeStatus.SKIPPED,
    EventType.NODE_WAITING: NodeStatus.WAITING,
    EventType.NODE_RESUMED: NodeStatus.RUNNING,
    EventType.NODE_CANCELLED: NodeStatus.CANCELLED,
}


_NODE_FAILED = EventType.NODE_FAILED.value  # a plain string: asked for every node event


def node_status_after(event_type: str, data: dict[str, object]) -> NodeStatus | None:
    """The node status an event leaves behind (a failure that will be retried is pending)."""
    if event_type == _NODE_FAILED and data.get("willRetry"):
        return NodeStatus.PENDING
    return NODE_STATUS_AFTER.get(event_type)
