"""Tool calls that wait for a person: approved, rejected, approved with edited arguments,
through POST /api/v1/workflow-runs/{runId}/nodes/{nodeId}/tool-calls/{callId}."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from service import keys
from service.settings import Settings
from tests.support.api import create_workflow, wait_for_status
from tests.support.auth import USER_PASSWORD, ClientFactory, create_user, login, make_settings
from tests.support.engine import CountingServer
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1"]})


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def lookup_agent(llm: FakeLLM, server: CountingServer) -> dict[str, Any]:
    return {"name": "Looks customers up", "nodes": [
        {"id": "classify", "type": "agent", "params": {
            "endpoint": llm.endpoint, "model": MODEL, "prompt": "Ticket: {{inputs.text}}",
            "tools": [{"name": "lookup_customer", "approval": "always",
                       "parameters": {"type": "object",
                                      "properties": {"id": {"type": "string"}}},
                       "run": {"type": "http_request", "params": {
                           "url": f"{server.base}/{{{{args.id}}}}"}}}]}}]}


async def waiting_call(client: TestClient, run_id: str) -> dict[str, Any]:
    """The tool call the run's agent waits on, once it waits."""
    for _ in range(500):
        state = await client.server.app[keys.ENGINE].run_state(run_id)  # type: ignore[index]
        node = state.nodes.get("classify")
        if node is not None and node.status == "waiting":
            return dict(node.prompt["toolCall"])
        await asyncio.sleep(0.02)
    raise AssertionError("the agent never waited")


async def test_calls_are_approved_rejected_and_approved_with_edited_arguments(
    new_client: ClientFactory, admin: TestClient, llm: FakeLLM,
    counting_server: CountingServer,
) -> None:
    llm.script(
        Reply([tool_call(0, "call_1", "lookup_customer", '{"id": "c-1"}'),
               tool_call(1, "call_2", "lookup_customer", '{"id": "c-2"}'),
               tool_call(2, "call_3", "lookup_customer", '{"id": "c-3"}'),
               chunk(finish="tool_calls"), usage(10, 9)]),
        Reply([*text("done"), chunk(finish="stop"), usage(50, 1)]))
    for name in ("viewer", "runner"):
        await create_user(admin, name)
        resp = await admin.post("/api/v1/workspaces/default/members",
                                json={"username": name, "role": name})
        assert resp.status in (200, 201), await resp.text()
    viewer, runner = await new_client(), await new_client()
    await login(viewer, "viewer", USER_PASSWORD)
    await login(runner, "runner", USER_PASSWORD)
    workflow_id = await create_workflow(admin, lookup_agent(llm, counting_server))
    resp = await runner.post("/api/v1/workflow-runs/execute/stream",
                             json={"workflowId": workflow_id, "inputs": {"text": "hi"}})
    run_id = resp.headers["X-Workflow-Run-Id"]
    base = f"/api/v1/workflow-runs/{run_id}/nodes/classify/tool-calls"

    assert await waiting_call(runner, run_id) == {
        "id": "call_1", "name": "lookup_customer", "args": {"id": "c-1"}}
    detail = await wait_for_status(runner, run_id, "waiting")
    (activity,) = detail["activityRuns"]
    assert activity["toolCalls"] == [{"id": "call_1", "name": "lookup_customer",
                                      "args": {"id": "c-1"}, "status": "waiting_approval",
                                      "output": None, "error": None}]
    assert counting_server.hits == {}  # nothing runs before a person says so
    resp = await viewer.post(f"{base}/call_1", json={"decision": "approve"})
    assert resp.status == 403
    resp = await runner.post(f"{base}/call_2", json={"decision": "approve"})
    assert resp.status == 409  # not the call that waits
    resp = await runner.post(f"{base}/call_1", json={"decision": "maybe"})
    assert resp.status == 400
    resp = await runner.post(f"{base}/call_1", json={"decision": "approve"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"] == {"id": "call_1", "nodeId": "classify",
                                           "decision": "approve"}

    assert (await waiting_call(runner, run_id))["id"] == "call_2"
    resp = await runner.post(f"{base}/call_2",
                             json={"decision": "reject", "reason": "not this customer"})
    assert resp.status == 200, await resp.text()
    assert (await waiting_call(runner, run_id))["id"] == "call_3"
    # While the node still works, the run detail lists the calls that already ran.
    detail = await wait_for_status(runner, run_id, "waiting")
    assert [(c["id"], c["status"]) for c in detail["activityRuns"][0]["toolCalls"]] == [
        ("call_1", "completed"), ("call_2", "rejected"), ("call_3", "waiting_approval")]
    assert detail["activityRuns"][0]["toolCalls"][1]["error"] == "not this customer"
    resp = await runner.post(f"{base}/call_3",
                             json={"decision": "approve", "args": {"id": "c-33"}})
    assert resp.status == 200, await resp.text()
    resp = await runner.post(f"{base}/call_3", json={"decision": "approve"})
    assert resp.status == 409  # answered already

    await resp.release()
    detail = await wait_for_status(runner, run_id, "completed")
    assert [c["status"] for c in detail["activityRuns"][0]["toolCalls"]] == [
        "completed", "rejected", "completed"]
    state = await runner.server.app[keys.ENGINE].run_state(run_id)  # type: ignore[index]
    calls = {c["id"]: c for c in state.output["classify"]["toolCalls"]}
    assert [calls[i]["status"] for i in ("call_1", "call_2", "call_3")] == [
        "completed", "rejected", "completed"]
    assert calls["call_3"]["args"] == {"id": "c-33"}
    assert calls["call_1"]["decision"]["by"] == "runner"
    assert counting_server.hits == {"c-1": 1, "c-33": 1}
    # The model hears of each call, the rejection and its reason included.
    results = [m for m in llm.requests[1][0]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["call_1", "call_2", "call_3"]
    assert "not this customer" in results[1]["content"]
    assert orjson.loads(results[2]["content"])["body"]["name"] == "c-33"


async def test_an_approved_call_shows_running_until_its_tool_answers(
    admin: TestClient, llm: FakeLLM, counting_server: CountingServer,
) -> None:
    llm.script(Reply([tool_call(0, "call_1", "lookup_customer", '{"id": "slow"}'),
                      chunk(finish="tool_calls")]),
               Reply([*text("done"), chunk(finish="stop")]))
    definition = lookup_agent(llm, counting_server)
    definition["nodes"][0]["params"]["tools"][0]["run"]["params"]["url"] = (
        f"{counting_server.base}/slow?sleep_first=30")
    workflow_id = await create_workflow(admin, definition)
    resp = await admin.post("/api/v1/workflow-runs/execute/stream",
                            json={"workflowId": workflow_id, "inputs": {"text": "hi"}})
    run_id = resp.headers["X-Workflow-Run-Id"]
    await waiting_call(admin, run_id)
    resp = await admin.post(f"/api/v1/workflow-runs/{run_id}/nodes/classify/tool-calls/call_1",
                            json={"decision": "approve", "args": {"id": "slow-2"}})
    assert resp.status == 200, await resp.text()
    await counting_server.until(lambda hits: hits.get("slow") == 1)
    detail = await wait_for_status(admin, run_id, "running")
    assert detail["activityRuns"][0]["toolCalls"] == [{
        "id": "call_1", "name": "lookup_customer", "args": {"id": "slow-2"},
        "status": "running", "output": None, "error": None}]
    resp = await admin.post("/api/v1/workflow-runs/cancel", json={"runIds": [run_id]})
    assert resp.status == 200, await resp.text()
    await wait_for_status(admin, run_id, "cancelled")
