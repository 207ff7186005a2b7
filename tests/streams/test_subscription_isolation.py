"""One subscriber leaving never disturbs the others waiting on the same stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore


async def test_cancelling_one_waiting_subscriber_leaves_the_others_live(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(tmp_path / "log.db", synchronous="NORMAL")
    try:
        await store.append("run-1", [NewEvent("NodeStarted", {"nodeId": "a"})])
        leaving = aiter(store.subscribe("run-1", after=1))
        staying = aiter(store.subscribe("run-1", after=1))
        leaving_next = asyncio.ensure_future(anext(leaving))
        staying_next = asyncio.ensure_future(anext(staying))
        await asyncio.sleep(0.05)  # both are waiting for the next commit
        leaving_next.cancel()  # a client disconnects (the stream layer cancels its read)
        await asyncio.wait([leaving_next])
        await store.append("run-1", [NewEvent("NodeCompleted", {"nodeId": "a"})])
        event = await asyncio.wait_for(staying_next, 5)
        assert event.position == 2
    finally:
        await store.close()
