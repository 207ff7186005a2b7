"""Hostile input against the real `runstream serve` process.

1. Property-based fuzzing of every operation of GET /api/v1/openapi.json with schemathesis
   (valid and invalid requests), as anonymous, viewer, runner and admin: no 5xx, no hang,
   every error a JSON error body `{"error": {"code", "message"}}`, and every answer that is
   not a live stream conforms to the document (tests/support/openapi_conformance.py).
2. Newlines in node output that try to inject SSE frames, slow-loris clients that must not
   block others, and a node output too deep for the log's encoder. The targeted hostile
   cases, one test each, are in test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.answers import error_body_problem
from tests.support.openapi_conformance import Conformance
from tests.support.server_process import (
    USER_PASSWORD,
    Api,
    ServerProcess,
    admin_token,
    create_workflow,
)
from tests.support.sse import read_frames
from tests.support.summary import report_summary

SOAK = os.environ.get("FAULTS_SOAK") == "1"
EXAMPLES_PER_OPERATION = 60 if SOAK else 15
MAX_BODY = 65_536
# A streaming answer is only checked for its status and headers: its body may never end.
SSE = "text/event-stream"

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", max_body_bytes=MAX_BODY)
    await srv.start()
    yield srv
    await srv.stop()


async def make_user(admin: Api, username: str, role: str) -> str:
    status, body = await admin.request(
        "POST", "/api/v1/users", json={"username": username, "password": USER_PASSWORD})
    assert status == 201, body
    status, body = await admin.request(
        "POST", "/api/v1/workspaces/default/members", json={"username": username, "role": role})
    assert status in (200, 201), body
    return await admin_token(admin.base, username, USER_PASSWORD)


STATUSES: Counter[int] = Counter()
CONFORMANCE_CHECKED = [0]


def real_ids(method: str, path: str, names: list[str], ids: dict[str, str]) -> dict[str, str]:
    """Path parameters that name objects which exist (so that the fuzzer gets past 404)."""
    if method == "delete":  # keep the fuzzer's own users and tokens alive
        return {}
    chosen = {}
    for name in names:
        if name == "workflowId":
            chosen[name] = ids["put_workflow"] if method == "put" else ids["workflow"]
        elif name == "runId" and path.endswith("/erase"):
            chosen[name] = ids["erase_run"]  # a finished run of its own: others keep theirs
        elif name in ("runId", "executionId"):
            chosen[name] = ids["run"]
        elif name == "id":
            chosen[name] = ids["run"] if "workflow-requests" in path else "default"
        elif name in ids:
            chosen[name] = ids[name]
    return chosen if len(chosen) == len(names) else {}


def fuzz(base: str, tokens: dict[str, str | None], examples: int,
         ids: dict[str, str]) -> tuple[int, list[str]]:
    """Schemathesis over every operation and auth level (runs in a thread: requests is sync)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    conformance = Conformance(doc)
    tried = 0
    failures: list[str] = []
    STATUSES.clear()
    session = requests.Session()

    def make_check(label: str, headers: dict[str, str], strategy: Any, method: str,
                   path: str) -> Any:
        @seed(6)
        @settings(max_examples=examples, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case: Any) -> None:
            nonlocal tried
            tried += 1
            kwargs = case.as_transport_kwargs(base_url=base, headers=headers)
            kwargs.pop("stream", None)
            try:
                resp = session.request(**kwargs, timeout=(5, 15), stream=True,
                                       allow_redirects=False)
            except requests.RequestException as exc:
                failures.append(f"{label}: no answer ({type(exc).__name__}: {exc}) to "
                                f"{kwargs.get('params')} {str(kwargs.get('json'))[:200]}")
                return
            STATUSES[resp.status_code] += 1
            with resp:
                content_type = resp.headers.get("Content-Type", "")
                if content_type.startswith(SSE) and resp.status_code == 200:
                    return  # a live stream: headers are enough, the body may never end
                try:
                    raw = resp.raw.read(2_000_000, decode_content=True)
                except Exception as exc:  # noqa: BLE001 - any read failure is a finding
                    failures.append(f"{label}: body unreadable ({exc})")
                    return
            # The template names the operation: a generated path may hold anything.
            failures.extend(f"{label}: {problem}" for problem in conformance.problems(
                method, path, resp.status_code, content_type, raw))
            if resp.status_code >= 500:
                sent = kwargs.get("json", kwargs.get("data"))
                failures.append(f"{label}: {resp.status_code} {raw[:120]!r} for "
                                f"{resp.request.headers.get('Content-Type')} "
                                f"{str(sent)[:200]}")
            elif resp.status_code >= 400:
                problem = error_body_problem(resp.status_code, content_type, raw)
                if problem is not None:
                    failures.append(f"{label}: {problem}")
        return check

    for auth, token in tokens.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{auth} {operation.method.upper()} {operation.path}"
            strategies = [
                operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)]
            known = real_ids(operation.method.lower(), operation.path,
                             [p.name for p in operation.path_parameters], ids)
            if known:
                for mode in schemathesis.GenerationMode:
                    strategies.append(operation.as_strategy(mode, path_parameters=known))
            strategy = st.one_of(*strategies)
            make_check(label, headers, strategy, operation.method.upper(), operation.path)()
    session.close()
    CONFORMANCE_CHECKED[0] = conformance.checked
    return tried, failures


