"""The FlowTrux dialect (seed 002): execute, streaming execute, disconnect and resume."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from service.settings import Settings
from tests.dialects.helpers import (
    SEED_002_FRAMES,
    SEED_002_LOG_KEYS,
    SEED_002_START_KEYS,
    SEED_002_TERMINAL,
    Api,
    assert_shape,
    make_app,
    read_stream,
    seed_frames,
)
from tests.support.auth import ADMIN_PASSWORD
from tests.support.polling import wait_for
from tests.support.sse import SSEFrame, iter_frames

TERMINAL = set(SEED_002_TERMINAL)
CLASSIFY = {
    "name": "Classify ticket",
    "trigger": {"staticData": {"priority": "normal", "queue": "support"}},
    "nodes": [
        {"id": "agent-1", "type": "transform", "name": "Classify ticket",
         "params": {"value": {"customer": "{{trigger.data.customerId}}",
                              "priority": "{{trigger.data.priority}}",
                              "queue": "{{inputs.queue}}"}}},
        {"id": "route", "type": "noop", "name": "Route", "after": ["agent-1"]},
    ],
}
FAILING = [{"id": "boom", "type": "fail", "name": "Boom", "params": {"message": "bad ticket"}}]
APPROVAL = [
    {"id": "ask", "type": "approval", "name": "Ask", "params": {"prompt": "go?"}},
    {"id": "done", "type": "transform", "after": ["ask"], "params": {"value": {"ok": True}}},
]


def _stream(workflow_id: str) -> str:
    return f"/api/workflows/{workflow_id}/execute/stream"


def _resume(workflow_id: str, run_id: str) -> str:
    return f"/api/workflows/{workflow_id}/executions/{run_id}/stream"


def _terminals(frames: list[SSEFrame]) -> list[SSEFrame]:
    return [f for f in frames if f.event in TERMINAL]


def _check_terminal(frames: list[SSEFrame], event: str, run_id: str) -> dict[str, Any]:
    """Exactly one terminal event, the last frame, with seed 002's payload for it."""
    assert [f.event for f in _terminals(frames)] == [event]
    assert frames[-1].event == event
    body: dict[str, Any] = frames[-1].json()
    assert_shape(body, SEED_002_TERMINAL[event])
    expected = {**SEED_002_TERMINAL[event], "executionId": run_id}
    if event == "error":
        expected["error"] = body["error"]
    assert body == expected
    return body


async def _definition_workflow(api: Api, definition: dict[str, Any]) -> str:
    body = await api.json("POST", "/api/v1/workflows", 201, json=definition)
    return str(body["data"]["id"])


async def test_stream_matches_seed_002_and_merges_body_over_static_data(api: Api) -> None:
    workflow_id = await _definition_workflow(api, CLASSIFY)
    status, frames, headers = await read_stream(
        api.client, "POST", _stream(workflow_id),
        json={"customerId": "cust-789", "priority": "high"})
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    run_id = headers["X-Execution-Id"]
    assert [f.event for f in frames] == [
        "start", "node_start", "node_complete", "node_start", "node_complete", "complete"]
    assert all(f.id for f in frames)
    assert set(frames[0].json()) == SEED_002_START_KEYS
    assert frames[0].json()["workflowId"] == workflow_id
    assert frames[0].json()["workflowName"] == "Classify ticket"
    seed = {f.event: f.json() for f in seed_frames(SEED_002_FRAMES)}
    assert_shape(frames[1].json(), seed["node_start"])
    # The seed's node, in our words: an "agent" node is a transform here.
    assert frames[1].json() == {**seed["node_start"], "nodeType": "transform"}
    log = frames[2].json()
    assert set(log) >= SEED_002_LOG_KEYS
    assert log["status"] == "success"
    assert isinstance(log["durationMs"], int)
    assert log["error"] is None
    # The request body merged over trigger.staticData (the body wins on conflicts).
    assert log["output"] == {"customer": "cust-789", "priority": "high", "queue": "support"}
    _check_terminal(frames, "complete", run_id)
    # The seed's short example of `complete` is a subset of ours.
    short = frames[-1].json()
    assert_shape({key: short[key] for key in seed["complete"]}, seed["complete"])


