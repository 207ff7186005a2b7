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
from typing import Any

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
    """One open SSE response. Tracked in `app[keys.STREAMS]` and closed on shutdown."""

    def __init__(self, request: web.Request, headers: dict[str, str] | None = None) -> None:
        self.request = request
        self.settings = request.app[keys.SETTINGS]
        self.response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
        self._closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.client_gone = False

    @property
    def closing(self) -> bool:
        """True once the server asked this stream to end (shutdown)."""
        return self._closing.done()

    def close(self) -> None:
        """End the stream at the next opportunity (server shutdown)."""
        if not self._closing.done():
            self._closing.set_result(None)

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
        try:
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
        iterator = aiter(events)
        pending: asyncio.Future[Any] | None = None
        last_write = loop.time()
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                now = loop.time()
                waits = []
                if options.keepalive is not None:
                    waits.append(last_write + options.keepalive_interval_s - now)
                if deadline is not None:
                    waits.append(deadline - now)
                if options.disconnect_poll_s is not None:
                    waits.append(options.disconnect_poll_s)
                timeout = max(0.0, min(waits)) if waits else None
                done, _ = await asyncio.wait(
                    {pending, self._closing}, timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if self._closing in done:
                    return "closed"
                if pending in done:
                    try:
                        event = pending.result()
                    except StopAsyncIteration:
                        return "closed"
                    pending = None
                    await self.write_frames(await render(event), event.position)
                    last_write = loop.time()
                    if is_terminal(event):
                        return "terminal"
                    continue
                now = loop.time()
                if deadline is not None and now >= deadline:
                    return "timeout"
                if options.disconnect_poll_s is not None and self._disconnected():
                    self.client_gone = True
                    return "gone"
                if options.keepalive is not None and now - last_write >= options.keepalive_interval_s:
                    await self.write(encode(options.keepalive))
                    last_write = loop.time()
        except ClientGone:
            return "gone"
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                # The generator is still running until the cancellation lands.
                await asyncio.wait([pending])
            if hasattr(iterator, "aclose"):
                await iterator.aclose()

    async def finish(self) -> web.StreamResponse:
        if not self.client_gone:
            try:
                await self.response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
        return self.response
