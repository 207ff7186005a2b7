"""Every answer of the API conforms to the OpenAPI document generated from its models.

One session drives every operation of the real app to each success answer the document
declares (and a few errors), and checks each answer, JSON body, NDJSON line and stream
frame, against the document with jsonschema. The last test fails when an operation or a
declared success status was never met, so a new route must come with its check here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from service import keys
from service.app import create_app
from service.openapi import OPENAPI_PATH, build_document
from service.routing import ROUTES
from service.settings import Settings
from service.views.api_docs import load_api_docs
from service.views.console import load_console
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW
from tests.support.auth import ADMIN_PASSWORD, make_settings
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call
from tests.support.openapi_conformance import Conformance
from tests.support.polling import wait_for
from tests.support.sse import SSEFrame, iter_frames

STREAM_WITHIN_S = 10.0
WRITES = frozenset({"POST", "PUT", "DELETE"})
THINKING_AND_PROGRESS = {"name": "Slow", "nodes": [
    {"id": "wait", "type": "delay", "params": {"ms": 50}},
    {"id": "done", "type": "transform", "after": ["wait"], "params": {"value": 1}}]}
FAILING = {"name": "Fails", "nodes": [{"id": "boom", "type": "fail",
                                       "params": {"message": "no"}}]}


@dataclass
class Checked:
    """A client whose every answer is checked against the document."""

    client: TestClient
    conformance: Conformance

    async def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        if method in WRITES and "json" not in kwargs:
            # A cookie-authenticated write must say JSON even without a body (CSRF rule).
            kwargs.setdefault("headers", {}).setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, **kwargs) as resp:
            body = await resp.read()
            content_type = resp.headers.get("Content-Type", "")
        assert resp.status == expect, (method, path, resp.status, body[:300])
        self.conformance.check(method, path, resp.status, content_type, body)
        if content_type.startswith(("application/json", "application/schema+json")) and body:
            return orjson.loads(body)
        return body

    async def stream(self, method: str, path: str, *, limit: int | None = None,
                     expect: int = 200, **kwargs: Any) -> tuple[list[SSEFrame], dict[str, str]]:
        """The stream's frames until it closes (or `limit` data frames), each checked."""
        resp = await self.client.request(method, path, **kwargs)
        frames: list[SSEFrame] = []
        try:
            assert resp.status == expect, (method, path, resp.status, await resp.text())
            content_type = resp.headers.get("Content-Type", "")
            if resp.status != 200:
                self.conformance.check(method, path, resp.status, content_type,
                                       await resp.read())
                return frames, dict(resp.headers)
            self.conformance.check(method, path, 200, content_type, b"")

            async def collect() -> None:
                async for frame in iter_frames(resp):
                    if not frame.data_lines:
                        continue  # `retry:` alone
                    self.conformance.check_frame(method, path, frame.event, frame.data)
                    frames.append(frame)
                    if limit is not None and len(frames) >= limit:
                        return

            await asyncio.wait_for(collect(), STREAM_WITHIN_S)
        finally:
            resp.close()
        return frames, dict(resp.headers)


@dataclass
class Coverage:
    """What the tests of this module met, for the last one to read."""

    declared: set[tuple[str, int]] = field(default_factory=set)
    seen: set[tuple[str, int]] = field(default_factory=set)
    tests: set[str] = field(default_factory=set)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The agent's model server listens on loopback."""
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1"]})


@pytest.fixture(scope="module")
def coverage() -> Coverage:
    return Coverage()


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, coverage: Coverage,
              request: pytest.FixtureRequest) -> AsyncIterator[Checked]:
    app = create_app(settings)
    client: TestClient = await aiohttp_client(app)
    conformance = Conformance(build_document(app[ROUTES]))
    checked = Checked(client, conformance)
    await checked.call("POST", "/api/v1/auth/login", 200,
                       json={"username": "admin", "password": ADMIN_PASSWORD})
    yield checked
    coverage.declared = conformance.declared_answers()
    coverage.seen |= conformance.seen
    coverage.tests.add(request.node.name)


