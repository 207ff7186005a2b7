"""Splox's words (seed 003): workflow_request and node_execution objects, status words, frames.

Every message is `data: {"workflow_request": {...}, "node_execution": {...}}` (run
events carry only the workflow_request), keepalives are `data: keepalive`. Each
message shows the objects as they were at that point of the log: the renderer folds
the run's events, starting from those before the client's cursor, so a replay and
a resumed stream say exactly what a live listener saw.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventstore.interface import EventStore
from eventstore.records import RecordedEvent
from projections.payloads import (
    NodeAnswerDeltaPayload,
    NodeCompletedPayload,
    NodeFailedPayload,
    NodeStartedPayload,
    as_payload,
    node_fields,
)
from projections.runs import activity_run_id
from projections.vocabulary import (
    RUN_STATUS_AFTER,
    TERMINAL_RUN_EVENTS,
    EventType,
    NodeStatus,
    RunStatus,
    node_status_after,
)
from service.dialects.text import error_text
from service.settings import Settings
from service.streams.serving import Render, StreamOptions, encoding
from service.streams.sse import Frame

RUN_STATUS_WORDS: dict[str, str] = {
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "in_progress",
    RunStatus.WAITING: "waiting",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "stopped",
}

# Splox's "blocked" (waiting for dependencies) has no counterpart: our nodes have no
# execution before their predecessors are done.
NODE_STATUS_WORDS: dict[str, str] = {
    NodeStatus.PENDING: "pending",
    NodeStatus.RUNNING: "in_progress",
    NodeStatus.WAITING: "waiting",
    NodeStatus.COMPLETED: "completed",
    NodeStatus.FAILED: "failed",
    NodeStatus.SKIPPED: "skipped",
    NodeStatus.CANCELLED: "stopped",
}

KEEPALIVE = Frame(b"keepalive")

# Splox names a workflow version by UUID; ours are numbers, so the id is derived
# (stable: the same workflow and version always give the same id).
VERSION_NAMESPACE = uuid.UUID("5b3e1d2a-8c4f-4e6b-9a1d-3f2e7c6b5a40")

READ_PAGE = 1000
RELEASED_AFTER = frozenset({NodeStatus.COMPLETED, NodeStatus.SKIPPED, NodeStatus.CANCELLED})


def workflow_version_id(workflow_id: str, version: int | None) -> str:
    return str(uuid.uuid5(VERSION_NAMESPACE, f"{workflow_id}/{version}"))


@dataclass
class SploxContext:
    """What a Splox stream needs beyond the run: the store, the cursor, the start node."""

    store: EventStore
    start_node_id: str | None
    cursor: int = 0


@dataclass
class RequestFold:
    """One run's workflow_request and node executions, folded event by event."""

    run: dict[str, Any]
    start_node_id: str | None
    status: str = RunStatus.PENDING
    started_at: str | None = None
    completed_at: str | None = None
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: RecordedEvent) -> str | None:
        """Fold `event`; returns the node id it changed, "" for a run change, None for none."""
        run_status = RUN_STATUS_AFTER.get(event.type)
        if run_status is not None:
            self.status = run_status
            if event.type == EventType.RUN_STARTED and self.started_at is None:
                self.started_at = event.recorded_at
            if event.type in TERMINAL_RUN_EVENTS:
                self.completed_at = event.recorded_at
            return ""
        data = event.payload
        if event.type == EventType.NODE_ANSWER_DELTA:
            return self._answer_delta(as_payload(NodeAnswerDeltaPayload, event.type, data))
        fields = node_fields(event.type, data)
        node_status = node_status_after(event.type, data)
        if fields is None or node_status is None:
            return None
        node_id = fields["nodeId"]
        node = self.nodes.setdefault(node_id, {
            "createdAt": event.recorded_at, "input": None, "output": None,
            "attempt": 0, "completedAt": None, "failedAt": None,
            "answering": None,  # [model call, its answer text so far] while one streams
        })
        node["status"] = node_status
        node["attempt"] = fields["attempt"]
        if event.type == EventType.NODE_STARTED:
            started = as_payload(NodeStartedPayload, event.type, data)
            node.update(input=started["input"], output=None, completedAt=None, failedAt=None,
                        answering=None)
        elif event.type == EventType.NODE_COMPLETED:
            completed = as_payload(NodeCompletedPayload, event.type, data)
            node.update(output=completed["output"], completedAt=event.recorded_at)
        elif event.type == EventType.NODE_FAILED:
            failed = as_payload(NodeFailedPayload, event.type, data)
            # node_execution has no error field: the error travels in output_data.
            node.update(output={"error": error_text(failed["error"])},
                        failedAt=event.recorded_at)
        elif event.type in (EventType.NODE_SKIPPED, EventType.NODE_CANCELLED):
            node["completedAt"] = event.recorded_at
        return node_id

    def _answer_delta(self, delta: NodeAnswerDeltaPayload) -> str | None:
        """An answer growing: the node, still in progress, shows `output_data.text` as the
        current model call's text so far (the final output has the whole answer there)."""
        node = self.nodes.get(delta["nodeId"])
        if node is None or node["attempt"] != delta["attempt"]:
            return None
        answering = node.get("answering")
        if answering is None or answering[0] != delta["call"]:
            answering = node["answering"] = [delta["call"], ""]
        answering[1] += delta["text"]
        node["output"] = {"text": answering[1]}
        return delta["nodeId"]

    def release_if_done(self, node_id: str) -> None:
        """A completed, skipped or cancelled node has no later event: once its message is
        rendered, the stream need not hold its input and output (up to max_event_bytes each)."""
        node = self.nodes[node_id]
        if node["status"] in RELEASED_AFTER:
            node["input"] = node["output"] = node["answering"] = None

    def request_json(self) -> dict[str, Any]:
        return request_json(self.run, self.start_node_id, self.status, self.started_at,
                            self.completed_at)

    def node_json(self, node_id: str) -> dict[str, Any]:
        node = self.nodes[node_id]
        return {
            "id": activity_run_id(self.run["id"], node_id),
            "workflow_request_id": self.run["id"],
            "node_id": node_id,
            "workflow_version_id": workflow_version_id(
                self.run["workflowId"], self.run["workflowVersion"]),
            "status": NODE_STATUS_WORDS[node["status"]],
            "input_data": node["input"],
            "output_data": node["output"],
            "attempt_count": node["attempt"],
            "created_at": node["createdAt"],
            "completed_at": node["completedAt"],
            "failed_at": node["failedAt"],
        }


