"""The Splox dialect (seed 003): workflow requests and their listen stream."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from service.settings import Settings
from tests.dialects.helpers import (
    SEED_003_EVENT,
    SEED_003_NODE_STATUSES,
    SEED_003_REQUEST_STATUSES,
    SEED_003_SHORT,
    Api,
    assert_shape,
    make_api,
    read_stream,
)
from tests.support.auth import bearer, create_token
from tests.support.sse import SSEFrame, iter_frames

# Fields a run or node has not reached yet, or that only some runs have.
REQUEST_NULLABLE = frozenset({"parent_node_execution_id", "parent_workflow_request_id",
                              "chat_id", "started_at", "completed_at"})
NODE_NULLABLE = frozenset({"input_data", "output_data", "completed_at", "failed_at"})

CLASSIFY = [
    {"id": "agent-1", "type": "transform", "name": "Classify",
     "params": {"value": {"text": "Here is the result...", "for": "{{trigger.data.who}}"}}},
    {"id": "route", "type": "noop", "after": ["agent-1"]},
]
APPROVAL = [
    {"id": "ask", "type": "approval", "params": {"prompt": "go?"}},
    {"id": "done", "type": "transform", "after": ["ask"], "params": {"value": {"ok": True}}},
]


def _listen(request_id: str) -> str:
    return f"/api/v1/workflow-requests/{request_id}/listen"


def _messages(frames: list[SSEFrame]) -> list[SSEFrame]:
    return [f for f in frames if f.data != "keepalive"]


def _check_message(body: dict[str, Any]) -> None:
    """One listen event in seed 003's shape and words."""
    assert set(body) <= {"workflow_request", "node_execution"}
    assert "workflow_request" in body
    request = body["workflow_request"]
    assert_shape(request, SEED_003_EVENT["workflow_request"], REQUEST_NULLABLE)
    assert request["status"] in SEED_003_REQUEST_STATUSES
    uuid.UUID(request["id"]), uuid.UUID(request["workflow_version_id"])
    if "node_execution" in body:
        node = body["node_execution"]
        assert_shape(node, SEED_003_EVENT["node_execution"], NODE_NULLABLE)
        assert node["status"] in SEED_003_NODE_STATUSES
        assert node["workflow_request_id"] == request["id"]
        uuid.UUID(node["id"])
    for part, short in SEED_003_SHORT.items():  # the short example's fields are all there
        if part in body:
            assert set(short) <= set(body[part])


async def _create(api: Api, workflow_id: str, payload: dict[str, Any],
                  headers: dict[str, str]) -> dict[str, Any]:
    resp = await api.client.post("/api/v1/workflow-requests", headers=headers,
                                 json={"workflow_id": workflow_id, "payload": payload})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return body


async def test_create_answers_with_a_seed_003_workflow_request(api: Api) -> None:
    headers = await api.token_headers()
    workflow_id = await api.workflow(APPROVAL)
    created = await _create(api, workflow_id, {"who": "ada"}, headers)
    assert_shape(created, SEED_003_EVENT["workflow_request"], REQUEST_NULLABLE)
    assert created["status"] in SEED_003_REQUEST_STATUSES
    assert created["payload"] == {"who": "ada"}
    assert created["start_node_id"] == "ask"  # our node's string id, not a UUID
    assert created["metadata"]["workflow_id"] == workflow_id
    run = await api.wait_status(created["id"], "waiting")
    assert run["workflowId"] == workflow_id


async def test_listen_replays_a_finished_run_then_closes(api: Api) -> None:
    headers = await api.token_headers()
    created = await _create(api, await api.workflow(CLASSIFY), {"who": "ada"}, headers)
    await api.wait_status(created["id"], "completed")
    status, frames, response_headers = await read_stream(
        api.client, "GET", _listen(created["id"]), headers=headers)
    assert status == 200
    assert response_headers["Content-Type"] == "text/event-stream"
    messages = _messages(frames)
    assert all(f.id for f in messages)
    bodies = [f.json() for f in messages]
    for body in bodies:
        _check_message(body)
    # Run changes carry the workflow_request only; node changes carry both.
    assert [b["workflow_request"]["status"] for b in bodies if "node_execution" not in b] == [
        "pending", "in_progress", "completed"]
    nodes = [(b["node_execution"]["node_id"], b["node_execution"]["status"])
             for b in bodies if "node_execution" in b]
    assert nodes == [("agent-1", "in_progress"), ("agent-1", "completed"),
                     ("route", "in_progress"), ("route", "completed")]
    agent_done = bodies[3]["node_execution"]
    assert agent_done["output_data"] == {"text": "Here is the result...", "for": "ada"}
    assert agent_done["attempt_count"] == 1
    assert agent_done["completed_at"]
    final = bodies[-1]["workflow_request"]
    assert final["completed_at"]
    assert final["started_at"]