async def test_node_failure_ends_with_exactly_one_error_event(api: Api) -> None:
    workflow_id = await api.workflow(FAILING)
    _, frames, headers = await read_stream(api.client, "POST", _stream(workflow_id), json={})
    assert [f.event for f in frames] == ["start", "node_start", "node_complete", "error"]
    log = frames[2].json()
    assert log["status"] == "error"
    assert log["error"] == "bad ticket"
    assert isinstance(log["durationMs"], int)
    body = _check_terminal(frames, "error", headers["X-Execution-Id"])
    assert "bad ticket" in body["error"]


async def test_closing_the_connection_cancels_the_run(api: Api) -> None:
    workflow_id = await api.workflow(APPROVAL)
    _, frames, headers = await read_stream(
        api.client, "POST", _stream(workflow_id), json={},
        until=lambda f: f.event == "node_start")
    run_id = headers["X-Execution-Id"]
    run = await api.wait_status(run_id, "cancelled", within_s=5)
    assert run["cancelReason"] == "Execution cancelled by user"
    _, replay, _ = await read_stream(api.client, "GET", _resume(workflow_id, run_id))
    assert [f.event for f in replay] == ["start", "node_start", "node_complete", "cancelled"]
    assert replay[2].json()["status"] == "cancelled"
    _check_terminal(replay, "cancelled", run_id)


async def test_disconnect_cancels_without_handler_cancellation(
    dialect_settings: Settings,
) -> None:
    """As `runstream serve` runs it (aiohttp's default): the stream layer notices the
    client is gone by itself, not because the server cancelled the handler."""
    runner = web.AppRunner(make_app(dialect_settings))  # handler_cancellation=False
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        async with aiohttp.ClientSession(base, cookie_jar=jar) as session:
            resp = await session.post("/api/v1/auth/login",
                                      json={"username": "admin", "password": ADMIN_PASSWORD})
            assert resp.status == 200
            resp = await session.post("/api/v1/workflows",
                                      json={"name": "Waits", "nodes": APPROVAL})
            workflow_id = (await resp.json())["data"]["id"]
            resp = await session.post(_stream(workflow_id), json={})
            run_id = resp.headers["X-Execution-Id"]
            async for frame in iter_frames(resp):
                if frame.event == "node_start":
                    break
            resp.close()
            async def cancelled() -> dict[str, Any] | None:
                run = await (await session.get(f"/api/v1/workflow-runs/{run_id}")).json()
                return dict(run["data"]) if run["data"]["status"] == "cancelled" else None

            run = await wait_for(cancelled, 5, f"run {run_id} was not cancelled", every_s=0.05)
            assert run["cancelReason"] == "Execution cancelled by user"
    finally:
        await runner.cleanup()


async def test_continue_on_disconnect_keeps_the_run_going(api: Api) -> None:
    workflow_id = await _definition_workflow(api, {
        "name": "Keeps going", "trigger": {"continueOnDisconnect": True}, "nodes": APPROVAL})
    _, _, headers = await read_stream(
        api.client, "POST", _stream(workflow_id), json={},
        until=lambda f: f.event == "node_start")
    run_id = headers["X-Execution-Id"]
    await asyncio.sleep(1.5)  # longer than the stream layer's disconnect poll
    assert (await api.run(run_id))["status"] == "waiting"
    await api.approve(run_id, "ask")
    _, replay, _ = await read_stream(api.client, "GET", _resume(workflow_id, run_id))
    _check_terminal(replay, "complete", run_id)


