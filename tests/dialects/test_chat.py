"""The chat dialect (seeds 000 and 001): chats, runs in a chat, their list and stream."""

from __future__ import annotations

import uuid
from typing import Any

from tests.dialects.helpers import (
    SEED_000_ERRORS,
    SEED_000_FIELDS,
    SEED_000_STREAM,
    SEED_001_BODY,
    SEED_001_RUN_STATUSES,
    Api,
    assert_shape,
    read_stream,
    seed_frames,
)

# Seed 000's example run: a searching step that reports progress, then a summary.
SEARCH_THEN_SUMMARIZE = [
    {"id": "step-1", "type": "delay", "name": "Search", "params": {"ms": 1000}},
    {"id": "step-2", "type": "transform", "name": "Summarize", "after": ["step-1"],
     "params": {"value": {"summary": "..."}}},
]
FAILING = [{"id": "step-1", "type": "fail", "params": {"message": "no results"}}]
APPROVAL = [
    {"id": "ask", "type": "approval", "params": {"prompt": "go?"}},
    {"id": "done", "type": "transform", "after": ["ask"], "params": {"value": {"ok": True}}},
]


async def _chat(api: Api) -> str:
    body = await api.json("POST", "/api/chats", 201, json={"title": "dialect tests"})
    return str(body["data"]["id"])


async def _start(api: Api, chat_id: str, workflow_id: str, **extra: Any) -> dict[str, Any]:
    body = await api.json("POST", f"/api/chats/{chat_id}/workflow-runs", 201,
                          json={"workflowId": workflow_id, **extra})
    return dict(body["data"])


def _stream_url(chat_id: str, run_id: str) -> str:
    return f"/api/chats/{chat_id}/workflow-runs/{run_id}/stream"


async def test_stream_matches_seed_000_example_frame_by_frame(api: Api) -> None:
    chat_id = await _chat(api)
    workflow_id = await api.workflow(SEARCH_THEN_SUMMARIZE)
    run = await _start(api, chat_id, workflow_id)
    status, frames, headers = await read_stream(api.client, "GET", _stream_url(chat_id, run["id"]))
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    seed = seed_frames(SEED_000_STREAM)
    # Data-only frames, each with the log position as id.
    assert all(frame.event == "message" and frame.id for frame in frames)
    assert [f.json()["type"] for f in frames] == [f.json()["type"] for f in seed]
    for ours, example in zip(frames, seed, strict=True):
        assert_shape(ours.json(), example.json())
    body = [f.json() for f in frames]
    assert body[0] == {"type": "run_started", "runId": run["id"], "workflowId": workflow_id}
    assert body[1] == {"type": "step_started", "stepId": "step-1", "toolId": "delay"}
    assert body[3]["result"] == {"delayedMs": 1000}
    assert body[5]["result"] == {"summary": "..."}
    assert body[-1] == {"type": "run_completed", "runId": run["id"], "status": "completed"}


async def test_failed_step_and_run_carry_seed_000_fields(api: Api) -> None:
    chat_id = await _chat(api)
    run = await _start(api, chat_id, await api.workflow(FAILING))
    _, frames, _ = await read_stream(api.client, "GET", _stream_url(chat_id, run["id"]))
    body = [f.json() for f in frames]
    assert [b["type"] for b in body] == ["run_started", "step_started", "step_failed",
                                         "run_failed"]
    for item in body[2:]:
        assert set(item) == {"type", *SEED_000_FIELDS[item["type"]]}
        assert isinstance(item["error"], str)
    assert body[2] == {"type": "step_failed", "stepId": "step-1", "error": "no results"}
    assert body[3]["runId"] == run["id"]
    assert "no results" in body[3]["error"]


async def test_list_matches_seed_001_envelope_with_steps(api: Api) -> None:
    chat_id = await _chat(api)
    workflow_id = await api.workflow(
        [{"id": "step-1", "type": "transform", "params": {"value": 1}}])
    run = await _start(api, chat_id, workflow_id)
    await api.wait_status(run["id"], "completed")
    other_chat = await _chat(api)
    await _start(api, other_chat, workflow_id)  # not listed in the first chat
    body = await api.json("GET", f"/api/chats/{chat_id}/workflow-runs")
    assert_shape(body, SEED_001_BODY)
    (listed,) = body["data"]["workflowRuns"]
    assert listed["id"] == run["id"]
    assert listed["chatId"] == chat_id
    assert listed["workflowId"] == workflow_id
    assert listed["status"] == "completed"
    assert listed["status"] in SEED_001_RUN_STATUSES
    assert [step["id"] for step in listed["steps"]] == ["step-1"]
    assert listed["completedAt"] >= listed["startedAt"]


