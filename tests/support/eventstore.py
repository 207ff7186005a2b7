"""Helpers for event-store tests: a sample event, whole-log reads, taking from subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from eventstore.interface import EventStore
from eventstore.records import NewEvent, RecordedEvent

TIMEOUT = 10.0


def tick(n: int, **extra: Any) -> NewEvent:
    return NewEvent("Tick", {"n": n, **extra})


async def take(events: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """The next `count` events of a subscription, failing the test if they do not come."""

    async def _take() -> list[RecordedEvent]:
        taken = []
        while len(taken) < count:
            taken.append(await anext(events))
        return taken

    return await asyncio.wait_for(_take(), TIMEOUT)


async def take_until(events: AsyncIterator[RecordedEvent], position: int) -> list[RecordedEvent]:
    """Events of a subscription up to and including the one at `position`."""

    async def _take() -> list[RecordedEvent]:
        taken: list[RecordedEvent] = []
        while not taken or taken[-1].position < position:
            taken.append(await anext(events))
        return taken

    return await asyncio.wait_for(_take(), TIMEOUT)


async def read_all(store: EventStore, stream: str | None = None, after: int = 0) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while True:
        page = await store.read(stream, after, 100)
        if not page:
            return events
        events += page
        after = page[-1].position


def positions(events: list[RecordedEvent]) -> list[int]:
    return [e.position for e in events]


async def head_reaches(store: EventStore, position: int) -> None:
    """Return once the log holds `position`, woken by the store itself (no polling)."""
    async with aclosing(store.subscribe(after=await store.head())) as events:
        if await store.head() >= position:
            return
        async for event in events:
            if event.position >= position:
                return