def current_request_json(run: dict[str, Any], start_node_id: str | None) -> dict[str, Any]:
    """A workflow_request as the run is now (the answer to creating one)."""
    return request_json(run, start_node_id, run["status"], run["startedAt"], run["finishedAt"])


def request_json(
    run: dict[str, Any], start_node_id: str | None, status: str,
    started_at: str | None, completed_at: str | None,
) -> dict[str, Any]:
    """A workflow_request (seed 003) with the given status and times."""
    parent_run, parent_node = run.get("parentRunId"), run.get("parentNodeId")
    return {
        "id": run["id"],
        "workflow_version_id": workflow_version_id(run["workflowId"], run["workflowVersion"]),
        "start_node_id": start_node_id,
        "status": RUN_STATUS_WORDS[status],
        "created_at": run["createdAt"],
        "user_id": run["createdBy"],
        "billing_user_id": run["createdBy"],
        "parent_node_execution_id": (
            activity_run_id(parent_run, parent_node) if parent_run and parent_node else None),
        "parent_workflow_request_id": parent_run,
        "chat_id": run["chatId"],
        "payload": run["inputs"] or {},
        "metadata": {"workflow_id": run["workflowId"], "workflow_name": run["workflowName"],
                     "workflow_version": run["workflowVersion"]},
        "started_at": started_at,
        "completed_at": completed_at,
    }


async def _fold_through(store: EventStore, fold: RequestFold, cursor: int) -> None:
    """Fold the run's events up to and including log position `cursor`, page by page."""
    after = 0
    while after < cursor:
        page = await store.read(fold.run["id"], after, READ_PAGE)
        for event in page:
            if event.position > cursor:
                return
            changed = fold.apply(event)
            if changed:
                fold.release_if_done(changed)
        if len(page) < READ_PAGE:
            return
        after = page[-1].position


class SploxDialect:
    def options(self, settings: Settings) -> StreamOptions:
        return StreamOptions(
            keepalive=KEEPALIVE,
            keepalive_interval_s=settings.splox_keepalive_interval_s,
            max_duration_s=settings.splox_max_duration_s,
        )

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        ctx: SploxContext = context
        fold = RequestFold(run, ctx.start_node_id)
        caught_up = ctx.cursor == 0

        async def render(event: RecordedEvent) -> list[Frame]:
            nonlocal caught_up
            if not caught_up:
                # A resumed stream starts from the objects as they were at the cursor.
                await _fold_through(ctx.store, fold, ctx.cursor)
                caught_up = True
            changed = fold.apply(event)
            if changed is None:
                return []
            body: dict[str, Any] = {"workflow_request": fold.request_json()}
            if changed:
                body["node_execution"] = fold.node_json(changed)
                fold.release_if_done(changed)
            return [Frame(orjson.dumps(body))]

        return encoding(render)
