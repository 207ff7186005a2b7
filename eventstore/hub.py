"""In-process fan-out of committed events: a shared ring of recent events plus wake-ups.

No subscriber owns a queue. Each holds only a cursor into one shared ring, so
memory is bounded by the ring however many subscribers there are and however
slowly they read; a subscriber whose cursor has left the ring reads from disk
instead (see subscriptions.py). The ring is bounded twice: by count, and by the
bytes its events weigh, so that a run passing large documents between nodes
cannot make it hold gigabytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import replace

from eventstore.records import RecordedEvent

DEFAULT_RING_SIZE = 8192
DEFAULT_RING_BYTES = 32 * 1024 * 1024
# What an event costs in memory beside its data: the record, its stream id, two hashes.
EVENT_OVERHEAD_BYTES = 600


def event_weight(event: RecordedEvent) -> int:
    """Bytes an event holds in memory, as the ring's byte budget counts them."""
    return len(event.data) + EVENT_OVERHEAD_BYTES


class EventHub:
    def __init__(self, head: int, ring_size: int = DEFAULT_RING_SIZE,
                 ring_bytes: int = DEFAULT_RING_BYTES) -> None:
        self.head = head
        self._ring: deque[RecordedEvent] = deque()
        self._ring_size = ring_size
        self._ring_bytes = ring_bytes
        self.held_bytes = 0  # the weight of the events in the ring
        # One future per waiting subscriber, never shared: a subscriber that is cancelled
        # while it waits cancels only its own future, not every other subscriber's.
        self._all_waiters: list[asyncio.Future[None]] = []
        self._stream_waiters: dict[str, list[asyncio.Future[None]]] = {}

    def publish(self, events: Iterable[RecordedEvent]) -> None:
        """Called on the event loop after a commit, in commit order."""
        touched: set[str] = set()
        ring = self._ring
        for event in events:
            ring.append(event)
            self.held_bytes += event_weight(event)
            self.head = event.position
            touched.add(event.stream)
        if not touched:
            return
        # The oldest go first; an event larger than the whole budget is not kept at all
        # (its subscribers read it from disk, as any subscriber behind the ring does).
        while ring and (len(ring) > self._ring_size or self.held_bytes > self._ring_bytes):
            self.held_bytes -= event_weight(ring.popleft())
        waiters, self._all_waiters = self._all_waiters, []
        for stream in touched:
            waiters += self._stream_waiters.pop(stream, ())
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def forget_data(self, streams: Collection[str]) -> None:
        """Keep only the chain headers of these streams' events in the ring (they were
        pruned or erased): no subscriber reads from memory what is gone from the log."""
        for i, event in enumerate(self._ring):
            if event.data and event.stream in streams:
                self._ring[i] = replace(event, data=b"")
                self.held_bytes -= len(event.data)

    def covers(self, after: int) -> bool:
        """True when every event after `after` that has been published is in the ring."""
        if after >= self.head:
            return True
        return bool(self._ring) and self._ring[0].position <= after + 1

    def status(self) -> dict[str, int]:
        return {"ringEvents": len(self._ring), "ringBytes": self.held_bytes,
                "ringBudgetBytes": self._ring_bytes}

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
