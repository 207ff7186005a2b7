"""Each response mode of a webhook, against a real `runstream serve` process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.api import APPROVAL_WORKFLOW
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow
from tests.support.sse import read_frames
from tests.triggers.webhook_helpers import ECHO_WORKFLOW, STRIPE, stripe_signature

WAIT_S = 2
BODY = orjson.dumps({"action": "deployed"})


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Api]]:
    server = ServerProcess(tmp_path / "data", webhook_wait_s=WAIT_S)
    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        yield server, api
    finally:
        await api.close()
        await server.stop()


async def make_webhook(api: Api, config: dict[str, Any],
                       workflow: dict[str, Any] = ECHO_WORKFLOW) -> dict[str, Any]:
    status, body = await api.request("PUT", "/api/v1/workspaces/default/secrets/HOOK_SECRET",
                                     json={"value": "whsec-d41d8cd98f00b204e9800998ecf8427e"})
    assert status in (200, 201), body
    workflow_id = await create_workflow(api, workflow)
    status, body = await api.request("POST", f"/api/v1/workflows/{workflow_id}/webhooks",
                                     json=config)
    assert status == 201, body
    return dict(body["data"])


@pytest.mark.parametrize("mode", ["immediate", "minimal"])
async def test_immediate_answers_202_with_the_run_at_once(
        served: tuple[ServerProcess, Api], mode: str) -> None:
    server, api = served
    # A run that waits for approval: the answer cannot have waited for it.
    webhook = await make_webhook(api, {**STRIPE, "responseMode": mode}, APPROVAL_WORKFLOW)
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base + webhook["url"], data=BODY, headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature(BODY)}) as resp:
            answer = await resp.json()
            assert resp.status == 202, answer
    assert answer["streamUrl"] == f"/api/v1/workflow-runs/{answer['runId']}/stream"
    status, run = await api.request("GET", f"/api/v1/workflow-runs/{answer['runId']}")
    assert status == 200
    assert run["data"]["triggeredBy"] == {"kind": "webhook", "id": webhook["id"]}


async def test_last_node_answers_200_with_the_run_output(
        served: tuple[ServerProcess, Api]) -> None:
    server, api = served
    webhook = await make_webhook(api, {**STRIPE, "responseMode": "lastNode"})
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base + webhook["url"], data=BODY, headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature(BODY)}) as resp:
            answer = await resp.json()
            assert resp.status == 200, answer
    assert answer["status"] == "completed"
    assert answer["output"]["echo"]["action"] == "deployed"
    assert answer["error"] is None


async def test_last_node_answers_202_when_the_run_outlasts_the_wait(
        served: tuple[ServerProcess, Api]) -> None:
    server, api = served
    webhook = await make_webhook(api, {**STRIPE, "responseMode": "lastNode"},
                                 APPROVAL_WORKFLOW)
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base + webhook["url"], data=BODY, headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature(BODY)}) as resp:
            answer = await resp.json()
            assert resp.status == 202, answer
    status, run = await api.request("GET", f"/api/v1/workflow-runs/{answer['runId']}")
    assert run["data"]["status"] == "waiting"
    status, listed = await api.request(
        "GET", f"/api/v1/workflows/{webhook['workflowId']}/webhooks/{webhook['id']}"
               "/deliveries")
    assert [(d["status"], d["runId"]) for d in listed["data"]] == [(202, answer["runId"])]


async def test_stream_answers_the_runs_v1_event_stream(
        served: tuple[ServerProcess, Api]) -> None:
    server, api = served
    webhook = await make_webhook(api, {**STRIPE, "responseMode": "stream",
                                       "idempotencyHeader": "X-Delivery"})
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json", "X-Delivery": "once",
                   "Stripe-Signature": stripe_signature(BODY)}
        async with http.post(server.base + webhook["url"], data=BODY,
                             headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            run_id = resp.headers["X-Workflow-Run-Id"]
            frames = [f for f in await asyncio.wait_for(read_frames(resp), 20) if f.data_lines]
        # A repeat attaches to the same run's stream from its start.
        async with http.post(server.base + webhook["url"], data=BODY,
                             headers=headers) as again:
            assert again.headers["X-Workflow-Run-Id"] == run_id
            repeated = [f for f in await asyncio.wait_for(read_frames(again), 20)
                        if f.data_lines]
    events = [frame.event for frame in frames]
    assert events[0] == "workflow-run", events
    assert events[-1] == "result", events
    assert "activity-run" in events
    result = frames[-1].json()
    assert result["workflowRun"]["id"] == run_id
    assert result["workflowRun"]["outputs"]["echo"]["action"] == "deployed"
    assert [f.event for f in repeated] == events
