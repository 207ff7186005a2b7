"""The chat product's words (seeds 000 and 001): run and step shapes, statuses, stream frames.

Stream frames are data-only (`data: {"type": ...}`), one per log event that a chat
client knows about; every other event renders to nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.records import RecordedEvent
from projections.payloads import (
    NodeCompletedPayload,
    NodeFailedPayload,
    NodeProgressPayload,
    NodeStartedPayload,
    RunFailedPayload,
    payload,
)
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.dialects.text import error_text
from service.settings import Settings
from service.streams.serving import Render, StreamOptions, encoding
from service.streams.sse import Frame

# Seed 001 knows pending, running, completed, failed, cancelled. A run waiting for an
# approval is still in progress as far as a chat client can tell.
RUN_STATUS_WORDS: dict[str, str] = {
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.WAITING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}

# A run that ended without an error sends run_completed with one of these statuses.
RUN_COMPLETED_STATUSES = (RUN_STATUS_WORDS[RunStatus.COMPLETED],
                          RUN_STATUS_WORDS[RunStatus.CANCELLED])

STEP_STATUS_WORDS: dict[str, str] = {
    NodeStatus.PENDING: "pending",
    NodeStatus.RUNNING: "running",
    NodeStatus.WAITING: "running",
    NodeStatus.COMPLETED: "completed",
    NodeStatus.FAILED: "failed",
    NodeStatus.SKIPPED: "skipped",
    NodeStatus.CANCELLED: "cancelled",
}


def step_json(node: dict[str, Any]) -> dict[str, Any]:
    """A step of a chat run (seed 001): the node's id, status and times."""
    return {
        "id": node["nodeId"],
        "status": STEP_STATUS_WORDS[node["status"]],
        "startedAt": node["startedAt"],
        "completedAt": node["finishedAt"],
    }


def run_json(run: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A workflow run as `GET /api/chats/{chatId}/workflow-runs` lists it (seed 001)."""
    return {
        "id": run["id"],
        "chatId": run["chatId"],
        "workflowId": run["workflowId"],
        "status": RUN_STATUS_WORDS[run["status"]],
        "startedAt": run["startedAt"],
        # Seed 001 has one end time for every way a run ends.
        "completedAt": run["finishedAt"],
        "steps": [step_json(node) for node in nodes],
    }


def _progress(value: Any) -> Any:
    # The engine records progress to one decimal; whole numbers go out as integers (seed 000).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _frame(body: dict[str, Any]) -> list[Frame]:
    return [Frame(orjson.dumps(body))]


class ChatDialect:
    def options(self, settings: Settings) -> StreamOptions:
        # Seed 000 defines no keepalive frame; a data frame would be an unknown type.
        return StreamOptions()

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        run_id, workflow_id = run["id"], run["workflowId"]

        async def render(event: RecordedEvent) -> list[Frame]:
            kind = event.type
            if kind == EventType.RUN_STARTED:
                return _frame({"type": "run_started", "runId": run_id, "workflowId": workflow_id})
            if kind == EventType.RUN_COMPLETED:
                return _frame({"type": "run_completed", "runId": run_id,
                               "status": RUN_STATUS_WORDS[RunStatus.COMPLETED]})
            if kind == EventType.RUN_CANCELLED:
                # A cancelled run ended without an error: run_completed carries the status.
                return _frame({"type": "run_completed", "runId": run_id,
                               "status": RUN_STATUS_WORDS[RunStatus.CANCELLED]})
            if kind == EventType.RUN_FAILED:
                failed = payload(event, RunFailedPayload)
                return _frame({"type": "run_failed", "runId": run_id,
                               "error": error_text(failed["error"])})
            if kind == EventType.NODE_STARTED:
                started = payload(event, NodeStartedPayload)
                return _frame({"type": "step_started", "stepId": started["nodeId"],
                               "toolId": started["nodeType"]})
            if kind == EventType.NODE_PROGRESS:
                progress = payload(event, NodeProgressPayload)
                return _frame({"type": "step_progress", "stepId": progress["nodeId"],
                               "progress": _progress(progress["progress"]),
                               "message": progress["message"]})
            if kind == EventType.NODE_COMPLETED:
                completed = payload(event, NodeCompletedPayload)
                return _frame({"type": "step_completed", "stepId": completed["nodeId"],
                               "result": completed["output"]})
            if kind == EventType.NODE_FAILED:
                node_failed = payload(event, NodeFailedPayload)
                if node_failed["willRetry"]:
                    return []  # the attempt that follows sends step_started again
                return _frame({"type": "step_failed", "stepId": node_failed["nodeId"],
                               "error": error_text(node_failed["error"])})
            # Thinking and answer deltas have no frame in seed 000 (step_progress is a
            # percentage with a status line): the answer arrives in step_completed's result.
            return []

        return encoding(render)
