"""Runs that pass a large document through ten nodes, followed by streams as they go: the
load of the memory test (short) and of `bench/memory.py`.

The served process's memory is read from /proc; everything talks to loopback only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.support.polling import wait_for

NODES = 10
WORKFLOW = {
    "name": "large-payloads",
    "nodes": [
        {"id": f"n{i}", "type": "transform", "params": {"value": "{{inputs.document}}"},
         **({"after": [f"n{i - 1}"]} if i else {})}
        for i in range(NODES)
    ],
}


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


def document(size: int) -> str:
    """A string of `size` bytes that compresses poorly and needs no JSON escaping."""
    text = "".join(f"{i:08x}" for i in range(size // 8 + 1))
    return text[:size]


async def lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The response's lines, however long (one data line may carry megabytes)."""
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line


@dataclass
class Follower:
    """One SSE client of the whole log (admin stream): the positions it received."""

    positions: list[int] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


async def follow_log(http: aiohttp.ClientSession, base: str, follower: Follower) -> None:
    async with http.get(f"{base}/api/v1/events/stream",
                        timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200
        async for line in lines(resp):
            if line.startswith(b"id: "):
                follower.positions.append(int(line[4:]))


async def read_run_stream(http: aiohttp.ClientSession, base: str, run_id: str) -> bytes:
    """A finished run's whole v1 stream; returns the payload of its `result` frame."""
    result = b""
    async with http.get(f"{base}/api/v1/workflow-runs/{run_id}/stream") as resp:
        assert resp.status == 200
        event = b""
        async for line in lines(resp):
            if line.startswith(b"event: "):
                event = line[7:].strip()
            elif line.startswith(b"data: ") and event == b"result":
                result = line[6:].strip()
    return result


async def large_payload_runs(
    base: str, token: str, runs: int, size: int, log_followers: int = 3,
    run_followers: int = 2, on_run: Any = None,
) -> tuple[list[str], list[Follower], int]:
    """`runs` runs back to back, each passing `size` bytes through every node; returns
    the run ids, the log followers and how many run streams were read to their result."""
    headers = {"Authorization": f"Bearer {token}"}
    text = document(size)
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        resp = await http.post(f"{base}/api/v1/workflows", json=WORKFLOW)
        assert resp.status == 201, await resp.text()
        workflow_id = (await resp.json())["data"]["id"]
        followers = [Follower() for _ in range(log_followers)]
        for follower in followers:
            follower.task = asyncio.create_task(follow_log(http, base, follower))
        finished: asyncio.Queue[str | None] = asyncio.Queue()
        streams_read = 0

        async def read_runs() -> None:
            nonlocal streams_read
            while (run_id := await finished.get()) is not None:
                result = await read_run_stream(http, base, run_id)
                outputs = orjson.loads(result)["workflowRun"]["outputs"]
                assert outputs == {f"n{NODES - 1}": text}
                streams_read += 1

        readers = [asyncio.create_task(read_runs()) for _ in range(run_followers)]
        run_ids = []
        for index in range(runs):
            async with http.post(f"{base}/api/v1/workflow-runs/execute", json={
                    "workflowId": workflow_id, "inputs": {"document": text}}) as resp:
                body = await resp.json()
            assert resp.status == 200, body
            assert body["data"]["status"] == "completed", body
            run_ids.append(body["data"]["id"])
            for _ in readers:
                finished.put_nowait(run_ids[-1])
            if on_run is not None:
                on_run(index + 1)
        for _ in readers:
            finished.put_nowait(None)
        await asyncio.gather(*readers)
        async with http.get(f"{base}/healthz") as resp:
            head = (await resp.json())["head"]
        # The followers must reach the head: every event, none twice.
        await wait_for(lambda: all(f.positions and f.positions[-1] >= head for f in followers),
                       30, lambda: f"followers short of head {head}: "
                                   f"{[f.positions[-1:] for f in followers]}", every_s=0.05)
        for follower in followers:
            assert follower.task is not None
            follower.task.cancel()
        await asyncio.gather(*(f.task for f in followers if f.task), return_exceptions=True)
        assert all(f.positions == list(range(1, head + 1)) for f in followers), [
            (len(f.positions), f.positions[-1:]) for f in followers]
        return run_ids, followers, streams_read
