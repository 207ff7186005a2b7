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
        # One future per waiting subscriber, never shared: a subscriber that is cancelled
        # while it waits cancels only its own future, not every other subscriber's.
        self._all_waiters: list[asyncio.Future[None]] = []
        self._stream_waiters: dict[str, list[asyncio.Future[None]]] = {}

    def publish(self, events: Iterable[RecordedEvent]) -> None:
        """Called on the event loop after a commit, in commit order."""
        touched: set[str] = set()
        for event in events:
            self._ring.append(event)
            self.head = event.position
            touched.add(event.stream)
        if not touched:
            return
        waiters, self._all_waiters = self._all_waiters, []
        for stream in touched:
            waiters += self._stream_waiters.pop(stream, ())
        for waiter in waiters:
            if not waiter.done():
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
        """A new future, the caller's own, resolved at the next publish touching `stream`
        (or any, for None)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if stream is None:
            waiters = self._all_waiters
        else:
            waiters = self._stream_waiters.setdefault(stream, [])
        waiters.append(waiter)
        count = len(waiters)
        if count >= 64 and count & (count - 1) == 0:
            # Subscribers that left a quiet stream leave done futures behind: drop them
            # now and then (at powers of two, so the cost per call stays constant).
            waiters[:] = [w for w in waiters if not w.done()]
        return waiter

    def wake_all(self) -> None:
        """Release every waiter (used at close so subscribers can notice and end)."""
        waiters, self._all_waiters = self._all_waiters, []
        for stream_waiters in self._stream_waiters.values():
            waiters += stream_waiters
        self._stream_waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
