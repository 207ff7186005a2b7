"""The tool calls of an agent node that has not completed: read from its NodeCheckpoint
events, so the run detail lists the calls that already ran (and the approved one now
running) while the node still works, waits or after it failed. A completed node's output
carries its calls itself."""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.interface import EventStore
from projections.vocabulary import EventType, NodeStatus

PAGE = 1000


async def _checkpoints(store: EventStore, run_id: str, node_id: str,
                       started_at: int) -> list[dict[str, Any]]:
    """The node's checkpoint steps, oldest first: its run's events from its first start on."""
    steps: list[dict[str, Any]] = []
    after = started_at - 1
    while True:
        page = await store.read(run_id, after, PAGE)
        for event in page:
            data = event.payload
            if (event.type == EventType.NODE_CHECKPOINT and data.get("nodeId") == node_id
                    and isinstance(data.get("data"), dict)):
                steps.append(data["data"])
        if len(page) < PAGE:
            return steps
        after = page[-1].position


def calls_so_far(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each finished call's record, then each approved call that has not finished yet
    (`running`), in the order they were recorded."""
    finished = {step["id"]: step["record"] for step in steps
                if step.get("kind") == "tool" and isinstance(step.get("record"), dict)}
    calls, seen = [], set()
    for step in steps:
        call_id = step.get("id")
        if call_id in seen or step.get("kind") not in ("tool", "decision"):
            continue
        if call_id in finished:
            record = finished[call_id]
            calls.append({"id": call_id, "name": record.get("name"), "args": record.get("args"),
                          "status": record.get("status"), "output": record.get("output"),
                          "error": record.get("error")})
        elif step.get("decision") == "approve":
            calls.append({"id": call_id, "name": None, "args": step.get("args"),
                          "status": "running", "output": None, "error": None})
        else:
            continue
        seen.add(call_id)
    return calls


def _asked_call(prompt: Any) -> dict[str, Any] | None:
    """The tool call a node last waited on (its prompt's `toolCall`): an approved call that
    is running now is that one, and its decision step does not repeat its name."""
    if not isinstance(prompt, str):
        return None
    try:
        asked = orjson.loads(prompt)
    except orjson.JSONDecodeError:
        return None
    call = asked.get("toolCall") if isinstance(asked, dict) else None
    return call if isinstance(call, dict) else None


async def with_calls_so_far(store: EventStore,
                            nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`nodes` (node_runs rows) with `callsSoFar` on each agent node that has not completed."""
    for node in nodes:
        if node.get("nodeType") == "agent" and node.get("status") != NodeStatus.COMPLETED:
            steps = await _checkpoints(store, node["runId"], node["nodeId"], int(node["seq"]))
            calls = calls_so_far(steps)
            asked = _asked_call(node.get("prompt"))
            for call in calls:
                if call["name"] is None and asked and asked.get("id") == call["id"]:
                    call["name"] = asked.get("name")
            node["callsSoFar"] = calls
    return nodes