async def test_service_documents_and_static_files_conform(api: Checked) -> None:
    health = await api.call("GET", "/healthz", 200)
    assert "store" in health  # the admin's view, with the store's facts
    await api.call("GET", OPENAPI_PATH, 200)
    await api.call("GET", "/api/v1/schemas/workflow.json", 200)
    await api.call("GET", "/metrics", 200)
    for page, prefix, site, asset in (("/", "/console", load_console(), "app.js"),
                                      ("/api/docs", "/api/docs", load_api_docs(), "init.js")):
        await api.call("GET", page, 200)
        await api.call("GET", page, 304, headers={"If-None-Match": site.index.etag})
        path = f"{prefix}/{site.version}/{asset}"
        await api.call("GET", path, 200)
        await api.call("GET", path, 304, headers={"If-None-Match": site.assets[asset].etag})
        await api.call("GET", f"{prefix}/{site.version}/missing.js", 404)


async def test_identity_answers_conform(api: Checked, aiohttp_client: Any) -> None:
    me = await api.call("GET", "/api/v1/auth/me", 200)
    created = await api.call("POST", "/api/v1/users", 201, json={"username": "conform"})
    assert "password" in created["data"]  # generated, shown once
    user = await api.call("POST", "/api/v1/users", 201,
                          json={"username": "member", "password": "member-password-1"})
    await api.call("GET", "/api/v1/users", 200)
    await api.call("POST", "/api/v1/users", 409, json={"username": "conform"})
    await api.call("DELETE", f"/api/v1/users/{created['data']['id']}", 200)
    token = await api.call("POST", "/api/v1/tokens", 201, json={"name": "ci"})
    await api.call("GET", "/api/v1/tokens", 200)
    await api.call("DELETE", f"/api/v1/tokens/{token['data']['id']}", 200)
    workspace = await api.call("POST", "/api/v1/workspaces", 201, json={"name": "Conform"})
    ws = workspace["data"]["id"]
    await api.call("GET", "/api/v1/workspaces", 200)
    members = f"/api/v1/workspaces/{ws}/members"
    await api.call("POST", members, 201, json={"username": "member", "role": "viewer"})
    await api.call("POST", members, 200, json={"username": "member", "role": "runner"})
    await api.call("GET", members, 200)
    secrets = f"/api/v1/workspaces/{ws}/secrets"
    await api.call("PUT", f"{secrets}/API_KEY", 201, json={"value": "conform-secret"})
    await api.call("PUT", f"{secrets}/API_KEY", 200, json={"value": "conform-secret-2"})
    await api.call("PUT", f"{secrets}/bad-name", 400, json={"value": "x"})
    await api.call("GET", secrets, 200)
    await api.call("DELETE", f"{secrets}/API_KEY", 200)
    await api.call("DELETE", f"{secrets}/API_KEY", 404)
    await api.call("DELETE", f"{members}/{user['data']['id']}", 200)
    await api.call("DELETE", f"{members}/{me['data']['id']}", 409)
    await api.call("POST", "/api/v1/auth/password", 200, json={
        "currentPassword": ADMIN_PASSWORD, "newPassword": "another-admin-password"})
    await api.call("POST", "/api/v1/users", 400, json={"username": "", "isAdmin": "perhaps"})
    await api.call("POST", "/api/v1/auth/logout", 200, json={})
    await api.call("GET", "/api/v1/auth/me", 401)


async def test_workflow_answers_conform(api: Checked) -> None:
    created = await api.call("POST", "/api/v1/workflows", 201, json=QUICK_WORKFLOW)
    workflow = f"/api/v1/workflows/{created['data']['id']}"
    await api.call("GET", "/api/v1/workflows", 200)
    await api.call("GET", workflow, 200)
    await api.call("PUT", workflow, 200, json={**QUICK_WORKFLOW, "name": "Quick sum 2"})
    await api.call("GET", f"{workflow}/versions/2", 200)
    schedules = f"{workflow}/schedules"
    schedule = await api.call("POST", schedules, 201, json={
        "cron": "*/5 * * * *", "timezone": "Europe/Berlin", "inputs": {"n": 1},
        "startAt": "2026-01-01T00:00:00+01:00", "endAt": None})
    one = f"{schedules}/{schedule['data']['id']}"
    # One firing, so that the schedule's lastRuns and the run's triggeredBy are checked.
    app = api.client.server.app
    assert app is not None
    runner = app[keys.SCHEDULE_RUNNER]
    stored = await app[keys.SCHEDULES].get(schedule["data"]["id"])
    assert stored is not None
    run_id = await runner.fire(stored, runner.clock())
    assert run_id is not None
    await app[keys.ENGINE].wait(run_id)
    await api.call("GET", schedules, 200)
    await api.call("GET", one, 200)
    await api.call("GET", f"/api/v1/workflow-runs?triggeredBy=schedule&triggerId="
                          f"{schedule['data']['id']}", 200)
    await api.call("PATCH", one, 200, json={"enabled": False})
    await api.call("PATCH", one, 400, json={"cron": "every minute"})
    await api.call("POST", schedules, 400, json={"cron": "* * * * *", "timezone": "Nowhere"})
    await api.call("DELETE", one, 200)
    await api.call("GET", one, 404)
    await api.call("POST", "/api/v1/workflows", 422, json={"name": "x", "nodes": [
        {"id": "a", "type": "noop", "after": ["ghost"]}]})


