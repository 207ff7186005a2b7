"""Every node's view of the shared log: LISTEN wake-ups, a head poll, one catch-up read each.

The hub (eventstore/hub.py) is fed in position order with no gap: this node's own
batches go in directly when they follow what the hub holds; anything else (another
node's commits, or ours behind them) is read from the log by position, one read per
wake-up however many subscribers wait, and fanned out in memory. Notifications sent
while the listening connection is being re-established are lost, so the head is also
polled every `poll_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog

from eventstore.hub import EventHub
from eventstore.records import RecordedEvent
from eventstore.subscriptions import PAGE_BYTES, PAGE_SIZE

POLL_INTERVAL_S = 1.0
RECONNECT_DELAY_S = 0.5
RECONNECT_DELAY_MAX_S = 5.0

ReadPage = Callable[[int, int, int], Awaitable[list[RecordedEvent]]]
ReadHead = Callable[[], Awaitable[int]]

log = structlog.get_logger("runstream.eventstore")


class PostgresFeed:
    def __init__(self, conninfo: str, channel: str, hub: EventHub, read_page: ReadPage,
                 read_head: ReadHead, poll_interval: float = POLL_INTERVAL_S) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._hub = hub
        self._read_page = read_page  # (after, limit, max_bytes) -> events of the whole log
        self._read_head = read_head
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._catching_up = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="pg-listen"),
                       loop.create_task(self._follow(), name="pg-follow")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def committed(self, events: list[RecordedEvent]) -> None:
        """This node's batch, just committed: straight to the hub when it follows on."""
        if events and events[0].position == self._hub.head + 1:
            self._hub.publish(events)
        elif events and events[-1].position > self._hub.head:
            self._wake.set()  # another node committed in between: read them all in order

    async def catch_up(self) -> None:
        """Publish every committed event the hub does not hold yet, in position order."""
        async with self._catching_up:
            while True:
                page = await self._read_page(self._hub.head, PAGE_SIZE, PAGE_BYTES)
                # This node may have published some of them while the page was read.
                fresh = [event for event in page if event.position > self._hub.head]
                if fresh:
                    self._hub.publish(fresh)
                if not page:
                    return

    async def _follow(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: wait_for (3.11) can swallow a cancellation
            # that arrives as the wake-up does, and stop() would wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if await self._read_head() > self._hub.head:
                    await self.catch_up()
            except Exception as exc:  # the database is away: the next wake-up tries again
                log.warning("event feed read failed", error=str(exc))

    async def _listen(self) -> None:
        delay = RECONNECT_DELAY_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.Error as exc:
                log.warning("event feed cannot listen", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAY_MAX_S)
                continue
            try:
                await conn.execute(f"LISTEN {self._channel}".encode())
                self.listening = True
                delay = RECONNECT_DELAY_S
                self._wake.set()  # whatever was committed while no one listened
                async for notify in conn.notifies():
                    if self._notified_head(notify) > self._hub.head:
                        self._wake.set()
            except psycopg.Error as exc:
                log.warning("event feed lost its connection", error=str(exc))
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(delay)

    @staticmethod
    def _notified_head(notify: Any) -> int:
        try:
            return int(notify.payload)
        except ValueError:
            return 1 << 62  # not ours to parse: look anyway
