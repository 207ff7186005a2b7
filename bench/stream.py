"""One run streamed to 1,000 subscribers while 25 events/s are appended: commit-to-parse latency.

Our side is the real app (SQLite, synchronous=FULL, auth, the v1 dialect) served on
127.0.0.1 from this process; the 1,000 clients live in a separate process and parse
every frame. Each event is a NodeThinking of the run's waiting approval node, which v1
renders as a `thinking` frame whose content is the time.time() taken just before
`append` was called. Latency is measured two ways:

- commit to parse (the figure of the issue): the writer thread's clock right after the
  batch's COMMIT returned, kept by position, subtracted from the client's parse time;
- append to parse: from the call to `append`, so it includes the durable commit (fsync).

The reference is a minimal in-memory aiohttp broadcast (one asyncio.Queue per
subscriber, no store, no auth) sending byte-identical frames at the same rate to the
same client code; its clock is read just before the frame is put on the queues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench._streaming import (
    GATE,
    Broadcast,
    ClientProcess,
    CommitClock,
    Target,
    admin_token,
    raise_fd_limit,
    runstream_app,
    serve,
    thinking_payload,
    waiting_run,
)
from bench.common import note, percentile, report, scratch_dir
from eventstore.records import NewEvent
from projections.vocabulary import EventType
from service import keys

SUBSCRIBERS = 1000
EVENTS_PER_S = 25
DURATION_S = 12.0
MAX_DRAIN_S = 30.0  # how long the clients may take to parse the backlog


async def drive(
    target: Target, out_dir: str, send: Callable[[int], Awaitable[None]]
) -> ClientProcess:
    """Connect the clients, send DURATION_S * EVENTS_PER_S events at a steady rate."""
    clients = await ClientProcess.start(target, SUBSCRIBERS, _out(out_dir, target), "record")
    try:
        await asyncio.sleep(1.0)  # let the last connections settle into their wait
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Each send is its own task, so a slow commit never slows the offered rate.
        sends = []
        for i in range(int(DURATION_S * EVENTS_PER_S)):
            await asyncio.sleep(max(0.0, start + i / EVENTS_PER_S - loop.time()))
            sends.append(asyncio.create_task(send(i)))
        await asyncio.gather(*sends)
        elapsed = loop.time() - start
        # Wait until every frame has been parsed (a backlog drains late, and counts).
        expected = SUBSCRIBERS * len(sends)
        drain_until = loop.time() + MAX_DRAIN_S
        while await clients.count() < expected and loop.time() < drain_until:
            await asyncio.sleep(0.25)
    finally:
        await clients.stop()
    note(f"{target.url.split('?')[0]}: {len(sends) / elapsed:.1f} events/s offered")
    return clients


def _out(out_dir: str, target: Target) -> Path:
    return Path(out_dir) / f"records-{abs(hash(target.url))}.bin"


def summarise(latencies_ms: list[float], expected: int) -> tuple[float, float]:
    if len(latencies_ms) < expected:
        note(f"only {len(latencies_ms)} of {expected} frames arrived")
    return percentile(latencies_ms, 0.50), percentile(latencies_ms, 0.99)


async def ours(out_dir: str) -> tuple[list[float], list[float]]:
    """Latencies (commit to parse, append to parse) through the real service."""
    async with runstream_app(Path(out_dir) / "data") as (app, base_url):
        token = await admin_token(base_url)
        run_id = await waiting_run(app, base_url, token)
        store = app[keys.STORE]
        clock = CommitClock(app)
        positions: set[int] = set()

        async def append(_i: int) -> None:
            text = f"{time.time():.6f}"
            recorded = await store.append(run_id, [NewEvent(
                EventType.NODE_THINKING, {"nodeId": GATE, "text": text})])
            positions.add(recorded[0].position)

        head = await store.head()
        target = Target(f"{base_url}/api/v1/workflow-runs/{run_id}/stream?lastEventId={head}",
                        {"Authorization": f"Bearer {token}"})
        clients = await drive(target, out_dir, append)
    commit_ms, append_ms = [], []
    for position, received, sent in clients.records():
        if position in positions:
            commit_ms.append((received - clock.at[position]) * 1000)
            append_ms.append((received - sent) * 1000)
    return commit_ms, append_ms


async def reference(out_dir: str) -> list[float]:
    broadcast = Broadcast()
    async with serve(broadcast.app) as base_url:

        async def publish(i: int) -> None:
            broadcast.publish(i + 1, thinking_payload("ref", f"{time.time():.6f}"))

        clients = await drive(Target(f"{base_url}/stream"), out_dir, publish)
    return [(received - sent) * 1000 for _, received, sent in clients.records()]


async def main() -> None:
    raise_fd_limit()
    expected = SUBSCRIBERS * int(DURATION_S * EVENTS_PER_S)
    with scratch_dir("bench-stream-") as out_dir:
        commit_ms, append_ms = await ours(str(out_dir))
        ref_ms = await reference(str(out_dir))
    p50, p99 = summarise(commit_ms, expected)
    a50, a99 = summarise(append_ms, expected)
    r50, r99 = summarise(ref_ms, expected)
    note(f"{SUBSCRIBERS} subscribers, {EVENTS_PER_S} events/s for {DURATION_S:.0f} s, "
         "clients in a separate process; ours durable (synchronous=FULL)")
    report("stream_p50_ms", p50, "ms")
    report("stream_p99_ms", p99, "ms")
    report("stream_append_to_parse_p50_ms", a50, "ms")
    report("stream_append_to_parse_p99_ms", a99, "ms")
    report("stream_ref_p50_ms", r50, "ms")
    report("stream_ref_p99_ms", r99, "ms")
    report("stream_p99_ratio", p99 / r99, "x")
