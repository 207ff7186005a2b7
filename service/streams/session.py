"""The serving loop shared by every stream endpoint.

A session writes rendered log events to one client: history then live (from
`EventStore.subscribe`), keepalives when idle, and ends on the run's terminal
event, on shutdown, at its maximum duration, or when the client is too slow
(its socket buffer is bounded and every write has a deadline, so a client that
stops reading costs bounded memory and is dropped; it resumes with no loss).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from eventstore.records import RecordedEvent
from service import keys
from service.streams.sse import SSE_HEADERS, Frame, encode, encode_retry

log = structlog.get_logger("runstream.streams")

Render = Callable[[RecordedEvent], Awaitable[list[Frame]]]


class ClientGone(Exception):
    """The client closed the connection or stopped reading past the write deadline."""


@dataclass
class StreamOptions:
    keepalive: Frame | None = None
    keepalive_interval_s: float = 15.0
    max_duration_s: float | None = None
    # How often to look for a silent disconnect when the caller must act on one.
    disconnect_poll_s: float | None = None
    send_retry: bool = True


class EventStreamSession:
    """One open SSE response. Tracked in `app[keys.STREAMS]` and closed on shutdown.

    Per event the serving loop only awaits the subscription and writes: keepalives,
    the maximum duration and the disconnect poll are looked after by one timer per
    session (re-armed per interval, not per event), which ends the loop by cancelling
    its task with a reason. A write only arms its deadline when it cannot complete at
    once (the socket buffer is full).
    """

    def __init__(self, request: web.Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.settings = request.app[keys.SETTINGS]
        self.response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
        self.client_gone = False
        self._task: asyncio.Task[object] | None = None
        self._ending: str | None = None
        self._last_write = 0.0
        self._keepalive_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def closing(self) -> bool:
        """True once the server asked this stream to end (shutdown)."""
        return self._ending == "closed"

    def close(self) -> None:
        """End the stream at the next opportunity (server shutdown)."""
        self._end("closed")

    def _end(self, reason: str) -> None:
        if self._ending is not None:
            return
        self._ending = reason
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def prepare(self, retry: bool = True) -> None:
        # Compression stays off (it is opt-in per response): it would buffer frames.
        await self.response.prepare(self.request)
        transport = self.request.transport
        if transport is not None:
            transport.set_write_buffer_limits(high=self.settings.stream_buffer_bytes)
        self.request.app[keys.STREAMS].add(self)
        if retry:
            await self.write(encode_retry(self.settings.stream_retry_ms))

    async def write(self, data: bytes) -> None:
        transport = self.request.transport
        try:
            if (transport is not None and not transport.is_closing()
                    and transport.get_write_buffer_size() + len(data)
                    <= self.settings.stream_buffer_bytes):
                # Fits in the socket buffer: the write cannot wait for the client.
                await self.response.write(data)
            else:
                await asyncio.wait_for(
                    self.response.write(data), self.settings.stream_write_deadline_s
                )
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.client_gone = True
            transport = self.request.transport
            if transport is not None:
                transport.abort()  # drop what it never read; memory is released now
            raise ClientGone(str(exc) or type(exc).__name__) from exc

    async def write_frames(self, frames: list[Frame], event_id: int | None) -> None:
        if not frames:
            return
        # Only the last frame of an event carries its id: a client that drops
        # between two frames of one event resumes before it and loses nothing.
        chunks = [encode(frame) for frame in frames[:-1]]
        chunks.append(encode(frames[-1], event_id))
        await self.write(b"".join(chunks))

    def _disconnected(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def _keepalive(self, frame: Frame) -> None:
        try:
            await self.write(encode(frame))
        except ClientGone:
            self._end("gone")

    def _tick(self, options: StreamOptions, deadline: float | None) -> asyncio.TimerHandle | None:
        """Look after the stream between events; returns the timer for the next look."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if deadline is not None and now >= deadline:
            self._end("timeout")
            return None
        if options.disconnect_poll_s is not None and self._disconnected():
            self.client_gone = True
            self._end("gone")
            return None
        due = [] if deadline is None else [deadline]
        if options.keepalive is not None:
            if now - self._last_write >= options.keepalive_interval_s and (
                self._keepalive_task is None or self._keepalive_task.done()
            ):
                self._last_write = now
                self._keepalive_task = loop.create_task(self._keepalive(options.keepalive))
            due.append(self._last_write + options.keepalive_interval_s)
        if options.disconnect_poll_s is not None:
            due.append(now + options.disconnect_poll_s)
        if not due:
            return None
        handle = loop.call_at(min(due), lambda: self._rearm(options, deadline))
        return handle

    def _rearm(self, options: StreamOptions, deadline: float | None) -> None:
        self._timer = self._tick(options, deadline)

    async def pump(
        self,
        events: AsyncIterator[RecordedEvent],
        render: Render,
        is_terminal: Callable[[RecordedEvent], bool],
        options: StreamOptions,
    ) -> str:
        """Serve until the end; returns why it ended: terminal, closed, timeout or gone."""
        loop = asyncio.get_running_loop()
        deadline = None if options.max_duration_s is None else loop.time() + options.max_duration_s
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._last_write = loop.time()
        iterator = aiter(events)
        try:
            if self._ending is not None:  # closed before it began
                return self._ending
            self._rearm(options, deadline)
            async for event in iterator:
                await self.write_frames(await render(event), event.position)
                self._last_write = loop.time()
                if is_terminal(event):
                    return "terminal"
            return "closed"
        except ClientGone:
            return "gone"
        except asyncio.CancelledError:
            if self._ending is None:
                raise  # not ours: the server is cancelling the handler
            task.uncancel()
            return self._ending
        finally:
            self._ending = self._ending or "done"  # the timer and close() do nothing now
            if self._timer is not None:
                self._timer.cancel()
            if self._keepalive_task is not None and not self._keepalive_task.done():
                self._keepalive_task.cancel()
            if hasattr(iterator, "aclose"):
                await iterator.aclose()

    async def finish(self) -> web.StreamResponse:
        if not self.client_gone:
            try:
                await self.response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
        return self.response
