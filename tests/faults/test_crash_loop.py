"""Crash loop: the real `runstream serve` process, SIGKILLed at random (seeded) moments while
50 runs with delays, approvals and http_request nodes are in flight and 20 clients follow
their streams with automatic reconnect and Last-Event-ID.

At the end: every run finished; every client saw each of its runs' frames exactly once and in
log order (the same (id, event) list as a fresh full read, whose ids are log positions of the
run); `runstream verify` and `runstream rebuild --check` exit 0; no completed node ran twice
(one NodeCompleted per node in the raw log, no NodeStarted after it, and the counting HTTP
server saw no more requests per node than the log has attempts).

`FAULTS_SOAK=1` multiplies runs, clients and kills (`make soak`); `FAULTS_SEED` picks the seed.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow, run_cli
from tests.support.sse import iter_frames
from tests.support.summary import report_summary

SOAK = os.environ.get("FAULTS_SOAK") == "1"
SEED = int(os.environ.get("FAULTS_SEED", "6"))
RUNS = 200 if SOAK else 50
CLIENTS = 40 if SOAK else 20
KILLS = 40 if SOAK else 10
TERMINAL = {"completed", "failed", "cancelled"}
# Log events the v1 stream must show (a frame carrying their position as its id).
MUST_RENDER = ("RunStarted", "NodeStarted", "NodeCompleted", "NodeWaiting", "RunCompleted")

pytestmark = pytest.mark.slow


def workflows(hit_base: str) -> list[dict[str, Any]]:
    return [
        {"name": "Chain with a gate",
         "nodes": [
             {"id": "prep", "type": "transform", "params": {"value": {"k": "{{inputs.key}}"}}},
             {"id": "wait1", "type": "delay", "after": ["prep"], "params": {"ms": 150}},
             {"id": "hit", "type": "http_request", "after": ["wait1"],
              "params": {"method": "GET", "url": f"{hit_base}/{{{{inputs.key}}}}/hit"}},
             {"id": "gate", "type": "approval", "after": ["hit"], "params": {"prompt": "go?"}},
             {"id": "wait2", "type": "delay", "after": ["gate"], "params": {"ms": 200}},
             {"id": "done", "type": "transform", "after": ["wait2"],
              "params": {"value": "{{nodes.prep.output.k}}"}},
         ]},
        {"name": "Fan-in with a gate",
         "nodes": [
             {"id": "p1", "type": "delay", "params": {"ms": 300}},
             {"id": "p2", "type": "delay", "params": {"ms": 100}},
             {"id": "join", "type": "noop", "after": ["p1", "p2"]},
             {"id": "gate", "type": "approval", "after": ["join"], "params": {"prompt": "ok?"}},
             {"id": "h2", "type": "http_request", "after": ["gate"],
              "params": {"method": "POST", "url": f"{hit_base}/{{{{inputs.key}}}}/h2",
                         "body": {"k": "{{inputs.key}}"}}},
             {"id": "fin", "type": "transform", "after": ["h2"],
              "params": {"value": {"status": "{{nodes.h2.output.status}}"}}},
         ]},
    ]


class Follower:
    """One client: its own connection pool, following its runs with reconnect + Last-Event-ID."""

    def __init__(self, server: ServerProcess, token: str, rng: random.Random,
                 dialect: str = "v1") -> None:
        self.server = server
        self.dialect = dialect
        self.chat_id: str | None = None
        self._chat_lock = asyncio.Lock()
        self.stream_path: dict[str, str] = {}
        self.auth = {"Authorization": f"Bearer {token}"}
        self.rng = rng
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60))
        self.seen: dict[str, list[tuple[int, str]]] = {}
        self.reconnects = 0
        self.problems: list[str] = []

    async def start_run(
        self, workflow_id: str, key: str
    ) -> tuple[str, aiohttp.ClientResponse | None]:
        """Start a run in this client's dialect; v1 keeps following the execute stream."""
        base = self.server.base
        if self.dialect == "v1":
            resp = await self.http.post(
                f"{base}/api/v1/workflow-runs/execute/stream",
                json={"workflowId": workflow_id, "inputs": {"key": key}}, headers=self.auth)
            assert resp.status == 200, await resp.text()
            run_id = resp.headers["X-Workflow-Run-Id"]
            self.stream_path[run_id] = f"/api/v1/workflow-runs/{run_id}/stream"
            return run_id, resp
        if self.dialect == "chat":
            async with self._chat_lock:  # one chat per client
                if self.chat_id is None:
                    async with self.http.post(f"{base}/api/chats", json={"title": "crash loop"},
                                              headers=self.auth) as resp:
                        assert resp.status == 201, await resp.text()
                        self.chat_id = (await resp.json())["data"]["id"]
            async with self.http.post(
                f"{base}/api/chats/{self.chat_id}/workflow-runs",
                json={"workflowId": workflow_id, "inputs": {"key": key}}, headers=self.auth,
            ) as resp:
                assert resp.status == 201, await resp.text()
                run_id = (await resp.json())["data"]["id"]
            self.stream_path[run_id] = f"/api/chats/{self.chat_id}/workflow-runs/{run_id}/stream"
            return run_id, None
        async with self.http.post(  # splox
            f"{base}/api/v1/workflow-requests",
            json={"workflow_id": workflow_id, "payload": {"key": key}}, headers=self.auth,
        ) as resp:
            assert resp.status == 201, await resp.text()
            run_id = (await resp.json())["id"]
        self.stream_path[run_id] = f"/api/v1/workflow-requests/{run_id}/listen"
        return run_id, None

    async def follow(self, run_id: str, first: aiohttp.ClientResponse | None) -> None:
        seen = self.seen.setdefault(run_id, [])
        last: int | None = None
        response = first
        while True:
            try:
                if response is None:
                    headers = dict(self.auth)
                    if last is not None:
                        headers["Last-Event-ID"] = str(last)
                    response = await self.http.get(
                        self.server.base + self.stream_path[run_id], headers=headers)
                async with response:
                    if response.status == 204:
                        return
                    if response.status != 200:
                        body = await response.text()
                        self.problems.append(f"{run_id} after {last}: {response.status} {body}")
                        if response.status < 500:
                            return
                    else:
                        async for frame in iter_frames(response):
                            if frame.id is not None:
                                position = int(frame.id)
                                seen.append((position, frame.event))
                                last = position
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                pass
            response = None
            self.reconnects += 1
            await asyncio.sleep(self.rng.uniform(0.02, 0.2))

    async def close(self) -> None:
        await self.http.close()


