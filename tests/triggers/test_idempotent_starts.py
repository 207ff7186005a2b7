"""Idempotency-Key on every execute endpoint: a retry gets the first request's run."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service import keys
from service.triggers import idempotency
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW, create_workflow
from tests.support.auth import ClientFactory, create_user, login
from tests.support.sse import read_frames


async def _run_count(client: TestClient, workflow_id: str) -> int:
    resp = await client.get("/api/v1/workflow-runs", params={"workflowId": workflow_id})
    return int((await resp.json())["pagination"]["total"])


async def _chat_id(client: TestClient) -> str:
    resp = await client.post("/api/chats", json={"title": "retries"})
    return str((await resp.json())["data"]["id"])


@dataclass(frozen=True)
class Caller:
    client: TestClient
    chat_id: str = ""


Start = Callable[[Caller, str, str, dict[str, Any]], Awaitable[tuple[int, str]]]


async def _v1_execute(caller: Caller, workflow_id: str, key: str,
                      inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post("/api/v1/workflow-runs/execute", headers={"Idempotency-Key": key},
                             json={"workflowId": workflow_id, "inputs": inputs})
    body = await resp.json()
    return resp.status, body["data"]["id"] if resp.status == 200 else body["error"]["code"]


async def _v1_stream(caller: Caller, workflow_id: str, key: str,
                     inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post("/api/v1/workflow-runs/execute/stream",
                             headers={"Idempotency-Key": key},
                             json={"workflowId": workflow_id, "inputs": inputs})
    run_id = resp.headers.get("X-Workflow-Run-Id", "")
    if resp.status == 200:
        await read_frames(resp)
    else:
        run_id = (await resp.json())["error"]["code"]
    resp.close()
    return resp.status, run_id


async def _chat_start(caller: Caller, workflow_id: str, key: str,
                      inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post(f"/api/chats/{caller.chat_id}/workflow-runs",
                             headers={"Idempotency-Key": key},
                             json={"workflowId": workflow_id, "inputs": inputs})
    body = await resp.json()
    return resp.status, body["data"]["id"] if resp.status == 201 else body["error"]["code"]


async def _flowtrux_execute(caller: Caller, workflow_id: str, key: str,
                            inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post(f"/api/workflows/{workflow_id}/execute",
                             headers={"Idempotency-Key": key}, json=inputs)
    body = await resp.json()
    return resp.status, body["executionId"] if resp.status == 200 else body["error"]["code"]


async def _flowtrux_stream(caller: Caller, workflow_id: str, key: str,
                           inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post(f"/api/workflows/{workflow_id}/execute/stream",
                             headers={"Idempotency-Key": key}, json=inputs)
    run_id = resp.headers.get("X-Execution-Id", "")
    if resp.status == 200:
        await read_frames(resp)
    else:
        run_id = (await resp.json())["error"]["code"]
    resp.close()
    return resp.status, run_id


async def _splox_start(caller: Caller, workflow_id: str, key: str,
                       inputs: dict[str, Any]) -> tuple[int, str]:
    resp = await caller.client.post("/api/v1/workflow-requests", headers={"Idempotency-Key": key},
                             json={"workflow_id": workflow_id, "payload": inputs})
    body = await resp.json()
    return resp.status, body["id"] if resp.status == 201 else body["error"]["code"]


STARTS: dict[str, Start] = {
    "v1 execute": _v1_execute, "v1 execute/stream": _v1_stream, "chat start": _chat_start,
    "FlowTrux execute": _flowtrux_execute, "FlowTrux execute/stream": _flowtrux_stream,
    "Splox start": _splox_start,
}


@pytest.fixture
async def caller(admin: TestClient) -> Caller:
    """The admin, with a chat of theirs for the chat dialect."""
    return Caller(admin, await _chat_id(admin))


@pytest.mark.parametrize("endpoint", list(STARTS))
async def test_a_retry_with_the_same_key_gets_the_first_run(
        caller: Caller, endpoint: str) -> None:
    start = STARTS[endpoint]
    workflow_id = await create_workflow(caller.client, QUICK_WORKFLOW)
    status, first = await start(caller, workflow_id, "order-1", {"n": 1})
    assert status in (200, 201), first
    status, again = await start(caller, workflow_id, "order-1", {"n": 1})
    assert status in (200, 201)
    assert again == first
    assert await _run_count(caller.client, workflow_id) == 1
    status, other = await start(caller, workflow_id, "order-2", {"n": 1})
    assert other != first
    assert await _run_count(caller.client, workflow_id) == 2


@pytest.mark.parametrize("endpoint", list(STARTS))
async def test_the_same_key_with_another_body_is_422_and_starts_nothing(
        caller: Caller, endpoint: str) -> None:
    start = STARTS[endpoint]
    workflow_id = await create_workflow(caller.client, QUICK_WORKFLOW)
    await start(caller, workflow_id, "order-1", {"n": 1})
    status, code = await start(caller, workflow_id, "order-1", {"n": 2})
    assert (status, code) == (422, "idempotency_key_reused")
    assert await _run_count(caller.client, workflow_id) == 1


async def test_the_key_of_one_endpoint_is_refused_on_another(caller: Caller) -> None:
    workflow_id = await create_workflow(caller.client, QUICK_WORKFLOW)
    await _v1_execute(caller, workflow_id, "k", {"n": 1})
    assert await _flowtrux_execute(caller, workflow_id, "k", {"n": 1}) == (
        422, "idempotency_key_reused")


async def test_twenty_concurrent_identical_requests_start_one_run(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    answers = await asyncio.gather(*(_v1_execute(Caller(admin), workflow_id, "burst", {"n": 3})
                                     for _ in range(20)))
    assert {status for status, _ in answers} == {200}
    assert len({run_id for _, run_id in answers}) == 1
    assert await _run_count(admin, workflow_id) == 1


async def test_keys_belong_to_their_caller(admin: TestClient, new_client: ClientFactory) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    user = await create_user(admin, "runner1")
    resp = await admin.post("/api/v1/workspaces/default/members",
                            json={"userId": user["id"], "role": "runner"})
    assert resp.status == 201
    other = await new_client()
    await login(other, "runner1", "user-secret-pw")
    _, mine = await _v1_execute(Caller(admin), workflow_id, "shared", {"n": 1})
    status, theirs = await _v1_execute(Caller(other), workflow_id, "shared", {"n": 1})
    assert status == 200
    assert theirs != mine
    assert await _run_count(admin, workflow_id) == 2


async def test_a_retried_stream_attaches_to_the_first_run_from_its_start(
        admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    body = {"workflowId": workflow_id, "inputs": {"x": 1}}
    headers = {"Idempotency-Key": "stream-1"}
    first = await admin.post("/api/v1/workflow-runs/execute/stream", json=body, headers=headers)
    run_id = first.headers["X-Workflow-Run-Id"]
    first_frames = await read_frames(first, limit=3)
    first.close()  # the client drops; onDisconnect=continue keeps the run
    second = await admin.post("/api/v1/workflow-runs/execute/stream", json=body,
                              headers=headers)
    assert second.headers["X-Workflow-Run-Id"] == run_id
    resp = await admin.post(f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume",
                            json={"approved": True})
    assert resp.status == 200
    frames = await read_frames(second)
    assert [f.id for f in frames[:3]] == [f.id for f in first_frames]  # from the run's start
    assert frames[-1].event == "result"
    assert await _run_count(admin, workflow_id) == 1


async def test_the_log_records_the_key_with_the_run(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    _, run_id = await _v1_execute(Caller(admin), workflow_id, "logged", {"n": 1})
    resp = await admin.get(f"/api/v1/workflow-runs/{run_id}/events")
    events = (await resp.json())["data"]
    created = next(e for e in events if e["type"] == "RunCreated")
    assert created["data"]["idempotencyKey"] == "logged"


async def test_a_key_is_forgotten_after_24_hours(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    _, first = await _v1_execute(Caller(admin), workflow_id, "daily", {"n": 1})
    claims = admin.server.app[keys.IDEMPOTENCY]
    claims.clock = lambda: time.time() + idempotency.KEY_TTL_S + 1
    status, later = await _v1_execute(Caller(admin), workflow_id, "daily", {"n": 2})
    assert status == 200
    assert later != first


async def test_a_claim_whose_run_was_never_recorded_is_started_by_the_retry(
        admin: TestClient) -> None:
    """A crash between the claim and RunCreated: the retry starts the claimed run, once."""
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    me = (await (await admin.get("/api/v1/auth/me")).json())["data"]["id"]
    claimed = str(uuid.uuid4())
    digest = idempotency.fingerprint({
        "path": "/api/v1/workflow-runs/execute", "workflowId": workflow_id,
        "inputs": {"n": 1}, "envs": {}, "chatId": None})
    await admin.server.app[keys.IDEMPOTENCY].claim(me, "crashed", digest, claimed)
    assert await _v1_execute(Caller(admin), workflow_id, "crashed", {"n": 1}) == (200, claimed)
    assert await _v1_execute(Caller(admin), workflow_id, "crashed", {"n": 1}) == (200, claimed)
    assert await _run_count(admin, workflow_id) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_a_malformed_key_is_400_and_starts_nothing(admin: TestClient, key: str) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    resp = await admin.post("/api/v1/workflow-runs/execute",
                            headers={"Idempotency-Key": key},
                            json={"workflowId": workflow_id, "inputs": {}})
    assert resp.status == 400, await resp.text()
    assert await _run_count(admin, workflow_id) == 0
