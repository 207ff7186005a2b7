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

Both servers are up side by side, each in its own process (ours in this one) with its
own 1,000 clients in another, and the load alternates between them in blocks of
BLOCK_S seconds (each block waits until its clients have parsed every frame), so that
whatever else the machine is doing weighs on both figures alike; each side gets
BLOCKS * BLOCK_S seconds of events.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench._streaming import (
    GATE,
    ClientProcess,
    CommitClock,
    Target,
    admin_token,
    emit,
    reference_process,
    runstream_app,
    waiting_run,
)
from bench.common import note, percentile, report, scratch_dir
from eventstore.records import NewEvent
from projections.vocabulary import EventType
from service import keys
from service.runtime import raise_open_files_limit

SUBSCRIBERS = 1000
EVENTS_PER_S = 25
BLOCK_S = 2.0
BLOCKS = 6  # per side: 12 s of events each
MAX_DRAIN_S = 30.0  # how long the clients may take to parse a block's backlog


@dataclass
class Side:
    """One server under load: its clients, and how to make it send `count` events at
    EVENTS_PER_S (returning the seconds that took)."""

    name: str
    clients: ClientProcess
    emit: Callable[[int], Awaitable[float]]
    sent: int = 0
    sending_s: float = 0.0

    async def block(self) -> None:
        """BLOCK_S seconds of events, then wait until the clients parsed every frame."""
        count = int(BLOCK_S * EVENTS_PER_S)
        self.sending_s += await self.emit(count)
        self.sent += count
        for _ in range(int(MAX_DRAIN_S / 0.1)):  # the count lives in the other process
            if await self.clients.count() >= SUBSCRIBERS * self.sent:
                break
            await asyncio.sleep(0.1)


def summarise(name: str, latencies_ms: list[float], expected: int) -> tuple[float, float]:
    if len(latencies_ms) < expected:
        note(f"{name}: only {len(latencies_ms)} of {expected} frames arrived")
    return percentile(latencies_ms, 0.50), percentile(latencies_ms, 0.99)


async def run_both(out_dir: Path) -> tuple[list[float], list[float], list[float], int]:
    """Latencies in ms: ours commit to parse, ours append to parse, the reference's."""
    context = multiprocessing.get_context("spawn")
    pipe, child_end = context.Pipe()
    reference = context.Process(target=reference_process, args=(child_end,))
    reference.start()
    try:
        ref_url = await asyncio.to_thread(pipe.recv)

        async def remote_emit(count: int) -> float:
            pipe.send((count, EVENTS_PER_S))
            seconds: float = await asyncio.to_thread(pipe.recv)
            return seconds

        async with runstream_app(out_dir / "data") as (app, base_url):
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

            async def local_emit(count: int) -> float:
                return await emit(append, 0, count, EVENTS_PER_S)

            ours_target = Target(
                f"{base_url}/api/v1/workflow-runs/{run_id}/stream"
                f"?lastEventId={await store.head()}",
                {"Authorization": f"Bearer {token}"})
            ours = Side("ours", await ClientProcess.start(
                ours_target, SUBSCRIBERS, out_dir / "ours.bin", "record"), local_emit)
            try:
                ref = Side("reference", await ClientProcess.start(
                    Target(f"{ref_url}/stream"), SUBSCRIBERS, out_dir / "ref.bin", "record"),
                    remote_emit)
                try:
                    await asyncio.sleep(1.0)  # let the last connections settle into their wait
                    for _ in range(BLOCKS):
                        await ours.block()
                        await ref.block()
                finally:
                    await ref.clients.stop()
            finally:
                await ours.clients.stop()
    finally:
        pipe.send(None)
        await asyncio.to_thread(reference.join, 30)
        if reference.is_alive():
            reference.kill()
            reference.join()
    for side in (ours, ref):
        note(f"{side.name}: {side.sent / side.sending_s:.1f} events/s offered")
    commit_ms, append_ms = [], []
    for position, received, sent in ours.clients.records():
        if position in positions:
            commit_ms.append((received - clock.at[position]) * 1000)
            append_ms.append((received - sent) * 1000)
    ref_ms = [(received - sent) * 1000 for _, received, sent in ref.clients.records()]
    return commit_ms, append_ms, ref_ms, SUBSCRIBERS * ours.sent

async def main() -> None:
    raise_open_files_limit()
    with scratch_dir("bench-stream-") as out_dir:
        commit_ms, append_ms, ref_ms, expected = await run_both(out_dir)
    p50, p99 = summarise("ours", commit_ms, expected)
    a50, a99 = summarise("ours", append_ms, expected)
    r50, r99 = summarise("reference", ref_ms, expected)
    note(f"{SUBSCRIBERS} subscribers each, {EVENTS_PER_S} events/s, {BLOCKS * BLOCK_S:.0f} s "
         "per side, clients in separate processes; ours durable (synchronous=FULL)")
    report("stream_p50_ms", p50, "ms")
    report("stream_p99_ms", p99, "ms")
    report("stream_append_to_parse_p50_ms", a50, "ms")
    report("stream_append_to_parse_p99_ms", a99, "ms")
    report("stream_ref_p50_ms", r50, "ms")
    report("stream_ref_p99_ms", r99, "ms")
    report("stream_p99_ratio", p99 / r99, "x")