async def hit_counter() -> tuple[web.AppRunner, str, Counter[str]]:
    """A loopback HTTP server that counts requests per path (run key + node)."""
    counts: Counter[str] = Counter()

    async def hit(request: web.Request) -> web.Response:
        counts[f"{request.match_info['key']}/{request.match_info['node']}"] += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/hit/{key}/{node}", hit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hit", counts


async def approver(api: Api, run_ids: list[str], gates: dict[str, int],
                   server: ServerProcess, stop: asyncio.Event, stats: Counter[str]) -> None:
    """Answers waiting approvals through the API; a run's gate opens after `gates[run]` kills."""
    open_runs = set(run_ids)
    while open_runs and not stop.is_set():
        for run_id in sorted(open_runs):
            try:
                status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
                if status != 200:
                    continue
                run = body["data"]
                if run["status"] in TERMINAL:
                    open_runs.discard(run_id)
                    continue
                if server.kills < gates[run_id]:
                    continue
                for node in run["activityRuns"]:
                    if node["status"] == "waiting":
                        code, _ = await api.request(
                            "POST", f"/api/v1/workflow-runs/{run_id}/nodes/{node['stepId']}/resume",
                            json={"approved": True, "data": {"by": "approver"}})
                        stats[f"resume {code}"] += 1
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                stats["approver retries while down"] += 1
        await asyncio.sleep(0.05)


async def fetch_log(api: Api, run_id: str) -> list[dict[str, Any]]:
    status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}/events?limit=1000")
    assert status == 200, body
    return list(body["data"])


async def full_read(api: Api, path: str) -> list[tuple[int, str]]:
    """A run's whole stream, read once from the start on a quiet server."""
    async with api.http.get(api.base + path, headers=api.headers()) as resp:
        assert resp.status == 200, await resp.text()
        return [(int(f.id), f.event) async for f in iter_frames(resp) if f.id is not None]


