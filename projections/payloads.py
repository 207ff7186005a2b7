"""What each event type carries, declared once: one TypedDict per payload, and the table
event type -> payload type that the readers of the log go through.

The engine writes every key declared here on every event (tests/test_vocabulary.py runs
real workflows and compares); a reader subscripts the keys instead of guessing them with
`.get`, so mypy checks each name against this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypeVar, cast

# typing_extensions' TypedDict (pydantic's dependency): on Python 3.11 pydantic can check
# values against it, and tests do so with the engine's real events.
from typing_extensions import TypedDict

from eventstore.records import RecordedEvent
from projections.vocabulary import EventType


class Trigger(TypedDict):
    data: dict[str, Any]  # trigger.staticData with the request's input merged over it


class TriggeredBy(TypedDict):
    kind: str  # api, schedule or webhook
    id: str | None  # the schedule's or webhook's id
    fireTime: NotRequired[str]  # a schedule's: the fire time this run is (ISO 8601, UTC)


class RerunOf(TypedDict):
    """The run a rerun repeats, the node it starts from (None: all of it), and for each node
    not run again the position of the original's NodeCompleted its output was copied from."""

    runId: str
    fromNode: str | None
    reused: dict[str, int]


class RunCreatedPayload(TypedDict):
    workflowId: str
    workflowVersion: int
    workflowName: str
    workspaceId: str
    chatId: str | None
    parentRunId: str | None
    parentNodeId: str | None
    inputs: dict[str, Any]
    envNames: list[str]  # names only: env values never reach the log
    trigger: Trigger
    createdBy: str
    triggeredBy: TriggeredBy
    idempotencyKey: str | None  # the caller's Idempotency-Key, when the start sent one
    rerunOf: RerunOf | None  # None: not a rerun


class NoPayload(TypedDict):
    """RunStarted, RunWaiting and RunResumed carry nothing: the event is the fact."""


class CancelPayload(TypedDict):
    """Who cancelled and why (RunCancelRequested, and the RunCancelled that follows)."""

    reason: str
    by: str


class RunCompletedPayload(TypedDict):
    output: dict[str, Any]  # the outputs of the nodes with no successors, by node id


class RunFailedPayload(TypedDict):
    error: str


class NodeFields(TypedDict):
    """The keys every node event starts with."""

    nodeId: str
    nodeName: str
    nodeType: str
    attempt: int  # 1, 2, ... (0 on NodeSkipped: the node never ran)


class NodeStartedPayload(NodeFields):
    input: Any  # the rendered params; None when they were too large to store


class NodeProgressPayload(NodeFields):
    progress: float  # 0-100, one decimal
    message: str


class NodeThinkingPayload(NodeFields):
    text: str


class NodeAnswerDeltaPayload(NodeFields):
    # A piece of answer text as a model generates it; the whole answer is in the node's
    # output. `call` numbers the node's model calls (0, 1, ...: the index in an agent's
    # output `calls`), so a reader shows the text of the current call.
    text: str
    call: int


class NodeCheckpointPayload(NodeFields):
    # A step a node made durable to continue from after a restart (an agent's model
    # answer, a tool call's decision or result); its meaning is the node type's.
    data: Any


class NodeCompletedPayload(NodeFields):
    output: Any
    durationMs: int


class NodeFailedPayload(NodeFields):
    error: str
    willRetry: bool  # True: the node goes back to pending until its next attempt


class NodeWaitingPayload(NodeFields):
    prompt: Any


class NodeResumedPayload(NodeFields):
    by: str
    data: Any
    approved: bool


class RetentionPolicyFields(TypedDict):
    maxAgeDays: float | None
    maxRuns: int | None
    maxBytes: int | None
    workspaceId: str
    source: str  # workspace (its own policy) or default (the service's)


class EventsPrunedPayload(TypedDict):
    """Written by retention (service/retention), not by the engine, to RETENTION_STREAM."""

    kind: str  # retention or erasure
    runs: list[str]
    # Per run: workspace, workflow, workflow name, status (its counter) and chat.
    counted: list[list[str | None]]
    events: int
    archive: str | None  # the archive file's name under archive_dir; None for an erasure
    archiveSha256: str | None
    policy: RetentionPolicyFields | None
    by: str | None  # who erased
    reason: str | None


# Every event type of the log, and what it carries.
PAYLOAD_TYPES: dict[EventType, type[Mapping[str, Any]]] = {
    EventType.RUN_CREATED: RunCreatedPayload,
    EventType.RUN_STARTED: NoPayload,
    EventType.RUN_WAITING: NoPayload,
    EventType.RUN_RESUMED: NoPayload,
    EventType.RUN_CANCEL_REQUESTED: CancelPayload,
    EventType.RUN_COMPLETED: RunCompletedPayload,
    EventType.RUN_FAILED: RunFailedPayload,
    EventType.RUN_CANCELLED: CancelPayload,
    EventType.NODE_STARTED: NodeStartedPayload,
    EventType.NODE_PROGRESS: NodeProgressPayload,
    EventType.NODE_THINKING: NodeThinkingPayload,
    EventType.NODE_ANSWER_DELTA: NodeAnswerDeltaPayload,
    EventType.NODE_CHECKPOINT: NodeCheckpointPayload,
    EventType.NODE_COMPLETED: NodeCompletedPayload,
    EventType.NODE_FAILED: NodeFailedPayload,
    EventType.NODE_SKIPPED: NodeFields,
    EventType.NODE_WAITING: NodeWaitingPayload,
    EventType.NODE_RESUMED: NodeResumedPayload,
    EventType.NODE_CANCELLED: NodeFields,
    EventType.EVENTS_PRUNED: EventsPrunedPayload,
}


def payload_keys(kind: type[Mapping[str, Any]]) -> frozenset[str]:
    """The keys a payload type declares (its own and those it extends)."""
    keys: frozenset[str] = kind.__required_keys__ | kind.__optional_keys__  # type: ignore[attr-defined]
    return keys


NODE_EVENT_TYPES = frozenset(
    type_ for type_, kind in PAYLOAD_TYPES.items()
    if payload_keys(NodeFields) <= payload_keys(kind))

# (event type, payload type) pairs a reader may ask for: the declared type, and the
# common fields of node events.
_READABLE = frozenset(
    {*PAYLOAD_TYPES.items(), *((type_, NodeFields) for type_ in NODE_EVENT_TYPES)})

P = TypeVar("P", bound=Mapping[str, Any])


def as_payload(kind: type[P], event_type: str, data: Mapping[str, Any]) -> P:
    """`data` (the payload of an `event_type` event) read as `kind`: the event's declared
    payload type, or NodeFields for any node event. Reading an event as a type it does
    not carry is a bug, so it raises rather than yield missing keys."""
    if (event_type, kind) not in _READABLE:
        raise TypeError(f"a {event_type} event does not carry {kind.__name__}")
    return cast(P, data)


def payload(event: RecordedEvent, kind: type[P]) -> P:
    """The recorded event's payload read as `kind` (see `as_payload`)."""
    return as_payload(kind, event.type, event.payload)


def node_fields(event_type: str, data: Mapping[str, Any]) -> NodeFields | None:
    """The common keys of a node event; None for every other event."""
    if event_type not in NODE_EVENT_TYPES:
        return None
    return cast(NodeFields, data)
