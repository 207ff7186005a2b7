"""Sustained load on a served runstream, as a team would put on it: clients executing a
ten-node chain back to back, clients polling the run list, and open streams that follow
every run. Used by the WAL soak test (short) and `make bench-soak` (long).

Everything here talks to loopback only, through the public API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHAIN_LENGTH = 10
CHAIN = {
    "name": "sustained-chain",
    "nodes": [
        {"id": f"n{i}", "type": "transform",
         "params": {"value": {"step": i, "text": "{{inputs.text}}"}},
         **({"after": [f"n{i - 1}"]} if i else {})}
        for i in range(CHAIN_LENGTH)
    ],
}
WAL_SAMPLE_S = 0.05


@dataclass
class Interval:
    """One reporting interval: runs finished, the WAL's largest size, list latencies."""

    started: float
    runs: int = 0
    wal_max: int = 0
    list_ms: list[float] = field(default_factory=list)

    def list_p99(self) -> float:
        ordered = sorted(self.list_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


@dataclass
class LoadResult:
    intervals: list[Interval]
    completed_runs: list[str]
    failures: list[str]
    stream_events: int

    @property
    def wal_max(self) -> int:
        return max((i.wal_max for i in self.intervals), default=0)


async def sustained_load(
    base: str, token: str, wal_path: Path, duration_s: float, interval_s: float,
    executors: int = 20, listers: int = 2, streams: int = 4,
    on_interval: Callable[[int, Interval, float], None] | None = None,
) -> LoadResult:
    """Run the load for `duration_s`; every `interval_s` an Interval closes (and is reported)."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=executors + listers + streams + 4)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout,
                                     connector=connector) as http:
        resp = await http.post(f"{base}/api/v1/workflows", json=CHAIN)
        assert resp.status == 201, await resp.text()
        workflow_id = (await resp.json())["data"]["id"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop_at = started + duration_s
        intervals = [Interval(started)]
        completed: list[str] = []
        failures: list[str] = []
        stream_events = 0

        async def execute() -> None:
            while loop.time() < stop_at:
                async with http.post(f"{base}/api/v1/workflow-runs/execute", json={
                        "workflowId": workflow_id, "inputs": {"text": "sustained"}}) as resp:
                    body = await resp.json()
                if resp.status != 200 or body["data"]["status"] != "completed":
                    failures.append(f"{resp.status} {body}")
                    continue
                completed.append(body["data"]["id"])
                intervals[-1].runs += 1

        async def list_runs() -> None:
            while loop.time() < stop_at:
                began = time.perf_counter()
                async with http.get(f"{base}/api/v1/workflow-runs?limit=50") as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures.append(f"list answered {resp.status}")
                intervals[-1].list_ms.append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(0.05)

        async def follow() -> None:
            # The console's run feed: an SSE stream that stays open for the whole load.
            nonlocal stream_events
            async with http.get(f"{base}/api/v1/workflow-runs/stream",
                                timeout=aiohttp.ClientTimeout(total=None)) as resp:
                assert resp.status == 200
                async for line in resp.content:
                    if line.startswith(b"event: workflow-run"):
                        stream_events += 1

        async def watch_wal() -> None:
            while loop.time() < stop_at:
                size = _size(wal_path)
                current = intervals[-1]
                current.wal_max = max(current.wal_max, size)
                now = loop.time()
                if now - current.started >= interval_s:
                    if on_interval is not None:
                        on_interval(len(intervals), current, now - current.started)
                    intervals.append(Interval(now))
                await asyncio.sleep(WAL_SAMPLE_S)

        followers = [asyncio.create_task(follow()) for _ in range(streams)]
        await asyncio.gather(*(execute() for _ in range(executors)),
                             *(list_runs() for _ in range(listers)), watch_wal())
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        if len(intervals) > 1 and intervals[-1].runs == 0:
            intervals.pop()  # the sliver after the last full interval
        return LoadResult(intervals, completed, failures, stream_events)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def run_statuses(base: str, token: str, run_ids: list[str]) -> dict[str, Any]:
    """Each run's status as the API answers it now."""
    headers = {"Authorization": f"Bearer {token}"}
    statuses: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        for run_id in run_ids:
            async with http.get(f"{base}/api/v1/workflow-runs/{run_id}") as resp:
                body = await resp.json()
                statuses[run_id] = (body["data"]["status"], len(body["data"]["activityRuns"])) \
                    if resp.status == 200 else resp.status
    return statuses
