"""Request handling as a client sees it: a real `runstream serve` with default settings and
8 concurrent clients in this process (one aiohttp session, a bearer token), each sending
its next request as soon as the last is answered. Three phases, one after another:

- `execute`: POST /api/v1/workflow-runs/execute of a one-node transform (about 10 s);
- `list`: GET /api/v1/workflow-runs?limit=50 with those runs in the store (about 5 s);
- `invalid`: POST /api/v1/workflow-runs/execute with a body that fails validation, which
  answers 400 (about 5 s).

Each prints requests/s and the p50 and p99 latency in ms. Clients and server share the
machine's cores, so compare figures taken on the same machine in the same sitting (this
bench exists to compare request-body parsing before and after a change).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench.common import note, percentile, report, scratch_dir
from tests.support.server_process import ServerProcess, admin_token

CLIENTS = 8
EXECUTE_S = 10.0
LIST_S = 5.0
INVALID_S = 5.0
WARMUP_REQUESTS = 20  # per phase, before timing: connections open, code paths warm
WORKFLOW = {"name": "bench-requests", "nodes": [
    {"id": "t", "type": "transform", "params": {"value": {"n": "{{inputs.n}}"}}}]}
INVALID_BODY = orjson.dumps({"workflowId": "nope", "inputs": 5})
JSON_HEADERS = {"Content-Type": "application/json"}

# One request: given a sequence number, send it and read the answer; a problem is returned
# as text (counted as a failure, not as a request), None when the answer was the expected one.
Send = Callable[[int], Awaitable[str | None]]


@dataclass
class Phase:
    requests: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _measure(send: Send, duration_s: float) -> Phase:
    """CLIENTS loops sending back to back until `duration_s` has passed (each finishes the
    request it has in flight); throughput is answered requests over the wall time to the last."""
    for i in range(WARMUP_REQUESTS):
        problem = await send(-1 - i)
        if problem is not None:
            raise AssertionError(f"warm-up request failed: {problem}")
    phase = Phase()
    sequence = iter(range(1 << 62))
    started = time.perf_counter()
    deadline = started + duration_s

    async def client() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            problem = await send(next(sequence))
            if problem is None:
                phase.latencies_ms.append((time.perf_counter() - began) * 1000)
            else:
                phase.failures.append(problem)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    phase.elapsed_s = time.perf_counter() - started
    phase.requests = len(phase.latencies_ms)
    return phase


def _report(name: str, phase: Phase) -> None:
    report(f"requests.{name}_per_s", phase.requests / phase.elapsed_s, "req/s")
    report(f"requests.{name}_p50_ms", percentile(phase.latencies_ms, 0.50), "ms")
    report(f"requests.{name}_p99_ms", percentile(phase.latencies_ms, 0.99), "ms")
    if phase.failures:
        note(f"{name}: {len(phase.failures)} unexpected answers, first: {phase.failures[0]}")


async def main() -> None:
    with scratch_dir("bench-requests-") as directory:
        server = ServerProcess(directory / "data")
        await server.start()
        try:
            token = await admin_token(server.base)
            headers = {"Authorization": f"Bearer {token}"}
            connector = aiohttp.TCPConnector(limit=CLIENTS + 2)
            async with aiohttp.ClientSession(
                    headers=headers, connector=connector,
                    timeout=aiohttp.ClientTimeout(total=60)) as http:
                await _phases(http, server.base)
        finally:
            await server.stop()


async def _phases(http: aiohttp.ClientSession, base: str) -> None:
    async with http.post(f"{base}/api/v1/workflows", json=WORKFLOW) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    workflow_id = body["data"]["id"]
    execute_url = f"{base}/api/v1/workflow-runs/execute"
    list_url = f"{base}/api/v1/workflow-runs?limit=50"

    async def execute(i: int) -> str | None:
        payload = orjson.dumps({"workflowId": workflow_id, "inputs": {"n": i}})
        async with http.post(execute_url, data=payload, headers=JSON_HEADERS) as resp:
            raw = await resp.read()
        if resp.status != 200:
            return f"{resp.status} {raw[:200]!r}"
        status = orjson.loads(raw)["data"]["status"]
        return None if status == "completed" else f"run {status}"

    async def list_runs(_: int) -> str | None:
        async with http.get(list_url) as resp:
            raw = await resp.read()
        return None if resp.status == 200 else f"{resp.status} {raw[:200]!r}"

    async def invalid(_: int) -> str | None:
        async with http.post(execute_url, data=INVALID_BODY, headers=JSON_HEADERS) as resp:
            raw = await resp.read()
        return None if resp.status == 400 else f"{resp.status} {raw[:200]!r}"

    note(f"{CLIENTS} concurrent clients; execute {EXECUTE_S:.0f} s, list {LIST_S:.0f} s, "
         f"invalid body {INVALID_S:.0f} s")
    executed = await _measure(execute, EXECUTE_S)
    _report("execute", executed)

    async with http.get(list_url) as resp:
        total = (await resp.json())["pagination"]["total"]
    note(f"list: {total} runs in the store")
    _report("list", await _measure(list_runs, LIST_S))

    async with http.post(execute_url, data=INVALID_BODY, headers=JSON_HEADERS) as resp:
        error = (await resp.json())["error"]
    note(f"invalid body: {resp.status} {error['message']!r}"
         + (f", {len(error['fields'])} fields named" if "fields" in error else ""))
    _report("invalid", await _measure(invalid, INVALID_S))