async def test_runs_wait_and_cancel_in_seed_001_words(api: Api) -> None:
    chat_id = await _chat(api)
    run = await _start(api, chat_id, await api.workflow(APPROVAL))
    await api.wait_status(run["id"], "waiting")
    body = await api.json("GET", f"/api/chats/{chat_id}/workflow-runs")
    assert body["data"]["workflowRuns"][0]["status"] == "running"
    await api.json("POST", "/api/v1/workflow-runs/cancel", json={"runIds": [run["id"]]})
    await api.wait_status(run["id"], "cancelled")
    body = await api.json("GET", f"/api/chats/{chat_id}/workflow-runs")
    assert body["data"]["workflowRuns"][0]["status"] == "cancelled"
    _, frames, _ = await read_stream(api.client, "GET", _stream_url(chat_id, run["id"]))
    assert frames[-1].json() == {"type": "run_completed", "runId": run["id"],
                                 "status": "cancelled"}


async def test_every_documented_error_status(api: Api) -> None:
    workflow_id = await api.workflow(FAILING)
    chat_id = await _chat(api)
    run = await _start(api, chat_id, workflow_id)
    other_chat = await _chat(api)
    stranger = await api.user("stranger")
    anon = await api.new_client()
    missing = str(uuid.uuid4())
    cases = [
        # 400: malformed chat or run id
        (api.client, "GET", "/api/chats/not-a-uuid/workflow-runs", 400),
        (api.client, "GET", _stream_url("not-a-uuid", run["id"]), 400),
        (api.client, "GET", _stream_url(chat_id, "not-a-uuid"), 400),
        (api.client, "POST", "/api/chats/not-a-uuid/workflow-runs", 400),
        # 401: no session
        (anon, "GET", f"/api/chats/{chat_id}/workflow-runs", 401),
        (anon, "GET", _stream_url(chat_id, run["id"]), 401),
        (anon, "POST", "/api/chats", 401),
        (anon, "POST", f"/api/chats/{chat_id}/workflow-runs", 401),
        # 403: another user's chat
        (stranger, "GET", f"/api/chats/{chat_id}/workflow-runs", 403),
        (stranger, "GET", _stream_url(chat_id, run["id"]), 403),
        (stranger, "POST", f"/api/chats/{chat_id}/workflow-runs", 403),
        # 404: a missing chat, a missing run, a run that is not in that chat
        (api.client, "GET", f"/api/chats/{missing}/workflow-runs", 404),
        (api.client, "GET", _stream_url(missing, run["id"]), 404),
        (api.client, "GET", _stream_url(chat_id, missing), 404),
        (api.client, "GET", _stream_url(other_chat, run["id"]), 404),
    ]
    seen = set()
    for client, method, url, expected in cases:
        kwargs = {"json": {"workflowId": workflow_id}} if method == "POST" else {}
        resp = await client.request(method, url, **kwargs)
        body = await resp.json()
        assert resp.status == expected, (method, url, resp.status, body)
        assert set(body["error"]) >= {"code", "message"}
        seen.add(expected)
    assert seen == SEED_000_ERRORS


async def test_a_run_outside_any_chat_is_not_in_the_chat(api: Api) -> None:
    chat_id = await _chat(api)
    workflow_id = await api.workflow(FAILING)
    body = await api.json("POST", "/api/v1/workflow-runs/execute",
                          json={"workflowId": workflow_id})
    resp = await api.client.get(_stream_url(chat_id, body["data"]["id"]))
    assert resp.status == 404


async def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(api: Api) -> None:
    chat_id = await _chat(api)
    run = await _start(api, chat_id, await api.workflow(APPROVAL))
    url = _stream_url(chat_id, run["id"])
    # Leave once the approval step has started, while the run waits.
    _, first, _ = await read_stream(
        api.client, "GET", url, until=lambda f: f.json().get("stepId") == "ask")
    await api.wait_status(run["id"], "waiting")
    await api.approve(run["id"], "ask")  # committed while the client is away
    await api.wait_status(run["id"], "completed")
    _, rest, _ = await read_stream(api.client, "GET", url,
                                   headers={"Last-Event-ID": first[-1].id or ""})
    _, whole, _ = await read_stream(api.client, "GET", url)
    assert [(f.id, f.data) for f in first + rest] == [(f.id, f.data) for f in whole]
    # Every cut point resumes exactly after itself (the query parameter works too).
    for index, frame in enumerate(whole):
        status, tail, _ = await read_stream(api.client, "GET", f"{url}?lastEventId={frame.id}")
        if index == len(whole) - 1:
            assert status == 204
        else:
            assert [f.data for f in tail] == [f.data for f in whole[index + 1:]]
