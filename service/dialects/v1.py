"""The canonical v1 API's words (seed 004): run and activity-run shapes, statuses, stream frames."""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.records import RecordedEvent
from projections.payloads import (
    CancelPayload,
    NodeThinkingPayload,
    RunFailedPayload,
    as_payload,
    node_fields,
)
from projections.queries import RunQueries
from projections.runs import activity_run_id
from projections.vocabulary import (
    RUN_STATUS_AFTER,
    EventType,
    NodeStatus,
    RunStatus,
    node_status_after,
)
from service.settings import Settings
from service.streams.frame_cache import FrameCache
from service.streams.serving import Render, StreamOptions
from service.streams.sse import Frame, encode_event

RUN_STATUS_WORDS: dict[str, str] = {
    RunStatus.PENDING: "scheduled",
    RunStatus.RUNNING: "running",
    RunStatus.WAITING: "waiting",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}
# Query `status=` words back to canonical statuses.
RUN_STATUS_FROM_WORD = {word: status for status, word in RUN_STATUS_WORDS.items()}

NODE_STATUS_WORDS: dict[str, str] = {
    NodeStatus.PENDING: "scheduled",
    NodeStatus.RUNNING: "running",
    NodeStatus.WAITING: "waiting",
    NodeStatus.COMPLETED: "completed",
    NodeStatus.FAILED: "failed",
    NodeStatus.SKIPPED: "skipped",
    NodeStatus.CANCELLED: "cancelled",
}

PING = Frame(orjson.dumps({"content": "ping"}), "ping")


def run_json(run: dict[str, Any]) -> dict[str, Any]:
    """A workflow run as v1 clients read it (list items, detail, results)."""
    inputs = run.get("inputs") or {}
    return {
        "id": run["id"],
        "workflowId": run["workflowId"],
        "workflowName": run["workflowName"] or None,
        "workflowVersion": run["workflowVersion"],
        "workspaceId": run["workspaceId"],
        "chatId": run["chatId"],
        "parentRunId": run["parentRunId"],
        "status": RUN_STATUS_WORDS[run["status"]],
        # v1 lists inputs as an array of name/value pairs.
        "inputs": [{"name": name, "value": value} for name, value in inputs.items()],
        "outputs": run["output"],
        "error": run["error"],
        "cancelReason": run["cancelReason"],
        "createdBy": run["createdBy"],
        "triggeredBy": run["triggeredBy"],
        "createdAt": run["createdAt"],
        "startedAt": run["startedAt"],
        "updatedAt": run["updatedAt"],
        "finishedAt": run["finishedAt"],
    }


def agent_tool_calls(node: dict[str, Any]) -> list[dict[str, Any]]:
    """An agent node's tool calls: those its output lists once it completed; before that
    the ones that ran (or, approved, run now), and the one it waits on for approval while
    it waits (the prompt's `toolCall`)."""
    raw = node.get("output")
    output: dict[str, Any] = raw if isinstance(raw, dict) else {}
    calls = [{"id": call.get("id"), "name": call.get("name"), "args": call.get("args"),
              "status": call.get("status"), "output": call.get("output"),
              "error": call.get("error")}
             for call in output.get("toolCalls") or () if isinstance(call, dict)]
    if not calls:
        # Not completed: the calls that already ran, from its checkpoints (the views add
        # them, see service/views/agent_calls.py).
        calls = list(node.get("callsSoFar") or ())
    prompt = node.get("prompt")
    if node.get("status") == NodeStatus.WAITING and isinstance(prompt, str):
        try:
            waiting = orjson.loads(prompt).get("toolCall")
        except (orjson.JSONDecodeError, AttributeError):
            waiting = None
        if isinstance(waiting, dict):
            calls.append({"id": waiting.get("id"), "name": waiting.get("name"),
                          "args": waiting.get("args"), "status": "waiting_approval",
                          "output": None, "error": None})
    return calls


