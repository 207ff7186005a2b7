"""An agent's answer text as it streams (NodeAnswerDelta), in each dialect: Splox shows the
node in progress with `output_data.text` growing; v1, chat and FlowTrux send no frame their
seed lacks (the answer arrives whole in the node's output)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings
from tests.dialects.helpers import (
    SEED_000_FIELDS,
    SEED_000_STREAM,
    SEED_002_TERMINAL,
    SEED_003_EVENT,
    SEED_003_NODE_STATUSES,
    Api,
    assert_shape,
    read_stream,
    seed_frames,
)
from tests.support.auth import make_settings
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call

# Each call's answer is a few batches long (a batch is at most a few hundred characters).
FIRST = [f"Looking up customer c-42, step {i}. " for i in range(40)]
FINAL = [f"The customer is on the gold tier ({i}). " for i in range(40)]
V1_EVENTS = {"ping", "activity-run", "workflow-run", "thinking", "result", "error"}
CHAT_TYPES = {f.json()["type"] for f in seed_frames(SEED_000_STREAM)} | set(SEED_000_FIELDS)
FLOWTRUX_EVENTS = {"start", "node_start", "node_complete", *SEED_002_TERMINAL}


@pytest.fixture
def dialect_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, splox_keepalive_interval_s=0.2,
                         engine={"http_allow_hosts": ["127.0.0.1"]})


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


async def _finished_agent_run(api: Api, llm: FakeLLM) -> tuple[str, str, str]:
    """(chat id, workflow id, run id) of a finished run whose agent made a tool round."""
    llm.script(Reply([*text(*FIRST), tool_call(0, "call_1", "lookup", "{}"),
                      chunk(finish="tool_calls")]),
               Reply([*text(*FINAL), chunk(finish="stop")]))
    workflow_id = await api.workflow([
        {"id": "agent-1", "type": "agent", "params": {
            "endpoint": llm.endpoint, "model": MODEL, "prompt": "Who is c-42?",
            "tools": [{"name": "lookup", "run": {"type": "transform",
                                                 "params": {"value": {"tier": "gold"}}}}]}}])
    chat = await api.json("POST", "/api/chats", 201, json={"title": "answers"})
    chat_id = chat["data"]["id"]
    run = await api.json("POST", f"/api/chats/{chat_id}/workflow-runs", 201,
                         json={"workflowId": workflow_id})
    run_id = run["data"]["id"]
    await api.wait_status(run_id, "completed")
    return chat_id, workflow_id, run_id


async def _read(api: Api, url: str, **kwargs: Any) -> list[Any]:
    status, frames, _ = await read_stream(api.client, "GET", url, **kwargs)
    assert status == 200
    return frames


async def test_splox_shows_the_answer_growing_in_output_data_text(
    api: Api, llm: FakeLLM,
) -> None:
    _, _, run_id = await _finished_agent_run(api, llm)
    frames = await _read(api, f"/api/v1/workflow-requests/{run_id}/listen",
                         headers=await api.token_headers())
    nodes = [f.json()["node_execution"] for f in frames
             if f.data != "keepalive" and "node_execution" in f.json()]
    for node in nodes:
        assert_shape(node, SEED_003_EVENT["node_execution"],
                     frozenset({"input_data", "output_data", "completed_at", "failed_at"}))
        assert node["status"] in SEED_003_NODE_STATUSES
    growing = [n["output_data"]["text"] for n in nodes
               if n["status"] == "in_progress" and n["output_data"]]
    assert len(growing) >= 4
    first, final = "".join(FIRST), "".join(FINAL)
    # The first call's text grows to the whole of it, then the next call's starts over.
    switch = next(i for i, t in enumerate(growing) if not first.startswith(t))
    assert growing[switch - 1] == first
    assert all(final.startswith(t) for t in growing[switch:])
    assert growing[-1] == final
    assert all(len(a) < len(b) for a, b in zip(growing[switch:], growing[switch + 1:],
                                               strict=False))
    assert nodes[-1]["status"] == "completed"
    assert nodes[-1]["output_data"]["text"] == final


async def test_v1_chat_and_flowtrux_send_only_frames_their_seeds_define(
    api: Api, llm: FakeLLM,
) -> None:
    chat_id, workflow_id, run_id = await _finished_agent_run(api, llm)
    final = "".join(FINAL)
    v1 = await _read(api, f"/api/v1/workflow-runs/{run_id}/stream")
    assert {f.event for f in v1} <= V1_EVENTS
    assert not [f for f in v1 if f.event == "thinking"]  # answer text is not reasoning
    (result,) = [f.json() for f in v1 if f.event == "result"]
    (activity,) = result["workflowRun"]["activityRuns"]
    assert activity["outputs"]["text"] == final

    chat = await _read(api, f"/api/chats/{chat_id}/workflow-runs/{run_id}/stream")
    assert {f.json()["type"] for f in chat} <= CHAT_TYPES
    (done,) = [f.json() for f in chat if f.json()["type"] == "step_completed"
               and f.json()["stepId"] == "agent-1"]
    assert done["result"]["text"] == final

    flowtrux = await _read(api, f"/api/workflows/{workflow_id}/executions/{run_id}/stream")
    assert {f.event for f in flowtrux} <= FLOWTRUX_EVENTS
    (log,) = [f.json() for f in flowtrux if f.event == "node_complete"]
    assert log["output"]["text"] == final