async def test_listen_replays_then_goes_live_until_the_run_ends(api: Api) -> None:
    headers = await api.token_headers()
    created = await _create(api, await api.workflow(APPROVAL), {}, headers)
    await api.wait_status(created["id"], "waiting")
    resp = await api.client.get(_listen(created["id"]), headers=headers)
    bodies: list[dict[str, Any]] = []
    approved: asyncio.Task[None] | None = None

    async def read_all() -> None:
        nonlocal approved
        async for frame in iter_frames(resp):
            if not frame.data_lines or frame.data == "keepalive":
                continue
            bodies.append(frame.json())
            node = bodies[-1].get("node_execution")
            if approved is None and node and node["status"] == "waiting":
                # The replay has reached the present: answer the approval now.
                approved = asyncio.ensure_future(api.approve(created["id"], "ask"))

    await asyncio.wait_for(read_all(), 10)  # returns when the server closes the stream
    resp.close()
    assert approved is not None
    await approved
    for body in bodies:
        _check_message(body)
    waiting = next(i for i, b in enumerate(bodies)
                   if b.get("node_execution", {}).get("status") == "waiting")
    assert bodies[waiting]["workflow_request"]["status"] == "in_progress"
    live = [(b.get("node_execution", {}).get("node_id"),
             b.get("node_execution", {}).get("status"), b["workflow_request"]["status"])
            for b in bodies[waiting + 1:]]
    assert ("ask", "completed", "in_progress") in live or ("ask", "completed", "waiting") in live
    assert ("done", "completed", "in_progress") in live
    assert live[-1] == (None, None, "completed")


async def test_keepalive_every_configured_interval_without_an_id(api: Api) -> None:
    headers = await api.token_headers()
    created = await _create(api, await api.workflow(APPROVAL), {}, headers)
    await api.wait_status(created["id"], "waiting")
    loop = asyncio.get_running_loop()
    times: list[float] = []

    def enough(frame: SSEFrame) -> bool:
        if frame.data == "keepalive":
            assert frame.id is None
            times.append(loop.time())
        return len(times) >= 4

    await read_stream(api.client, "GET", _listen(created["id"]), headers=headers,
                      until=enough, within_s=5)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(0.15 <= gap <= 0.6 for gap in gaps), gaps  # configured: 0.2 s


async def test_connections_end_after_the_maximum_duration(
    aiohttp_server: Any, aiohttp_client: Any, dialect_settings: Settings,
) -> None:
    api = await make_api(aiohttp_server, aiohttp_client,
                         dialect_settings.replace(splox_max_duration_s=0.5))
    created = await _create(api, await api.workflow(APPROVAL), {}, {})
    await api.wait_status(created["id"], "waiting")
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, frames, _ = await read_stream(api.client, "GET", _listen(created["id"]), within_s=5)
    assert status == 200
    assert 0.4 <= loop.time() - started < 3
    assert (await api.run(created["id"]))["status"] == "waiting"  # only the stream ended


async def test_access_errors(api: Api) -> None:
    headers = await api.token_headers()
    workflow_id = await api.workflow(CLASSIFY)
    created = await _create(api, workflow_id, {}, headers)
    anon = await api.new_client()
    assert (await anon.get(_listen(created["id"]))).status == 401
    bad_token = {"Authorization": "Bearer rs_not-a-token"}
    assert (await anon.get(_listen(created["id"]), headers=bad_token)).status == 401
    assert (await anon.get(_listen("nope"), headers=headers)).status == 400
    assert (await anon.get(_listen(str(uuid.uuid4())), headers=headers)).status == 404
    assert (await anon.get(_listen(created["id"]), headers={
        **headers, "Last-Event-ID": "x1"})).status == 400
    for body, expected in (({"payload": {}}, 400), ({"workflow_id": "nope"}, 400),
                           ({"workflow_id": workflow_id, "payload": [1]}, 400),
                           ({"workflow_id": str(uuid.uuid4())}, 404)):
        resp = await anon.post("/api/v1/workflow-requests", json=body, headers=headers)
        assert resp.status == expected, (body, await resp.json())
    assert (await anon.post("/api/v1/workflow-requests",
                            json={"workflow_id": workflow_id})).status == 401
    # A request is visible to its workspace only; starting one needs the runner role.
    outsider = await api.user("outsider", role=None)
    outsider_headers = bearer((await create_token(outsider))["token"])
    assert (await anon.get(_listen(created["id"]), headers=outsider_headers)).status == 404
    viewer = await api.user("viewer", role="viewer")
    viewer_headers = bearer((await create_token(viewer))["token"])
    resp = await anon.post("/api/v1/workflow-requests", headers=viewer_headers,
                           json={"workflow_id": workflow_id})
    assert resp.status == 403


async def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(api: Api) -> None:
    headers = await api.token_headers()
    created = await _create(api, await api.workflow(APPROVAL), {}, headers)
    url = _listen(created["id"])
    await api.wait_status(created["id"], "waiting")
    _, first, _ = await read_stream(
        api.client, "GET", url, headers=headers,
        until=lambda f: f.data != "keepalive"
        and f.json().get("node_execution", {}).get("status") == "waiting")
    await api.approve(created["id"], "ask")  # committed while the client is away
    await api.wait_status(created["id"], "completed")
    first = _messages(first)
    _, rest, _ = await read_stream(api.client, "GET", url,
                                   headers={**headers, "Last-Event-ID": first[-1].id or ""})
    _, whole, _ = await read_stream(api.client, "GET", url, headers=headers)
    rest, whole = _messages(rest), _messages(whole)
    # The objects in a resumed stream are as they were at each event, as a live one saw.
    assert [(f.id, f.data) for f in first + rest] == [(f.id, f.data) for f in whole]
    for index, frame in enumerate(whole):
        status, tail, _ = await read_stream(
            api.client, "GET", url, headers={**headers, "Last-Event-ID": frame.id or ""})
        if index == len(whole) - 1:
            assert status == 204
        else:
            assert [f.data for f in _messages(tail)] == [f.data for f in whole[index + 1:]]