async def test_fuzz_every_operation_at_every_auth_level(server: ServerProcess) -> None:
    pytest.importorskip("schemathesis", reason="schemathesis is not installed "
                        "(pip install -e '.[dev]')")
    admin = Api(server.base, await admin_token(server.base))
    try:
        tokens: dict[str, str | None] = {
            "anonymous": None,
            "viewer": await make_user(admin, "fuzz-viewer", "viewer"),
            "runner": await make_user(admin, "fuzz-runner", "runner"),
            "admin": admin.token,
        }
        # Objects for the fuzzer to find: workflows, a run waiting for approval, a chat.
        ids = {
            "workflow": await create_workflow(admin, {"name": "fuzz target", "nodes": [
                {"id": "a", "type": "noop"}]}),
            "put_workflow": await create_workflow(admin, {"name": "fuzz edits", "nodes": [
                {"id": "a", "type": "noop"}]}),
            "nodeId": "gate",
            "version": "1",
        }
        gated = await create_workflow(admin, {"name": "fuzz gate", "nodes": [
            {"id": "gate", "type": "approval", "params": {"prompt": "?"}}]})
        async with admin.http.post(f"{server.base}/api/v1/workflow-runs/execute/stream",
                                   json={"workflowId": gated}, headers=admin.headers()) as resp:
            assert resp.status == 200
            ids["run"] = resp.headers["X-Workflow-Run-Id"]
        status, body = await admin.request(
            "POST", "/api/v1/workflow-runs/execute", json={"workflowId": ids["workflow"]})
        assert status == 200, body
        ids["erase_run"] = body["data"]["id"]
        status, body = await admin.request("POST", "/api/chats", json={"title": "fuzz"})
        assert status == 201, body
        ids["chatId"] = body["data"]["id"]
        status, body = await admin.request(
            "POST", f"/api/v1/workflows/{ids['workflow']}/schedules",
            json={"cron": "0 0 1 1 *"})
        assert status == 201, body
        ids["scheduleId"] = body["data"]["id"]
        # A signed webhook, so that its routes and its deliveries meet real ids (and forged
        # signatures) rather than only 404s.
        status, body = await admin.request(
            "PUT", "/api/v1/workspaces/default/secrets/FUZZ_HOOK", json={"value": "fuzz-key"})
        assert status == 201, body
        status, body = await admin.request(
            "POST", f"/api/v1/workflows/{ids['workflow']}/webhooks",
            json={"auth": "hmac", "hmac": {"secret": "FUZZ_HOOK"}, "methods": ["POST", "PUT", "GET"],
                  "idempotencyHeader": "X-Delivery"})
        assert status == 201, body
        ids["webhookId"] = body["data"]["id"]
        started = time.monotonic()
        tried, failures = await asyncio.to_thread(fuzz, server.base, tokens,
                                                  EXAMPLES_PER_OPERATION, ids)
        elapsed = time.monotonic() - started
        # The server is still up and still answers.
        status, _ = await admin.request("GET", "/healthz")
        assert status == 200
    finally:
        await admin.close()
    report_summary(f"faults/fuzz: {tried} generated requests over 4 auth levels in "
                   f"{elapsed:.0f} s (answers {dict(sorted(STATUSES.items()))}; "
                   f"{CONFORMANCE_CHECKED[0]} checked against the document), "
                   f"{len(failures)} failures")
    assert failures == [], "\n".join(failures[:40])


