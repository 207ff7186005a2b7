"""In-process fan-out of committed events: a shared ring of recent events plus wake-ups.

No subscriber owns a queue. Each holds only a cursor into one shared ring, so
memory is bounded by the ring size however many subscribers there are and
however slowly they read; a subscriber whose cursor has left the ring reads
from disk instead (see subscriptions.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from eventstore.records import RecordedEvent

DEFAULT_RING_SIZE = 8192


class EventHub:
    def __init__(self, head: int, ring_size: int = DEFAULT_RING_SIZE) -> None:
        self.head = head
        self._ring: deque[RecordedEvent] = deque(maxlen=ring_size)
        self._all_waiter: asyncio.Future[None] | None = None
        self._stream_waiters: dict[str, asyncio.Future[None]] = {}

    def publish(self, events: Iterable[RecordedEvent]) -> None:
        """Called on the event loop after a commit, in commit order."""
        touched: set[str] = set()
        for event in events:
            self._ring.append(event)
            self.head = event.position
            touched.add(event.stream)
        if not touched:
            return
        if self._all_waiter is not None:
            if not self._all_waiter.done():
                self._all_waiter.set_result(None)
            self._all_waiter = None
        for stream in touched:
            waiter = self._stream_waiters.pop(stream, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def covers(self, after: int) -> bool:
        """True when every event after `after` that has been published is in the ring."""
        if after >= self.head:
            return True
        return bool(self._ring) and self._ring[0].position <= after + 1

    def since(self, after: int, stream: str | None) -> list[RecordedEvent]:
        """Ring events after `after` (of one stream, or all); caller checked `covers`."""
        if not self._ring or after >= self.head:
            return []
        # The ring is ordered by position; skip from the right end backwards.
        start = len(self._ring) - (self.head - after)
        start = max(start, 0)
        result = []
        for i in range(start, len(self._ring)):
            event = self._ring[i]
            if event.position > after and (stream is None or event.stream == stream):
                result.append(event)
        return result

    def waiter(self, stream: str | None) -> asyncio.Future[None]:
        """A future resolved at the next publish touching `stream` (or any, for None)."""
        if stream is None:
            if self._all_waiter is None or self._all_waiter.done():
                self._all_waiter = asyncio.get_running_loop().create_future()
            return self._all_waiter
        waiter = self._stream_waiters.get(stream)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._stream_waiters[stream] = waiter
        return waiter

    def wake_all(self) -> None:
        """Release every waiter (used at close so subscribers can notice and end)."""
        waiters = list(self._stream_waiters.values())
        if self._all_waiter is not None:
            waiters.append(self._all_waiter)
        self._stream_waiters.clear()
        self._all_waiter = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