def activity_json(node: dict[str, Any]) -> dict[str, Any]:
    extra = {"toolCalls": agent_tool_calls(node)} if node["nodeType"] == "agent" else {}
    return {
        **extra,
        "id": node["id"],
        "stepId": node["nodeId"],
        "stepName": node["nodeName"],
        "stepType": node["nodeType"],
        "status": NODE_STATUS_WORDS[node["status"]],
        "outputs": node["output"],
        "error": node["error"],
        "attempt": node["attempt"],
        "progress": node["progress"],
        "durationMs": node["durationMs"],
        "createdAt": node["createdAt"],
        "updatedAt": node["updatedAt"],
    }


# A run no rerun names and that is no rerun (a run that has just been created).
NO_RERUN_LINKS: dict[str, Any] = {"rerunOf": None, "reruns": []}


def run_detail_json(run: dict[str, Any], nodes: list[dict[str, Any]],
                    links: dict[str, Any] = NO_RERUN_LINKS) -> dict[str, Any]:
    """A run with its activity runs and its rerun links (RunQueries.rerun_links)."""
    return {**run_json(run), "activityRuns": [activity_json(node) for node in nodes],
            "rerunOf": links["rerunOf"], "reruns": list(links["reruns"])}


def _frame(event: str, body: dict[str, Any]) -> Frame:
    return Frame(orjson.dumps(body), event)


class V1Dialect:
    """v1 frames depend only on the run and the event, so every subscriber of a run shares
    them through the app's frame cache (the result frame's two queries included)."""

    def __init__(self, frames: FrameCache) -> None:
        self._frames = frames

    def options(self, settings: Settings) -> StreamOptions:
        return StreamOptions(keepalive=PING, keepalive_interval_s=settings.v1_ping_interval_s)

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        queries: RunQueries = context
        run_id = run["id"]

        async def render(event: RecordedEvent) -> bytes:
            return encode_event(await _render_once(run_id, queries, event), event.position)

        return self._frames.shared("v1", render)


async def _render_once(run_id: str, queries: RunQueries, event: RecordedEvent) -> list[Frame]:
    """The frames of one event of a run: the same for every subscriber."""
    data = event.payload
    if event.type in RUN_STATUS_AFTER:
        status = RUN_STATUS_AFTER[event.type]
        frames = [_frame("workflow-run", {"content": {
            "workflowRunId": run_id, "status": RUN_STATUS_WORDS[status]}})]
        if event.type == EventType.RUN_COMPLETED:
            final = await queries.get_run(run_id)
            nodes = await queries.node_runs(run_id)
            assert final is not None
            frames.append(_frame("result", {
                "success": True, "workflowRun": run_detail_json(final, nodes)}))
        elif event.type == EventType.RUN_FAILED:
            failed = as_payload(RunFailedPayload, event.type, data)
            frames.append(_frame("error", {
                "error": "Workflow run failed", "details": failed["error"]}))
        elif event.type == EventType.RUN_CANCELLED:
            cancelled = as_payload(CancelPayload, event.type, data)
            frames.append(_frame("error", {
                "error": "Workflow run cancelled", "details": cancelled["reason"]}))
        return frames
    node = node_fields(event.type, data)
    if node is None:
        return []
    node_id = node["nodeId"]
    activity_id = activity_run_id(run_id, node_id)
    if event.type == EventType.NODE_THINKING:
        return [_frame("thinking", {
            "content": as_payload(NodeThinkingPayload, event.type, data)["text"],
            "stepId": node_id, "activityRunId": activity_id})]
    node_status = node_status_after(event.type, data)
    if node_status is None:
        # Checkpoints, and answer deltas: `thinking` is the seed's reasoning trace, so answer
        # text is not sent as one; it arrives whole in the node's outputs of `result`.
        return []
    return [_frame("activity-run", {"content": {
        "workflowRunId": run_id, "activityRunId": activity_id, "stepId": node_id,
        "stepName": node["nodeName"], "status": NODE_STATUS_WORDS[node_status],
        "attempt": node["attempt"]}})]