# -- targeted cases ------------------------------------------------------------------------

def contains(value: Any, wanted: str) -> bool:
    if isinstance(value, dict):
        return any(contains(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(contains(v, wanted) for v in value)
    return value == wanted


async def test_newlines_in_node_output_cannot_inject_sse_frames(server: ServerProcess) -> None:
    """A workflow name, node name and node output that carry CR/LF and whole SSE fields, read
    back through all four dialects' streams: every frame parses, none is injected, and the
    text arrives intact inside the JSON."""
    base = server.base
    admin = Api(base, await admin_token(base))
    evil = "line1\n\nevent: injected\ndata: boom\nid: 999999\r\n\r\nretry: 1\r:x"
    checked = 0
    carried: dict[str, bool] = {}
    try:
        workflow_id = await create_workflow(admin, {
            "name": "evil\nevent: injected\ndata: y",
            "trigger": {"continueOnDisconnect": True},
            "nodes": [
                {"id": "a", "type": "transform", "name": "n\n\nevent: injected\ndata: boom",
                 "params": {"value": {"text": "{{inputs.evil}}"}}},
                {"id": "b", "type": "transform", "after": ["a"],
                 "params": {"value": "{{nodes.a.output.text}}"}}]})
        status, body = await admin.request(
            "POST", "/api/v1/workflow-runs/execute",
            json={"workflowId": workflow_id, "inputs": {"evil": evil}})
        assert status == 200, body
        run_id = body["data"]["id"]
        assert body["data"]["outputs"]["b"] == evil  # stored and returned as data, intact

        status, chat = await admin.request("POST", "/api/chats", json={"title": "evil"})
        assert status == 201, chat
        chat_id = chat["data"]["id"]
        status, chat_run = await admin.request(
            "POST", f"/api/chats/{chat_id}/workflow-runs",
            json={"workflowId": workflow_id, "inputs": {"evil": evil}})
        assert status == 201, chat_run
        status, splox = await admin.request(
            "POST", "/api/v1/workflow-requests",
            json={"workflow_id": workflow_id, "payload": {"evil": evil}})
        assert status == 201, splox
        await asyncio.sleep(0.5)  # both runs are two inline transforms: done by now

        streams = {
            "v1": ("GET", f"/api/v1/workflow-runs/{run_id}/stream", None),
            "v1 resumed": ("GET", f"/api/v1/workflow-runs/{run_id}/stream?lastEventId=1", None),
            "chat": ("GET", f"/api/chats/{chat_id}/workflow-runs/{chat_run['data']['id']}/stream",
                     None),
            "flowtrux": ("POST", f"/api/workflows/{workflow_id}/execute/stream", {"evil": evil}),
            "splox": ("GET", f"/api/v1/workflow-requests/{splox['id']}/listen", None),
        }
        for name, (method, path, payload) in streams.items():
            async with admin.http.request(method, base + path, json=payload,
                                          headers=admin.headers()) as resp:
                assert resp.status == 200, (name, resp.status, await resp.text())
                frames = await asyncio.wait_for(read_frames(resp), 30)
            assert [f.retry for f in frames if f.retry is not None] in ([], [2000]), name
            carried[name] = False
            for frame in frames:
                checked += 1
                assert frame.event != "injected", (name, frame)
                assert frame.id != "999999", (name, frame)
                if not frame.data_lines:
                    assert frame.id is None, (name, frame)
                    assert frame.event == "message", (name, frame)
                    continue
                if frame.data == "keepalive":
                    continue
                parsed = frame.json()  # each frame's data is one whole JSON document
                carried[name] = carried[name] or contains(parsed, evil)
        assert carried["v1"], carried
        assert carried["flowtrux"], carried
    finally:
        await admin.close()
    report_summary(f"faults/sse framing: {checked} frames over 4 dialects of runs whose "
                   "names and output carry CR/LF frame injections parsed intact "
                   f"(output carried whole by {sorted(k for k, v in carried.items() if v)}), "
                   "0 failures")


async def test_slow_loris_clients_do_not_block_others(server: ServerProcess) -> None:
    host, port = "127.0.0.1", server.port
    request = (f"GET /api/v1/openapi.json HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "X-Slow: " + "a" * 64 + "\r\n\r\n").encode()
    writers: list[asyncio.StreamWriter] = []
    loris = 64

    async def drip(index: int) -> None:
        _, writer = await asyncio.open_connection(host, port)
        writers.append(writer)
        try:
            for i in range(len(request) - 4):  # never finishes the headers
                writer.write(request[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0.25)
        except (ConnectionError, OSError):
            return  # the server dropped us: fine

    tasks = [asyncio.create_task(drip(i)) for i in range(loris)]
    try:
        await asyncio.sleep(1.0)  # every slow client is connected and dripping
        served = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for _ in range(20):
                async with http.get(f"{server.base}/healthz") as resp:
                    assert resp.status == 200
                    served += 1
            token = await admin_token(server.base)
            async with http.get(f"{server.base}/api/v1/workflows",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
                served += 1
        assert served == 21
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.close()
    report_summary(f"faults/slow loris: {loris} clients dripping headers a byte per 250 ms; "
                   f"{served} ordinary requests served meanwhile, 0 failures")


def nest(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"w": leaf}
    return leaf


async def test_a_node_output_too_deep_to_store_fails_the_run_not_the_engine(
    server: ServerProcess,
) -> None:
    """Each transform wraps the previous output 50 levels deeper (every body stays shallow):
    the fifth output can no longer be encoded into the log. The run must fail with a clear
    error; before, the run driver died (`run_driver_failed`), the run stayed `running` for
    ever (recovery died the same way after every restart) and execute answered 500."""
    admin = Api(server.base, await admin_token(server.base))
    try:
        nodes: list[dict[str, Any]] = [
            {"id": "n0", "type": "transform", "params": {"value": nest(50, "{{inputs.x}}")}}]
        for i in range(1, 7):
            nodes.append({"id": f"n{i}", "type": "transform", "after": [f"n{i - 1}"],
                          "params": {"value": nest(50, f"{{{{nodes.n{i - 1}.output}}}}")}})
        workflow_id = await create_workflow(admin, {"name": "ever deeper", "nodes": nodes})
        status, body = await asyncio.wait_for(admin.request(
            "POST", "/api/v1/workflow-runs/execute",
            json={"workflowId": workflow_id, "inputs": {"x": 1}}), 30)
        assert status == 200, body
        assert body["data"]["status"] == "failed", body["data"]["status"]
        assert body["data"]["error"], body["data"]
    finally:
        await admin.close()
    report_summary("faults/deep node output: a run whose output outgrows the log's encoder "
                   "fails cleanly, 0 failures")
