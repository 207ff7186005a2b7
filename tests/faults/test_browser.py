"""A real browser follows a run with its own EventSource while the server restarts.

Headless Chromium (Debian's package, driven by Playwright) opens a page that the test serves
from a small in-test reverse proxy: the page and the API share one origin, so the page logs in
with fetch (the session cookie) and EventSource sends it. The real `runstream serve` process
behind the proxy is restarted three times mid-run (SIGTERM once, SIGKILL twice). The page must
end with exactly the frames of a fresh full read of the run (same events, ids and data: no
gap, no duplicate), and stop reconnecting after the terminal event (the server answers 204).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.browser import CHROMIUM_ARGS
from tests.support.polling import wait_for
from tests.support.server_process import (
    ADMIN_PASSWORD,
    Api,
    ServerProcess,
    admin_token,
    create_workflow,
)
from tests.support.sse import iter_frames
from tests.support.summary import report_summary

async_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.slow

RETRY_MS = 300
STEP_S = 20.0
WORKFLOW = {"name": "Browser follows", "nodes": [
    {"id": "prep", "type": "transform", "params": {"value": {"x": 1}}},
    {"id": "gate", "type": "approval", "after": ["prep"], "params": {"prompt": "go?"}},
    {"id": "wait", "type": "delay", "after": ["gate"], "params": {"ms": 2500}},
    {"id": "fin", "type": "transform", "after": ["wait"], "params": {"value": "done"}},
]}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>follow</title></head><body>
<script>
window.events = []; window.opens = 0; window.netErrors = 0;
window.start = async function (runId, password) {
  const login = await fetch('/api/v1/auth/login', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username: 'admin', password: password})});
  if (login.status !== 200) { throw new Error('login ' + login.status); }
  const es = new EventSource('/api/v1/workflow-runs/' + runId + '/stream');
  window.es = es;
  const keep = (type) => (e) => window.events.push({type: type, id: e.lastEventId, data: e.data});
  for (const type of ['workflow-run', 'activity-run', 'result', 'thinking']) {
    es.addEventListener(type, keep(type));
  }
  es.addEventListener('error', (e) => {
    if (e instanceof MessageEvent) { keep('error')(e); } else { window.netErrors++; }
  });
  es.addEventListener('open', () => { window.opens++; });
};
</script></body></html>"""


class Proxy:
    """Serves the page, and passes everything else to the server (streaming, Host kept)."""

    def __init__(self, upstream: ServerProcess) -> None:
        self.upstream = upstream
        self.stream_requests: list[tuple[str | None, int]] = []
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/page", self.page)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.http = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=2))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self.http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # while the server restarts, hold the request (as a load balancer would)
            try:
                upstream = await self.http.request(
                    request.method, self.upstream.base + request.path_qs, headers=headers,
                    data=body or None, allow_redirects=False)
                break
            except aiohttp.ClientConnectionError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
        async with upstream:
            if request.path.endswith("/stream"):
                self.stream_requests.append((request.headers.get("Last-Event-ID"),
                                             upstream.status))
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                        "date", "server"):
                    response.headers.add(name, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except aiohttp.ClientPayloadError:
                # The server died mid-stream: drop the browser's connection the same way.
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
            return response


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


async def until(page: Any, expression: str, what: str) -> None:
    """Wait until `expression` holds in the page; on a timeout, say what the page saw."""
    seen: list[Any] = []

    async def holds() -> bool:
        if await page.evaluate(expression):
            return True
        seen[:] = [await page.evaluate("window.events")]
        return False

    await wait_for(holds, STEP_S, lambda: f"waiting for {what}; page saw {seen}", every_s=0.05)


async def full_read(api: Api, run_id: str) -> list[dict[str, str]]:
    """The run's frames as an EventSource would report them (lastEventId carries over)."""
    frames = []
    last = ""
    async with api.http.get(f"{api.base}/api/v1/workflow-runs/{run_id}/stream",
                            headers=api.headers()) as resp:
        assert resp.status == 200
        async for frame in iter_frames(resp):
            if frame.id is not None:
                last = frame.id
            if frame.data_lines and frame.event != "ping":
                frames.append({"type": frame.event, "id": last, "data": frame.data})
    return frames


async def test_browser_eventsource_follows_a_run_across_server_restarts(
    browser: Any, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "data", stream_retry_ms=RETRY_MS)
    await server.start()
    proxy = Proxy(server)
    await proxy.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        workflow_id = await create_workflow(api, WORKFLOW)
        async with api.http.post(f"{server.base}/api/v1/workflow-runs/execute/stream",
                                 json={"workflowId": workflow_id}, headers=api.headers()) as resp:
            assert resp.status == 200
            run_id = resp.headers["X-Workflow-Run-Id"]

        context = await browser.new_context()
        page = await context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        await page.goto(proxy.base + "/page")
        await page.evaluate("([run, pw]) => window.start(run, pw)", [run_id, ADMIN_PASSWORD])
        waiting = ("window.events.some(e => e.type === 'activity-run' && "
                   "JSON.parse(e.data).content.status === 'waiting')")
        await until(page, waiting, "the gate to wait")

        await server.restart(kill=False)  # a clean restart: the server ends the stream
        await until(page, "window.opens >= 2", "a reconnect after a clean restart")
        await server.restart(kill=True)  # SIGKILL while the run waits
        await until(page, "window.opens >= 3", "a reconnect after SIGKILL")

        code, body = await api.request(
            "POST", f"/api/v1/workflow-runs/{run_id}/nodes/gate/resume", json={"approved": True})
        assert code == 200, body
        running = ("window.events.some(e => e.type === 'activity-run' && "
                   "JSON.parse(e.data).content.stepId === 'wait' && "
                   "JSON.parse(e.data).content.status === 'running')")
        await until(page, running, "the delay to run")
        await server.restart(kill=True)  # SIGKILL while the delay node runs
        await until(page, "window.es.readyState === 2", "EventSource to close after the end")

        seen = await page.evaluate("window.events")
        opens = await page.evaluate("window.opens")
        expected = await full_read(api, run_id)
        requests_at_close = len(proxy.stream_requests)
        await asyncio.sleep(RETRY_MS * 5 / 1000)
    finally:
        await api.close()
        await proxy.close()
        await server.stop()

    assert page_errors == []
    assert expected[-1]["type"] == "result", expected[-1]
    assert seen == expected, f"browser saw {len(seen)} frames, a full read has {len(expected)}"
    ids = [int(e["id"]) for e in expected]
    assert ids == sorted(ids)
    # The last reconnect carried the terminal event's id and got 204; then no more requests.
    assert proxy.stream_requests[-1] == (expected[-1]["id"], 204), proxy.stream_requests
    assert len(proxy.stream_requests) == requests_at_close, proxy.stream_requests
    resumed_with = [cursor for cursor, _ in proxy.stream_requests[1:]]
    assert all(cursor is not None for cursor in resumed_with), proxy.stream_requests
    report_summary(
        f"faults/browser: Chromium EventSource across 3 server restarts (1 SIGTERM, 2 SIGKILL): "
        f"{len(seen)} frames, {opens} connections, {len(proxy.stream_requests)} stream requests "
        f"(Last-Event-ID on every reconnect, 204 at the end, none after), 0 failures")