async def test_sigkill_loop_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    counter_runner, hit_base, hits = await hit_counter()
    server = ServerProcess(tmp_path / "data", engine__http_allow_hosts="127.0.0.1",
                           engine__max_concurrent_runs=24, stream_retry_ms=100, synchronous="FULL")
    await server.start()
    followers: list[Follower] = []
    api: Api | None = None
    try:
        token = await admin_token(server.base)
        api = Api(server.base, token)
        workflow_ids = [await create_workflow(api, wf) for wf in workflows(hit_base)]
        # Most clients speak v1; every fourth the chat dialect, every fourth Splox's listen.
        dialects = ["v1", "v1", "chat", "splox"]
        followers = [Follower(server, token, random.Random(rng.random()), dialects[i % 4])
                     for i in range(CLIENTS)]

        # Start every run (each through its client's execute/stream) before the first kill.
        keys = [f"run{i:03d}" for i in range(RUNS)]
        started = await asyncio.gather(*(
            followers[i % CLIENTS].start_run(workflow_ids[i % len(workflow_ids)], keys[i])
            for i in range(RUNS)))
        run_ids = [run_id for run_id, _ in started]
        key_of = dict(zip(run_ids, keys, strict=True))
        follow_tasks = [
            asyncio.create_task(followers[i % CLIENTS].follow(run_id, resp))
            for i, (run_id, resp) in enumerate(started)]
        gates = {run_id: rng.randint(0, KILLS // 2 + 1) for run_id in run_ids}
        stop = asyncio.Event()
        stats: Counter[str] = Counter()
        approving = asyncio.create_task(approver(api, run_ids, gates, server, stop, stats))

        startup_kills = 0
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.05, 1.2))
            await server.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            if rng.random() < 0.3:  # sometimes again while it starts up and recovers runs
                await server.spawn()
                await asyncio.sleep(rng.uniform(0.05, 0.6))
                await server.kill()
                startup_kills += 1
            await server.start()

        try:
            async with asyncio.timeout(120 if SOAK else 60):
                await asyncio.gather(*follow_tasks)
                await approving
        finally:
            stop.set()
            for task in (*follow_tasks, approving):
                task.cancel()

        problems = [p for f in followers for p in f.problems]
        assert problems == [], problems

        events_checked = 0
        reruns = 0
        for run_id in run_ids:
            status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
            assert status == 200, body
            assert body["data"]["status"] == "completed", body
            log = await fetch_log(api, run_id)
            positions = [event["position"] for event in log]
            client = followers[run_ids.index(run_id) % CLIENTS]
            expected = await full_read(api, client.stream_path[run_id])
            ids = [position for position, _ in expected]
            assert ids == sorted(set(ids)), f"{run_id}: fresh read out of order"
            assert set(ids) <= set(positions), f"{run_id}: ids that are not the run's positions"
            rendered = MUST_RENDER if client.dialect == "v1" else ("NodeCompleted",)
            must_render = {e["position"] for e in log if e["type"] in rendered}
            assert must_render <= set(ids), f"{run_id}: stream skips {must_render - set(ids)}"
            assert client.seen[run_id] == expected, (
                f"{run_id}: the client saw {client.seen[run_id]}, the log renders {expected}")
            events_checked += len(expected)

            # No completed node ran twice.
            completed: Counter[str] = Counter()
            starts: Counter[str] = Counter()
            for event in log:
                node = event["data"].get("nodeId")
                if event["type"] == "NodeCompleted":
                    completed[node] += 1
                elif event["type"] == "NodeStarted":
                    assert completed[node] == 0, f"{run_id}/{node} started after it completed"
                    starts[node] += 1
                    # An interrupted attempt re-runs as the next one: 1, 2, 3 ...
                    assert event["data"]["attempt"] == starts[node], (run_id, node, event)
                    reruns += event["data"]["attempt"] > 1
            assert all(n == 1 for n in completed.values()), (run_id, completed)
            assert len(completed) == 6, (run_id, completed)
            for node in ("hit", "h2"):
                if node in starts:
                    count = hits[f"{key_of[run_id]}/{node}"]
                    assert 1 <= count <= starts[node], (run_id, node, count, starts[node])
            events_checked += len(log)
        await api.close()
        api = None
        assert await server.stop() == 0, server.log_tail()

        code, out = await run_cli("verify", data_dir=server.data_dir)
        assert code == 0, out
        code, out = await run_cli("rebuild", "--check", data_dir=server.data_dir)
        assert code == 0, out
        reconnects = sum(f.reconnects for f in followers)
        report_summary(
            f"faults/crash loop (seed {SEED}): {server.kills} SIGKILLs survived "
            f"({startup_kills} during start-up), {RUNS} runs "
            f"(streams: {dict(Counter(f.dialect for f in followers))} clients) "
            f"completed, {CLIENTS} clients, {reconnects} reconnects, {events_checked} events "
            f"checked, {reruns} interrupted attempts re-run, {sum(hits.values())} http hits, "
            f"resumes {dict(stats)}, 0 failures")
    finally:
        for follower in followers:
            await follower.close()
        if api is not None:
            await api.close()
        await server.kill()
        await counter_runner.cleanup()
