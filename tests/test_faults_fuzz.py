"""Hostile input against the real `runstream serve` process.

1. Property-based fuzzing of every operation of GET /api/v1/openapi.json with schemathesis
   (valid and invalid requests), as anonymous, viewer, runner and admin: no 5xx, no hang,
   every error a JSON error body `{"error": {"code", "message"}}`.
2. Targeted cases: invalid UUIDs, bodies over max_body_bytes (413 JSON) and deeply nested,
   malformed Last-Event-IDs, workflows with cycles and template injection, newlines in node
   output that try to inject SSE frames, and slow-loris clients that must not block others.
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
import orjson
import pytest
from conftest import report_summary
from faults_support import (
    USER_PASSWORD,
    Api,
    ServerProcess,
    admin_token,
    create_workflow,
)
from sse_reader import read_frames

SOAK = os.environ.get("FAULTS_SOAK") == "1"
EXAMPLES_PER_OPERATION = 60 if SOAK else 12
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


def error_body_problem(status: int, content_type: str, raw: bytes) -> str | None:
    """None if an error answer is a JSON error body, else what is wrong with it."""
    if "json" not in content_type:
        return f"{status} with content type {content_type!r}: {raw[:200]!r}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"{status} with a body that is not JSON: {raw[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)):
        return f"{status} without an error object: {raw[:200]!r}"
    return None


def fuzz(base: str, tokens: dict[str, str | None], examples: int) -> tuple[int, list[str]]:
    """Schemathesis over every operation and auth level (runs in a thread: requests is sync)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    tried = 0
    failures: list[str] = []
    session = requests.Session()

    def make_check(label: str, headers: dict[str, str], strategy: Any) -> Any:
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
            with resp:
                content_type = resp.headers.get("Content-Type", "")
                if content_type.startswith(SSE) and resp.status_code == 200:
                    return  # a live stream: headers are enough, the body may never end
                try:
                    raw = resp.raw.read(2_000_000, decode_content=True)
                except Exception as exc:  # noqa: BLE001 - any read failure is a finding
                    failures.append(f"{label}: body unreadable ({exc})")
                    return
            if resp.status_code >= 500:
                failures.append(f"{label}: {resp.status_code} {raw[:300]!r} for "
                                f"{kwargs.get('url')} {str(kwargs.get('json'))[:300]}")
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
            strategy = st.one_of(
                operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
            make_check(label, headers, strategy)()
    session.close()
    return tried, failures


async def test_fuzz_every_operation_at_every_auth_level(server: ServerProcess) -> None:
    admin = Api(server.base, await admin_token(server.base))
    try:
        tokens: dict[str, str | None] = {
            "anonymous": None,
            "viewer": await make_user(admin, "fuzz-viewer", "viewer"),
            "runner": await make_user(admin, "fuzz-runner", "runner"),
            "admin": admin.token,
        }
        # Something to find: a workflow and a finished run in the default workspace.
        workflow_id = await create_workflow(admin, {"name": "fuzz target", "nodes": [
            {"id": "a", "type": "noop"}]})
        status, body = await admin.request("POST", "/api/v1/workflow-runs/execute",
                                           json={"workflowId": workflow_id})
        assert status == 200, body
        started = time.monotonic()
        tried, failures = await asyncio.to_thread(fuzz, server.base, tokens,
                                                  EXAMPLES_PER_OPERATION)
        elapsed = time.monotonic() - started
        # The server is still up and still answers.
        status, _ = await admin.request("GET", "/healthz")
        assert status == 200
    finally:
        await admin.close()
    report_summary(f"faults/fuzz: {tried} generated requests over 4 auth levels in "
                   f"{elapsed:.0f} s, {len(failures)} failures")
    assert failures == [], "\n".join(failures[:40])


# -- targeted cases ------------------------------------------------------------------------

TARGETED: Counter[str] = Counter()


async def raw_request(base: str, method: str, path: str, token: str | None = None,
                      **kwargs: Any) -> tuple[int, str, bytes]:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.request(method, base + path, headers=headers, **kwargs) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def assert_json_error(status: int, content_type: str, raw: bytes, expected: int) -> dict[str, Any]:
    TARGETED["inputs"] += 1
    assert status == expected, (status, raw[:300])
    problem = error_body_problem(status, content_type, raw)
    assert problem is None, problem
    return dict(orjson.loads(raw)["error"])


BAD_UUIDS = ["x", "123", "00000000-0000-0000-0000-00000000000", "../../etc/passwd",
             "%00", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "' OR 1=1 --", "a" * 5000,
             "00000000-0000-0000-0000-000000000000%0d%0aX-Injected:%201", "%F0%9F%92%A9",
             "%ff%fe"]


async def test_targeted_hostile_input(server: ServerProcess) -> None:
    base = server.base
    token = await admin_token(base)
    admin = Api(base, token)
    try:
        # Invalid UUIDs on every route that takes one.
        for bad in BAD_UUIDS:
            for method, path in (
                ("GET", f"/api/v1/workflow-runs/{bad}"),
                ("GET", f"/api/v1/workflow-runs/{bad}/stream"),
                ("GET", f"/api/v1/workflow-runs/{bad}/events"),
                ("POST", f"/api/v1/workflow-runs/{bad}/nodes/a/resume"),
                ("GET", f"/api/v1/workflows/{bad}"),
                ("GET", f"/api/v1/workflow-runs/dashboard/{bad}"),
            ):
                kwargs: dict[str, Any] = {"json": {}} if method == "POST" else {}
                status, ctype, raw = await raw_request(base, method, path, token, **kwargs)
                # 400 for a malformed id; 404 where the id changes which route matches.
                assert status in (400, 404), (method, path[:100], status, raw[:200])
                assert_json_error(status, ctype, raw, status)
        status, ctype, raw = await raw_request(
            base, "POST", "/api/v1/workflow-runs/cancel", token,
            json={"runIds": ["not-a-uuid"], "reason": "x"})
        assert status in (200, 400), raw
        if status == 400:
            assert_json_error(status, ctype, raw, 400)

        # Bodies over max_body_bytes: 413 JSON, whatever the route.
        huge = b'{"name": "' + b"x" * (MAX_BODY * 2) + b'"}'
        for path in ("/api/v1/workflows", "/api/v1/workflow-runs/execute",
                     "/api/v1/auth/login", "/api/v1/workflow-runs/cancel"):
            status, ctype, raw = await raw_request(
                base, "POST", path, token, data=huge,
                headers={"Content-Type": "application/json"})
            assert_json_error(status, ctype, raw, 413)

        # Deeply nested bodies: rejected with a JSON 4xx, never a 500 (RecursionError).
        for depth in (200, 5_000, 30_000):
            nested = b'{"name": "deep", "nodes": [{"id": "a", "type": "transform", ' \
                     b'"params": {"value": ' + b"[" * depth + b"]" * depth + b"}}]}"
            status, ctype, raw = await raw_request(
                base, "POST", "/api/v1/workflows", token, data=nested,
                headers={"Content-Type": "application/json"})
            TARGETED["inputs"] += 1
            assert status < 500, (depth, status, raw[:300])
            if status >= 400:
                assert_json_error(status, ctype, raw, status)

        # Cycles and unknown ids: 422 naming the nodes.
        for definition, culprits in (
            ({"name": "cycle", "nodes": [
                {"id": "a", "type": "noop", "after": ["b"]},
                {"id": "b", "type": "noop", "after": ["a"]}]}, {"a", "b"}),
            ({"name": "self", "nodes": [{"id": "a", "type": "noop", "after": ["a"]}]}, {"a"}),
            ({"name": "ghost", "nodes": [{"id": "a", "type": "noop", "after": ["zz"]}]}, {"a"}),
            ({"name": "type", "nodes": [{"id": "a", "type": "__import__"}]}, {"a"}),
        ):
            status, ctype, raw = await raw_request(base, "POST", "/api/v1/workflows", token,
                                                   json=definition)
            error = assert_json_error(status, ctype, raw, 422)
            assert all(c in orjson.dumps(error).decode() for c in culprits), error

        # Template injection: rendered as data (or refused), never evaluated.
        injections = ["{{__import__('os').system('touch /tmp/pwned-runstream')}}",
                      "{{nodes.a.output.__class__}}", "{{nodes.a.output.__class__.__mro__}}",
                      "{{inputs.__dict__}}", "{{env.__class__.__init__.__globals__}}",
                      "{{ ''.__class__ }}", "{{trigger.data.x}}{{", "{{{{inputs.x}}}}",
                      "{% for x in () %}{% endfor %}", "${7*7}", "{{7*7}}"]
        injected = 0
        for text in injections:
            definition = {"name": "inject", "nodes": [
                {"id": "a", "type": "transform", "params": {"value": {"x": "data"}}},
                {"id": "b", "type": "transform", "after": ["a"], "params": {"value": text}},
                {"id": "c", "type": "transform", "params": {"value": "{{inputs.x}}"}}]}
            status, ctype, raw = await raw_request(base, "POST", "/api/v1/workflows", token,
                                                   json=definition)
            TARGETED["inputs"] += 1
            if status == 422:
                assert_json_error(status, ctype, raw, 422)
                continue
            assert status == 201, raw
            workflow_id = orjson.loads(raw)["data"]["id"]
            status, body = await admin.request(
                "POST", "/api/v1/workflow-runs/execute",
                json={"workflowId": workflow_id, "inputs": {"x": "{{7*7}}"}})
            assert status == 200, body
            run = body["data"]
            output = orjson.dumps([run["outputs"], run["error"]]).decode()
            # Input values are data too: a template inside one is never rendered again.
            assert run["outputs"]["c"] == "{{7*7}}", run["outputs"]
            for leak in ("<class", "<built-in", "<module", "object at 0x", "builtins", '"49"'):
                assert leak not in output, (text, output)
            injected += 1
        assert not Path("/tmp/pwned-runstream").exists()
        TARGETED["template injections run"] = injected

        # Malformed Last-Event-IDs: 400 JSON; beyond the log: 409 cursor_beyond_log.
        run_workflow = await create_workflow(admin, {"name": "one", "nodes": [
            {"id": "a", "type": "noop"}]})
        status, body = await admin.request("POST", "/api/v1/workflow-runs/execute",
                                           json={"workflowId": run_workflow})
        run_id = body["data"]["id"]
        stream_path = f"/api/v1/workflow-runs/{run_id}/stream"
        for cursor in ("-1", "abc", "1.5", "1e3", "0x10", " 1 2", "１２", "9" * 19,
                       "1; DROP TABLE events", "\u0661", "+5"):
            status, ctype, raw = await raw_request(base, "GET", stream_path, token,
                                                   headers={"Last-Event-ID": cursor})
            assert_json_error(status, ctype, raw, 400)
            status, ctype, raw = await raw_request(base, "GET", stream_path, token,
                                                   params={"lastEventId": cursor})
            assert_json_error(status, ctype, raw, 400)
        status, ctype, raw = await raw_request(base, "GET", stream_path, token,
                                               headers={"Last-Event-ID": "99999999"})
        assert assert_json_error(status, ctype, raw, 409)["code"] == "cursor_beyond_log"
    finally:
        await admin.close()
    report_summary(f"faults/hostile input: {TARGETED['inputs']} targeted inputs (bad ids, "
                   f"huge/nested bodies, cycles, {TARGETED['template injections run']} template "
                   "injections run, bad cursors), 0 failures")


async def test_newlines_in_node_output_cannot_inject_sse_frames(server: ServerProcess) -> None:
    base = server.base
    admin = Api(base, await admin_token(base))
    evil = "line1\n\nevent: result\ndata: {\"success\": true}\nid: 999999\r\n\r\nretry: 1\r:x"
    try:
        workflow_id = await create_workflow(admin, {"name": "evil\nevent: x\ndata: y", "nodes": [
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
        log = (await admin.request("GET", f"/api/v1/workflow-runs/{run_id}/events"))[1]["data"]
        positions = {e["position"] for e in log}
        checked = 0
        for path in (f"/api/v1/workflow-runs/{run_id}/stream",
                     f"/api/v1/workflow-runs/{run_id}/stream?lastEventId=0"):
            async with admin.http.get(base + path, headers=admin.headers()) as resp:
                assert resp.status == 200
                frames = await read_frames(resp)
            allowed = {"workflow-run", "activity-run", "result", "error", "thinking", "ping"}
            assert [f.retry for f in frames if f.retry is not None] == [2000], frames[:3]
            for frame in frames:
                checked += 1
                if not frame.data_lines:
                    assert frame.id is None and frame.event == "message", frame
                    continue
                assert frame.event in allowed, frame
                assert frame.id is None or int(frame.id) in positions, frame
                frame.json()  # each frame's data is one whole JSON document
            result = [f for f in frames if f.event == "result"]
            assert len(result) == 1
            assert result[0].json()["workflowRun"]["outputs"]["b"] == evil
    finally:
        await admin.close()
    report_summary(f"faults/sse framing: {checked} frames of a run whose names and output "
                   "carry CR/LF frame injections parsed intact, 0 failures")


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