async def test_webhook_answers_conform(api: Checked) -> None:
    created = await api.call("POST", "/api/v1/workflows", 201, json=QUICK_WORKFLOW)
    webhooks = f"/api/v1/workflows/{created['data']['id']}/webhooks"
    await api.call("PUT", "/api/v1/workspaces/default/secrets/CONFORM_HOOK", 201,
                   json={"value": "conform-hook-secret"})
    made = await api.call("POST", webhooks, 201, json={
        "auth": "hmac", "hmac": {"secret": "CONFORM_HOOK", "format": "stripe"},
        "responseMode": "lastNode", "idempotencyHeader": "X-Delivery"})
    one = f"{webhooks}/{made['data']['id']}"
    await api.call("POST", webhooks, 201, json={"auth": "none"})
    await api.call("POST", webhooks, 400, json={"auth": "hmac"})
    await api.call("GET", webhooks, 200)
    await api.call("GET", one, 200)
    await api.call("PATCH", one, 200, json={"enabled": False})
    await api.call("PATCH", one, 400, json={"token": {"secret": "bad name"}})
    await api.call("GET", f"{one}/deliveries", 200)
    await api.call("GET", f"{one}/deliveries?limit=0", 400)
    await api.call("POST", made["data"]["url"], 403, json={})  # disabled just above
    await api.call("PATCH", one, 200, json={"enabled": True})
    await api.call("POST", made["data"]["url"], 401, json={})  # not signed
    every = ["POST", "PUT", "GET"]
    for mode, status in (("lastNode", 200), ("immediate", 202)):
        hook = await api.call("POST", webhooks, 201, json={
            "auth": "none", "responseMode": mode, "methods": every})
        url = hook["data"]["url"]
        await api.call("POST", url, status, json={"n": 1})
        await api.call("PUT", url, status, data=b"n=1", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        await api.call("GET", f"{url}?n=1", status)
    streamed = await api.call("POST", webhooks, 201, json={
        "auth": "none", "responseMode": "stream", "methods": ["POST"]})
    frames, _ = await api.stream("POST", streamed["data"]["url"], json={"n": 1})
    assert frames[-1].event == "result"
    await api.call("GET", streamed["data"]["url"], 405)
    await api.call("POST", "/hooks/00000000-0000-4000-8000-000000000000", 404, json={})
    await api.call("GET", f"{one}/deliveries", 200)
    await api.call("DELETE", one, 200)
    await api.call("GET", one, 404)


async def test_run_answers_and_frames_conform(api: Checked) -> None:
    quick = (await api.call("POST", "/api/v1/workflows", 201, json=QUICK_WORKFLOW))["data"]
    slow = (await api.call("POST", "/api/v1/workflows", 201,
                           json=THINKING_AND_PROGRESS))["data"]
    failing = (await api.call("POST", "/api/v1/workflows", 201, json=FAILING))["data"]
    gated = (await api.call("POST", "/api/v1/workflows", 201, json=APPROVAL_WORKFLOW))["data"]
    base = "/api/v1/workflow-runs"
    feed = asyncio.ensure_future(api.stream("GET", f"{base}/stream", limit=2))
    await asyncio.sleep(0.2)  # the feed subscribes before the run below
    run = (await api.call("POST", f"{base}/execute", 200,
                          json={"workflowId": quick["id"], "inputs": {"n": 1}}))["data"]
    feed_frames, _ = await feed
    assert [frame.event for frame in feed_frames] == ["ready", "workflow-run"]
    await api.call("POST", f"{base}/execute", 200, json={"workflowId": failing["id"]})
    frames, headers = await api.stream("POST", f"{base}/execute/stream",
                                       json={"workflowId": slow["id"]})
    assert {"workflow-run", "activity-run", "result"} <= {frame.event for frame in frames}
    frames, _ = await api.stream("GET", f"{base}/{headers['X-Workflow-Run-Id']}/stream")
    await api.stream("GET", f"{base}/{run['id']}/stream", expect=204,
                     headers={"Last-Event-ID": frames[-1].id or ""})
    await api.call("GET", base, 200)
    await api.call("GET", f"{base}?status=bogus", 400)
    await api.call("GET", f"{base}/dashboard/{quick['id']}", 200)
    await api.call("GET", f"{base}/{run['id']}", 200)
    rerun = (await api.call("POST", f"{base}/{run['id']}/rerun", 201,
                            json={"fromNode": "b"}))["data"]
    await api.call("POST", f"{base}/{run['id']}/rerun", 400, json={"fromNode": "nope"})
    await api.call("GET", f"{base}/{rerun['id']}", 200)
    await api.call("GET", f"{base}/{run['id']}/events", 200)
    await api.call("GET", f"{base}/{run['id']}/events?format=ndjson", 200)
    await api.call("GET", "/api/v1/events?limit=5", 200)
    await api.stream("GET", "/api/v1/events/stream", limit=5)
    await api.call("GET", "/api/v1/audit/verify", 200)
    await api.call("POST", "/api/v1/audit/checkpoints", 201, json={})
    await api.call("GET", "/api/v1/audit/checkpoints", 200)
    await api.call("GET", "/api/v1/audit/checkpoints?limit=0", 400)
    waiting = await api.stream("POST", f"{base}/execute/stream", limit=4,
                               json={"workflowId": gated["id"], "inputs": {"x": 1}})
    waiting_id = waiting[1]["X-Workflow-Run-Id"]
    await _until_waiting(api, waiting_id)
    await api.call("POST", f"{base}/{waiting_id}/nodes/approve/resume", 200,
                   json={"approved": True})
    await api.call("POST", f"{base}/{waiting_id}/nodes/approve/resume", 409, json={})
    second = await api.stream("POST", f"{base}/execute/stream", limit=4,
                              json={"workflowId": gated["id"]})
    await api.call("POST", f"{base}/cancel", 200, json={
        "runIds": [second[1]["X-Workflow-Run-Id"], run["id"],
                   "00000000-0000-4000-8000-000000000000"], "reason": "conformance"})


async def _until_waiting(api: Checked, run_id: str) -> None:
    async def waiting() -> bool:
        run = await api.call("GET", f"/api/v1/workflow-runs/{run_id}", 200)
        return bool(run["data"]["status"] == "waiting")

    await wait_for(waiting, 4, f"run {run_id} never waited")


async def test_dialect_answers_and_frames_conform(api: Checked) -> None:
    workflow = (await api.call("POST", "/api/v1/workflows", 201,
                               json=THINKING_AND_PROGRESS))["data"]["id"]
    chat = (await api.call("POST", "/api/chats", 201, json={"title": "conform"}))["data"]
    await api.call("POST", "/api/chats", 201)
    runs = f"/api/chats/{chat['id']}/workflow-runs"
    started = (await api.call("POST", runs, 201, json={"workflowId": workflow}))["data"]
    frames, _ = await api.stream("GET", f"{runs}/{started['id']}/stream")
    assert frames[-1].json()["type"] == "run_completed"
    await api.stream("GET", f"{runs}/{started['id']}/stream", expect=204,
                     headers={"Last-Event-ID": frames[-1].id or ""})
    await api.call("GET", runs, 200)

    flowtrux = f"/api/workflows/{workflow}"
    result = await api.call("POST", f"{flowtrux}/execute", 200, json={"a": 1})
    await api.call("POST", f"{flowtrux}/execute", 200)
    frames, headers = await api.stream("POST", f"{flowtrux}/execute/stream", json={})
    assert frames[-1].event == "complete"
    resume = headers["X-Execution-Stream"]
    await api.stream("GET", resume, headers={"Last-Event-ID": frames[0].id or ""})
    await api.stream("GET", resume, expect=204, headers={"Last-Event-ID": frames[-1].id or ""})
    assert result["success"] is True

    request = await api.call("POST", "/api/v1/workflow-requests", 201,
                             json={"workflow_id": workflow, "payload": {}})
    listen = f"/api/v1/workflow-requests/{request['id']}/listen"
    frames, _ = await api.stream("GET", listen)
    await api.stream("GET", listen, expect=204, headers={"Last-Event-ID": frames[-1].id or ""})


async def test_tool_call_answers_conform(api: Checked) -> None:
    llm = FakeLLM()
    await llm.start()
    try:
        llm.script(Reply([tool_call(0, "call_1", "note", '{"x": 1}'), chunk(finish="stop")]),
                   Reply([*text("noted"), chunk(finish="stop")]))
        agent = {"name": "Agent", "nodes": [{"id": "agent", "type": "agent", "params": {
            "endpoint": llm.endpoint, "model": MODEL, "prompt": "go",
            "tools": [{"name": "note", "approval": "always",
                       "run": {"type": "transform", "params": {"value": "{{args.x}}"}}}]}}]}
        workflow = (await api.call("POST", "/api/v1/workflows", 201, json=agent))["data"]
        base = "/api/v1/workflow-runs"
        started = await api.stream("POST", f"{base}/execute/stream", limit=3,
                                   json={"workflowId": workflow["id"]})
        run_id = started[1]["X-Workflow-Run-Id"]
        await _until_waiting(api, run_id)
        calls = f"{base}/{run_id}/nodes/agent/tool-calls"
        await api.call("POST", f"{calls}/call_9", 409, json={"decision": "approve"})
        await api.call("POST", f"{calls}/call_1", 400, json={"decision": "perhaps"})
        await api.call("POST", f"{base}/{run_id}/nodes/ghost/tool-calls/call_1", 404,
                       json={"decision": "approve"})
        await api.call("POST", f"{calls}/call_1", 200, json={"decision": "approve"})
    finally:
        await llm.stop()


async def test_retention_answers_conform(api: Checked) -> None:
    policy = "/api/v1/workspaces/default/retention"
    await api.call("GET", policy, 200)
    await api.call("PUT", policy, 200, json={"maxAgeDays": 30, "maxRuns": 100000,
                                             "maxBytes": None})
    await api.call("PUT", policy, 400, json={"maxRuns": 0})
    await api.call("DELETE", policy, 200)
    quick = (await api.call("POST", "/api/v1/workflows", 201, json=QUICK_WORKFLOW))["data"]
    base = "/api/v1/workflow-runs"
    run = (await api.call("POST", f"{base}/execute", 200,
                          json={"workflowId": quick["id"], "inputs": {"n": 1}}))["data"]
    await api.call("POST", f"{base}/{run['id']}/erase", 200, json={"reason": "conformance"})
    await api.call("POST", f"{base}/{run['id']}/erase", 410, json={"reason": "again"})
    await api.call("GET", f"{base}/{run['id']}", 410)
    await api.call("GET", f"{base}/{run['id']}/events", 410)
    await api.stream("GET", f"{base}/{run['id']}/stream", expect=410)


ANSWER_TESTS = {
    "test_service_documents_and_static_files_conform", "test_identity_answers_conform",
    "test_retention_answers_conform",
    "test_workflow_answers_conform", "test_webhook_answers_conform",
    "test_run_answers_and_frames_conform",
    "test_dialect_answers_and_frames_conform", "test_tool_call_answers_conform",
}


def test_every_declared_success_answer_was_met(coverage: Coverage) -> None:
    if coverage.tests != ANSWER_TESTS:
        pytest.skip("needs every answer test of this module to have run before it")
    missing = sorted(coverage.declared - coverage.seen)
    assert not missing, f"success answers no test has checked: {missing}"


def test_the_checker_refuses_answers_that_break_their_models(settings: Settings) -> None:
    conformance = Conformance(build_document(create_app(settings)[ROUTES]))
    me = {"id": "8099d5ea-85af-498c-ac6c-00c209fbe900", "username": "a", "isAdmin": False,
          "via": "token", "workspaces": []}
    ok = orjson.dumps({"data": me})
    assert conformance.problems("GET", "/api/v1/auth/me", 200, "application/json", ok) == []
    for wrong in ({**me, "id": "not-a-uuid"}, {**me, "extra": 1}, {**me, "via": "magic"},
                  {k: v for k, v in me.items() if k != "username"}):
        body = orjson.dumps({"data": wrong})
        assert conformance.problems("GET", "/api/v1/auth/me", 200, "application/json", body)
    # An error answer is checked against the Error model, whatever its status.
    assert conformance.problems("GET", "/api/v1/auth/me", 418, "application/json",
                                b'{"error": {"code": "x"}}')
    assert conformance.problems("GET", "/api/v1/auth/me", 200, "text/html", ok)
    run = "/api/v1/workflow-runs/8099d5ea-85af-498c-ac6c-00c209fbe900/stream"
    assert conformance.frame_problems("GET", run, "ping", '{"content": "ping"}') == []
    assert conformance.frame_problems("GET", run, "ping", '{"content": "pong"}')
    assert conformance.frame_problems("GET", run, "surprise", "{}")
