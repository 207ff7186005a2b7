"""An agent whose tool call waits for approval survives a SIGKILL of `runstream serve`: after
the restart the call is approved, runs, and the model call that asked for it is not made
again (the fake model server, in this process, counts requests). Loopback only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow

pytestmark = pytest.mark.slow


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


async def wait_status(api: Api, run_id: str, wanted: str, within_s: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
        if status == 200 and body["data"]["status"] == wanted:
            return
        assert loop.time() < deadline, (wanted, status, body)
        await asyncio.sleep(0.05)


async def test_an_approval_after_a_sigkill_runs_the_call_without_a_second_model_call(
    tmp_path: Path, llm: FakeLLM,
) -> None:
    llm.script(Reply([tool_call(0, "call_1", "lookup_customer", '{"id": "c-42"}'),
                      chunk(finish="tool_calls"), usage(12, 6)]),
               Reply([*text("billing"), chunk(finish="stop"), usage(40, 1)]))
    server = ServerProcess(tmp_path / "data", engine__http_allow_hosts="127.0.0.1")
    await server.start()
    api: Api | None = None
    try:
        api = Api(server.base, await admin_token(server.base))
        workflow = await create_workflow(api, {"name": "Agent", "nodes": [
            {"id": "classify", "type": "agent", "params": {
                "endpoint": llm.endpoint, "model": MODEL, "prompt": "Ticket: double charge",
                "tools": [{"name": "lookup_customer", "approval": "always",
                           "run": {"type": "transform",
                                   "params": {"value": {"id": "{{args.id}}"}}}}]}}]})
        status, body = await api.request("POST", "/api/v1/workflow-requests",
                                         json={"workflow_id": workflow, "payload": {}})
        assert status == 201, body
        run_id = body["id"]
        await wait_status(api, run_id, "waiting")
        assert len(llm.requests) == 1

        await server.kill()
        await server.start()
        await wait_status(api, run_id, "waiting")
        status, body = await api.request(
            "POST", f"/api/v1/workflow-runs/{run_id}/nodes/classify/tool-calls/call_1",
            json={"decision": "approve"})
        assert status == 200, body
        await wait_status(api, run_id, "completed")
        status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
        (activity,) = body["data"]["activityRuns"]
        assert activity["outputs"]["text"] == "billing"
        assert activity["outputs"]["toolCalls"][0]["output"] == {"id": "c-42"}
        assert len(llm.requests) == 2  # the first model call was not paid for twice
    finally:
        if api is not None:
            await api.close()
        await server.stop()
