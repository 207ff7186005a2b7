"""FlowTrux's words (seed 002): execution logs, status words and the `event:` + `data:` frames.

A stream is start, node_start / node_complete per node attempt, then exactly one of
complete, error or cancelled (the run's terminal log event; the stream layer closes
after it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from eventstore.records import RecordedEvent
from projections.payloads import (
    NodeCompletedPayload,
    NodeFailedPayload,
    NodeFields,
    NodeStartedPayload,
    RunFailedPayload,
    as_payload,
    payload,
)
from projections.queries import RunQueries
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.dialects.text import error_text
from service.settings import Settings
from service.streams.serving import Render, StreamOptions, encoding
from service.streams.sse import Frame

# The reason recorded when a streaming client goes away, and the text every
# `cancelled` event carries (seed 002).
CANCELLED_BY_USER = "Execution cancelled by user"

# Execution-log status words; a finished node is "success" or "error" like the run's
# terminal events.
NODE_STATUS_WORDS: dict[str, str] = {
    NodeStatus.PENDING: "pending",
    NodeStatus.RUNNING: "running",
    NodeStatus.WAITING: "waiting",
    NodeStatus.COMPLETED: "success",
    NodeStatus.FAILED: "error",
    NodeStatus.SKIPPED: "skipped",
    NodeStatus.CANCELLED: "cancelled",
}

# Terminal events by the run's final status.
TERMINAL_EVENT_NAMES: dict[str, str] = {
    RunStatus.COMPLETED: "complete",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "cancelled",
}

# The node events that end one attempt of a node, and the status each leaves behind.
NODE_COMPLETE_EVENTS: dict[str, NodeStatus] = {
    EventType.NODE_COMPLETED: NodeStatus.COMPLETED,
    EventType.NODE_FAILED: NodeStatus.FAILED,
    EventType.NODE_SKIPPED: NodeStatus.SKIPPED,
    EventType.NODE_CANCELLED: NodeStatus.CANCELLED,
}


def terminal_json(run_id: str, status: str, error: Any = None) -> dict[str, Any]:
    """The payload of complete / error / cancelled (seed 002), also the execute result."""
    if status == RunStatus.COMPLETED:
        return {"success": True, "executionId": run_id, "error": None, "cancelled": False}
    if status == RunStatus.CANCELLED:
        return {"success": False, "executionId": run_id, "error": CANCELLED_BY_USER,
                "cancelled": True}
    return {"success": False, "executionId": run_id,
            "error": error_text(error) or "Execution failed", "cancelled": False}


def execution_log(node: dict[str, Any]) -> dict[str, Any]:
    """A node's ExecutionLog (node_complete payload); `node` has the read model's keys."""
    log = {
        "nodeId": node["nodeId"],
        "nodeName": node["nodeName"],
        "nodeType": node["nodeType"],
        "status": NODE_STATUS_WORDS[node["status"]],
        "input": node["input"],
        "output": node["output"],
        "durationMs": node["durationMs"],
        "error": error_text(node["error"]),
        "attempt": node["attempt"],
    }
    if node["nodeType"] == "agent":
        log.update(agent_debug(node["input"], node["output"]))
    return log


def agent_debug(params: Any, output: Any) -> dict[str, Any]:
    """Seed 002's debug fields of a node that called a model: the LLM request (endpoint,
    model, messages, parameters; the key is never among them), the tool calls and usage."""
    params = params if isinstance(params, dict) else {}
    output = output if isinstance(output, dict) else {}
    messages = [{"role": "system", "content": params["system"]}] if params.get("system") else []
    if params.get("messages") is not None:
        messages += list(params["messages"])
    elif params.get("prompt") is not None:
        messages.append({"role": "user", "content": params["prompt"]})
    request = {"endpoint": params.get("endpoint"), "model": params.get("model"),
               "messages": messages,
               "parameters": {key: params[key] for key in (
                   "temperature", "maxTokens", "output", "maxToolRounds", "extraBody")
                   if key in params}}
    tool_calls = [{"id": call.get("id"), "name": call.get("name"), "args": call.get("args"),
                   "status": call.get("status"), "result": call.get("output"),
                   "error": call.get("error"), "durationMs": call.get("durationMs")}
                  for call in output.get("toolCalls") or () if isinstance(call, dict)]
    return {"llmRequest": request, "toolCalls": tool_calls, "usage": output.get("usage")}


def result_json(run: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """`POST /api/workflows/{id}/execute`: the terminal payload, the output and every log."""
    return {
        **terminal_json(run["id"], run["status"], run["error"]),
        "status": TERMINAL_EVENT_NAMES.get(run["status"], run["status"]),
        "output": run["output"],
        "logs": [execution_log(node) for node in nodes],
    }


def _millis_between(start: str | None, end: str) -> int:
    if not start:
        return 0
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return max(0, int(delta.total_seconds() * 1000))


def _frame(event: str, body: dict[str, Any]) -> list[Frame]:
    return [Frame(orjson.dumps(body), event)]


class FlowTruxDialect:
    def options(self, settings: Settings) -> StreamOptions:
        # FlowTrux clients read with fetch, not EventSource: no retry field, no keepalive
        # (seed 002 defines none; any data frame would be an event they do not know).
        return StreamOptions(send_retry=False)

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        queries: RunQueries = context
        run_id = run["id"]
        # Per node: its input and start time from NodeStarted, for the execution log
        # at the end of the attempt (a resumed stream may not have seen the start).
        started: dict[str, tuple[Any, str]] = {}

        async def start_of(node_id: str) -> tuple[Any, str | None]:
            # Taken out, not looked at: the attempt ends here, and a stream must not hold
            # every input it has seen (each up to max_event_bytes) for its whole life.
            if node_id in started:
                return started.pop(node_id)
            node = await queries.node_run(run_id, node_id)
            return (None, None) if node is None else (node["input"], node["startedAt"])

        async def render(event: RecordedEvent) -> list[Frame]:
            kind = event.type
            if kind == EventType.RUN_STARTED:
                return _frame("start", {"workflowId": run["workflowId"],
                                        "workflowName": run["workflowName"],
                                        "timestamp": event.recorded_at})
            if kind == EventType.RUN_COMPLETED:
                return _frame("complete", terminal_json(run_id, RunStatus.COMPLETED))
            if kind == EventType.RUN_FAILED:
                failed = payload(event, RunFailedPayload)
                return _frame("error", terminal_json(run_id, RunStatus.FAILED, failed["error"]))
            if kind == EventType.RUN_CANCELLED:
                return _frame("cancelled", terminal_json(run_id, RunStatus.CANCELLED))
            if kind == EventType.NODE_STARTED:
                start = payload(event, NodeStartedPayload)
                started[start["nodeId"]] = (start["input"], event.recorded_at)
                return _frame("node_start", {"nodeId": start["nodeId"],
                                             "nodeName": start["nodeName"],
                                             "nodeType": start["nodeType"]})
            status = NODE_COMPLETE_EVENTS.get(kind)
            if status is None:
                # Progress, thinking and answer deltas: seed 002 has no event for them (the
                # answer is in node_complete's output).
                return []
            data = event.payload
            node = as_payload(NodeFields, kind, data)
            node_input, started_at = (None, None)
            if kind != EventType.NODE_SKIPPED:
                node_input, started_at = await start_of(node["nodeId"])
            output = error = duration = None
            if kind == EventType.NODE_COMPLETED:
                completed = as_payload(NodeCompletedPayload, kind, data)
                output, duration = completed["output"], completed["durationMs"]
            elif kind == EventType.NODE_FAILED:
                error = as_payload(NodeFailedPayload, kind, data)["error"]
            if duration is None:
                duration = _millis_between(started_at, event.recorded_at)
            return _frame("node_complete", execution_log({
                "nodeId": node["nodeId"], "nodeName": node["nodeName"],
                "nodeType": node["nodeType"], "status": status, "input": node_input,
                "output": output, "durationMs": duration, "error": error,
                "attempt": node["attempt"],
            }))

        return encoding(render)
