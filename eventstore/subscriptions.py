"""Catch-up-then-live subscriptions over any store that has `read` and an EventHub.

The cursor only moves forward, and every event comes from either the disk or
the ring by position, so switching between them can neither skip nor repeat:
positions are committed in order, and the ring holds a contiguous run of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from eventstore.errors import CursorBeyondLog, StoreUnavailable, SubscriptionLagged
from eventstore.hub import EventHub
from eventstore.records import RecordedEvent

PAGE_SIZE = 500
# A page of history holds at most this much event data (and at least one event): a
# subscriber catching up on large events holds a few MB, not PAGE_SIZE times 4 MB.
PAGE_BYTES = 8 * 1024 * 1024


class ReadFn(Protocol):
    def __call__(self, stream: str | None, after: int, limit: int,
                 max_bytes: int | None = None) -> Awaitable[list[RecordedEvent]]: ...


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
    caught_up = False
    while True:
        if is_closed():
            raise StoreUnavailable("the store is closed")
        if hub.covers(scanned):
            events = hub.since(scanned, stream)
            # Lag is what this subscriber has yet to take since it was last caught up:
            # history is not lag, and other streams' events never count against it.
            if caught_up and max_lag is not None and len(events) > max_lag:
                raise SubscriptionLagged(cursor, hub.head)
            scanned = hub.head
            for event in events:
                if event.position > cursor:
                    cursor = event.position
                    yield event
            caught_up = True  # everything up to `scanned` is delivered
            del events  # an idle subscriber holds no events while it waits
            if hub.head == scanned:
                # Nothing published since we looked: sleep until something is.
                await hub.waiter(stream)
            continue
        head_before = hub.head
        page_size = max(PAGE_SIZE, (max_lag or 0) + 1)
        page = await read(stream, cursor, page_size, PAGE_BYTES)
        # Fell out of the ring while live: lagging if more of its own events wait than allowed.
        if caught_up and max_lag is not None and len(page) > max_lag:
            raise SubscriptionLagged(cursor, hub.head)
        for event in page:
            cursor = event.position
            yield event
        if not page:
            # Nothing more for this subscriber up to where the log was when we read. (A
            # short page proves nothing: it may have been cut at PAGE_BYTES.)
            scanned = max(scanned, cursor, head_before)
        else:
            scanned = max(scanned, cursor)
        del page  # nor the last page of history it read (up to PAGE_BYTES of data)
