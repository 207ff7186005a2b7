"""Catch-up-then-live subscriptions over any store that has `read` and an EventHub.

The cursor only moves forward, and every event comes from either the disk or
the ring by position, so switching between them can neither skip nor repeat:
positions are committed in order, and the ring holds a contiguous run of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from eventstore.errors import CursorBeyondLog, StoreUnavailable, SubscriptionLagged
from eventstore.hub import EventHub
from eventstore.records import RecordedEvent

PAGE_SIZE = 500

ReadFn = Callable[[str | None, int, int], Awaitable[list[RecordedEvent]]]


async def subscribe(
    hub: EventHub,
    read: ReadFn,
    is_closed: Callable[[], bool],
    stream: str | None,
    after: int,
    max_lag: int | None,
) -> AsyncIterator[RecordedEvent]:
    if after < 0:
        raise CursorBeyondLog(after, hub.head)
    if after > hub.head:
        raise CursorBeyondLog(after, hub.head)
    cursor = after  # last position delivered
    # For one stream, `scanned` is how far the log is known to hold nothing more for
    # it, so a quiet stream can switch to the ring although its own cursor is old.
    scanned = after
    while True:
        if is_closed():
            raise StoreUnavailable("the store is closed")
        if max_lag is not None and hub.head - cursor > max_lag:
            raise SubscriptionLagged(cursor, hub.head)
        if hub.covers(scanned):
            events = hub.since(scanned, stream)
            scanned = hub.head
            for event in events:
                if event.position > cursor:
                    cursor = event.position
                    yield event
            if hub.head == scanned:
                # Nothing published since we looked: sleep until something is.
                await hub.waiter(stream)
            continue
        head_before = hub.head
        page = await read(stream, cursor, PAGE_SIZE)
        for event in page:
            cursor = event.position
            yield event
        if len(page) < PAGE_SIZE:
            scanned = max(scanned, cursor, head_before)
        else:
            scanned = max(scanned, cursor)