async def test_cancel_through_the_api_ends_the_stream_with_one_cancelled_event(
    api: Api,
) -> None:
    workflow_id = await api.workflow(APPROVAL)
    resp = await api.client.post(_stream(workflow_id), json={})
    run_id = resp.headers["X-Execution-Id"]
    await api.wait_status(run_id, "waiting")
    await api.json("POST", "/api/v1/workflow-runs/cancel",
                   json={"runIds": [run_id], "reason": "stop button"})
    frames = [f async for f in iter_frames(resp) if f.data_lines]  # ends when the server closes
    resp.close()
    assert [f.event for f in frames] == ["start", "node_start", "node_complete", "cancelled"]
    _check_terminal(frames, "cancelled", run_id)


async def test_execute_answers_with_the_result_and_execution_id(api: Api) -> None:
    workflow_id = await _definition_workflow(api, CLASSIFY)
    body = await api.json("POST", f"/api/workflows/{workflow_id}/execute",
                          json={"customerId": "c1"})
    assert body["success"] is True
    assert body["cancelled"] is False
    assert body["error"] is None
    run = await api.run(body["executionId"])
    assert run["status"] == "completed"
    assert body["output"] == {"route": None}
    assert [log["nodeId"] for log in body["logs"]] == ["agent-1", "route"]
    assert body["logs"][0]["output"]["customer"] == "c1"
    # No body at all is an empty trigger payload.
    resp = await api.client.post(f"/api/workflows/{workflow_id}/execute",
                                 headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert (await resp.json())["success"] is True


async def test_access_errors(api: Api) -> None:
    workflow_id = await api.workflow(FAILING)
    anon = await api.new_client()
    assert (await anon.post(_stream(workflow_id), json={})).status == 401
    assert (await api.client.post(_stream("nope"), json={})).status == 400
    assert (await api.client.post(_stream(str(uuid.uuid4())), json={})).status == 404
    resp = await api.client.post(_stream(workflow_id), data=b"[1]",
                                 headers={"Content-Type": "application/json"})
    assert resp.status == 400
    run_id = (await api.json("POST", f"/api/workflows/{workflow_id}/execute"
                             , json={}))["executionId"]
    other = await api.workflow(FAILING, name="Other")
    assert (await api.client.get(_resume(other, run_id))).status == 404
    # canExecute: a viewer may read an execution but not start one; outsiders see nothing.
    viewer = await api.user("viewer", role="viewer")
    assert (await viewer.post(_stream(workflow_id), json={})).status == 403
    assert (await viewer.post(f"/api/workflows/{workflow_id}/execute", json={})).status == 403
    assert (await viewer.get(_resume(workflow_id, run_id))).status == 200
    outsider = await api.user("outsider", role=None)
    assert (await outsider.post(_stream(workflow_id), json={})).status == 404
    assert (await outsider.get(_resume(workflow_id, run_id))).status == 404


async def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(api: Api) -> None:
    workflow_id = await _definition_workflow(api, {
        "name": "Resumable", "trigger": {"continueOnDisconnect": True}, "nodes": APPROVAL})
    _, first, headers = await read_stream(
        api.client, "POST", _stream(workflow_id), json={},
        until=lambda f: f.event == "node_start")
    run_id = headers["X-Execution-Id"]
    url = headers["X-Execution-Stream"]
    assert url == _resume(workflow_id, run_id)
    await api.wait_status(run_id, "waiting")
    await api.approve(run_id, "ask")  # committed while the client is away
    await api.wait_status(run_id, "completed")
    _, rest, _ = await read_stream(api.client, "GET", url,
                                   headers={"Last-Event-ID": first[-1].id or ""})
    _, whole, _ = await read_stream(api.client, "GET", url)
    assert [(f.id, f.event, f.data) for f in first + rest] == [
        (f.id, f.event, f.data) for f in whole]
    for index, frame in enumerate(whole):
        status, tail, _ = await read_stream(api.client, "GET", url,
                                            headers={"Last-Event-ID": frame.id or ""})
        if index == len(whole) - 1:
            assert status == 204
        else:
            assert [(f.event, f.data) for f in tail] == [
                (f.event, f.data) for f in whole[index + 1:]]
            assert len(_terminals(tail)) == 1
