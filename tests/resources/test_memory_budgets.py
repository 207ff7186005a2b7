"""The in-memory structures that hold events are bounded in bytes: the hub's ring of
recent events and the frames shared by stream subscribers. A subscriber whose cursor
falls out of the ring reads from disk, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eventstore.hub import event_weight
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from service.streams.frame_cache import ENTRY_OVERHEAD_BYTES, FrameCache

RING_BYTES = 64 * 1024


async def test_the_ring_holds_no_more_bytes_than_its_budget(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(tmp_path / "log.db", ring_bytes=RING_BYTES)
    try:
        for i in range(40):
            await store.append("big", [NewEvent("Chunk", {"i": i, "text": "x" * 8000})])
            assert store.hub.held_bytes <= RING_BYTES
        ring = store.hub.status()
        assert 0 < ring["ringEvents"] < 40  # bounded by bytes long before its count (8192)
        assert ring["ringBytes"] == ring["ringEvents"] * event_weight(
            (await store.read("big", 39, 1))[0])
    finally:
        await store.close()


async def test_an_event_larger_than_the_whole_ring_is_served_from_disk(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(tmp_path / "log.db", ring_bytes=RING_BYTES)
    try:
        await store.append("s", [NewEvent("Small", {})])
        received: list[int] = []

        async def follow() -> None:
            async for event in store.subscribe("s", 1):
                received.append(event.position)
                if len(received) == 3:
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.01)
        await store.append("s", [NewEvent("Huge", {"text": "y" * (2 * RING_BYTES)})])
        await store.append("s", [NewEvent("Small", {})])
        await store.append("s", [NewEvent("Small", {})])
        await asyncio.wait_for(follower, 5)
        assert received == [2, 3, 4]
        assert store.hub.held_bytes <= RING_BYTES
    finally:
        await store.close()


async def test_subscribers_behind_a_byte_bounded_ring_miss_nothing(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(tmp_path / "log.db", ring_bytes=RING_BYTES)
    try:
        seen: list[list[int]] = [[], [], []]

        async def follow(index: int, pause_s: float) -> None:
            async for event in store.subscribe(None, 0):
                seen[index].append(event.position)
                await asyncio.sleep(pause_s)  # slower than the writers: falls out of the ring
                if event.position == 120:
                    return

        followers = [asyncio.create_task(follow(i, pause)) for i, pause in
                     enumerate((0, 0.001, 0.005))]
        for i in range(60):
            await store.append(f"s{i % 3}", [NewEvent("Chunk", {"text": "z" * 4000}),
                                             NewEvent("Chunk", {"text": "z" * 4000})])
        await asyncio.wait_for(asyncio.gather(*followers), 20)
        assert seen == [list(range(1, 121))] * 3
    finally:
        await store.close()


def test_the_frame_cache_keeps_its_byte_budget_and_drops_the_least_recently_used() -> None:
    cache = FrameCache(max_bytes=3 * (1000 + ENTRY_OVERHEAD_BYTES))
    for position in range(3):
        cache.put(("v1", position), b"f" * 1000)
    assert cache.get(("v1", 0)) is not None  # now the most recently used
    cache.put(("v1", 3), b"f" * 1000)
    assert cache.get(("v1", 1)) is None
    assert cache.get(("v1", 0)) is not None
    assert cache.held_bytes <= cache.max_bytes
    cache.put(("v1", 4), b"f" * (cache.max_bytes + 1))  # larger than the budget: not kept
    assert cache.get(("v1", 4)) is None
    assert cache.status()["frames"] == 3
