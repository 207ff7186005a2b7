"""Ordering under concurrency: many appenders, subscribers joining mid-write."""

from __future__ import annotations

import asyncio
import random
from contextlib import aclosing
from dataclasses import dataclass, field

import pytest

from eventstore.errors import ConcurrencyConflict
from eventstore.interface import NO_STREAM
from eventstore.records import RecordedEvent
from tests.support.backends import Backend
from tests.support.eventstore import head_reaches, read_all, tick

APPENDERS = 50
APPENDS_EACH = 20
STREAMS = 12


@dataclass
class Subscriber:
    """One subscription: where it starts, and what it received."""

    stream: str | None
    start_at_head: int  # join once the log has this many events
    cursor_from_head: float  # its cursor, as a fraction of the head when it joins
    slow: bool
    after: int = 0
    received: list[RecordedEvent] = field(default_factory=list)
    last: int | None = None  # the last position it must get, once the writers are done
    done: asyncio.Event = field(default_factory=asyncio.Event)


def stream_of(appender: int, i: int) -> str:
    # Appenders share streams, so versions interleave across appenders.
    return f"run-{(appender + i) % STREAMS}"


@pytest.mark.parametrize("ring_size", [64, 8192])
async def test_every_subscriber_sees_the_final_log_order_without_gap_or_duplicate(
    backend: Backend, ring_size: int
) -> None:
    store = await backend.open(ring_size=ring_size)
    rng = random.Random(ring_size)
    subscribers = [
        Subscriber(None, start_at_head=0, cursor_from_head=0.0, slow=False),
        Subscriber(None, start_at_head=300, cursor_from_head=0.5, slow=True),
        Subscriber(None, start_at_head=700, cursor_from_head=1.0, slow=False),
        Subscriber("run-3", start_at_head=200, cursor_from_head=0.0, slow=True),
        Subscriber("run-7", start_at_head=500, cursor_from_head=0.8, slow=False),
    ]

    async def appender(n: int) -> None:
        for i in range(APPENDS_EACH):
            size = 1 + (n + i) % 3
            await store.append(stream_of(n, i), [tick(n * 1000 + i, k=k) for k in range(size)])
            if rng.random() < 0.3:
                await asyncio.sleep(0)

    async def subscribe(sub: Subscriber) -> None:
        await head_reaches(store, sub.start_at_head)
        sub.after = int(await store.head() * sub.cursor_from_head)
        async with aclosing(store.subscribe(sub.stream, after=sub.after)) as events:
            async for event in events:
                sub.received.append(event)
                if sub.last is not None and event.position >= sub.last:
                    sub.done.set()
                if sub.slow and len(sub.received) % 25 == 0:
                    await asyncio.sleep(0.002)

    readers = [asyncio.create_task(subscribe(sub)) for sub in subscribers]
    try:
        await asyncio.gather(*(appender(n) for n in range(APPENDERS)))
        log = await read_all(store)

        for sub in subscribers:
            sub.last = max(e.position for e in log if sub.stream in (None, e.stream))
            if sub.received and sub.received[-1].position >= sub.last:
                sub.done.set()
        await asyncio.wait_for(asyncio.gather(*(sub.done.wait() for sub in subscribers)), 20)
        await asyncio.sleep(0.01)  # room for a wrong extra delivery to show up

        # The log itself: contiguous positions, per-stream versions 1..n, each
        # appender's events in the order it appended them, a valid chain.
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        sizes = sum(1 + (n + i) % 3 for n in range(APPENDERS) for i in range(APPENDS_EACH))
        assert len(log) == sizes
        for stream in {e.stream for e in log}:
            versions = [e.version for e in log if e.stream == stream]
            assert versions == list(range(1, len(versions) + 1))
        for n in range(APPENDERS):
            mine = [e.payload["n"] for e in log if e.payload["n"] // 1000 == n]
            assert mine == sorted(mine)
        assert (await store.verify()).ok

        for sub in subscribers:
            expected = [e for e in log if e.position > sub.after
                        and (sub.stream is None or e.stream == sub.stream)]
            assert sub.received == expected, (sub.stream, sub.after)
        # The subscribers that joined mid-write really did (not all before or after).
        assert 0 < subscribers[1].after < len(log)
        assert 0 < subscribers[4].after < len(log)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await store.close()


async def test_competing_appenders_with_expected_versions_never_fork_a_stream(
    backend: Backend,
) -> None:
    store = await backend.open(projectors=[])
    try:
        await store.append("run-shared", [tick(0)], NO_STREAM)
        wins = 0

        async def contender(n: int) -> None:
            nonlocal wins
            for _ in range(10):
                version = await store.stream_version("run-shared")
                try:
                    await store.append("run-shared", [tick(n)], version)
                    wins += 1
                except ConcurrencyConflict:  # someone else won: re-read and retry
                    pass

        await asyncio.gather(*(contender(n) for n in range(50)))
        events = await read_all(store, "run-shared")
        assert [e.version for e in events] == list(range(1, wins + 2))
        assert (await store.verify()).ok
    finally:
        await store.close()
