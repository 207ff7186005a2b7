"""FlowTrux node_complete of an agent node carries seed 002's debug fields: the LLM request
(never the key), the tool calls and usage; other nodes carry none of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from service.settings import Settings
from tests.dialects.helpers import Api, read_stream
from tests.support.auth import make_settings
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage

KEY = "sk-flowtrux-debug-5150"


@pytest.fixture
def dialect_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1"]})


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


async def test_an_agents_node_complete_carries_the_request_tool_calls_and_usage(
    api: Api, llm: FakeLLM,
) -> None:
    client = api.client
    llm.script(Reply([tool_call(0, "call_1", "double", '{"n": 21}'), chunk(finish="stop"),
                      usage(10, 5)]),
               Reply([*text("42"), chunk(finish="stop"), usage(30, 1)]))
    definition = {"name": "Agent", "nodes": [
        {"id": "think", "type": "agent", "params": {
            "endpoint": llm.endpoint, "model": MODEL, "apiKey": KEY, "system": "Be brief.",
            "prompt": "Double 21", "temperature": 0,
            "tools": [{"name": "double", "run": {"type": "transform",
                                                 "params": {"value": "{{args.n}}"}}}]}},
        {"id": "after", "type": "noop", "after": ["think"]}]}
    resp = await client.post("/api/v1/workflows", json=definition)
    assert resp.status == 201, await resp.text()
    workflow_id = (await resp.json())["data"]["id"]
    status, frames, _ = await read_stream(client, "POST",
                                          f"/api/workflows/{workflow_id}/execute/stream",
                                          json={})
    assert status == 200
    complete = [orjson.loads(f.data) for f in frames if f.event == "node_complete"]
    agent_log, noop_log = complete
    assert agent_log["llmRequest"] == {
        "endpoint": llm.endpoint, "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Double 21"}],
        "parameters": {"temperature": 0}}
    (call,) = agent_log["toolCalls"]
    assert (call["id"], call["name"], call["args"], call["status"], call["result"]) == (
        "call_1", "double", {"n": 21}, "completed", 21)
    assert isinstance(call["durationMs"], int)
    assert agent_log["usage"]["promptTokens"] == 40
    assert not {"llmRequest", "toolCalls", "usage"} & set(noop_log)
    assert KEY not in str(complete)
