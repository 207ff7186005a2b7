"""Writing one stream to its client in bounded memory.

The socket's send buffer is capped (`stream_buffer_bytes`) and a write that could wait
for the client has a deadline (`stream_write_deadline_s`): a client that stops reading
costs at most that buffer and is then dropped, and it resumes with no loss.
"""

from __future__ import annotations

import asyncio

from aiohttp.abc import AbstractStreamWriter


class ClientGone(Exception):
    """The client closed the connection or stopped reading past the write deadline."""

    def __init__(self, message: str, too_slow: bool = False) -> None:
        super().__init__(message)
        self.too_slow = too_slow  # it was there, but did not read within the deadline


class BoundedWriter:
    """The writing half of a stream response (a base class of EventStreamResponse).

    A base class, not an object of its own: thousands of streams stay open, and a second
    object per stream measurably raised the memory an idle stream costs.
    """

    __slots__ = (
        "_payload", "_transport", "_low_water", "_high_water", "_write_deadline_s",
        "client_gone",
    )

    def _init_writer(self) -> None:
        self._payload: AbstractStreamWriter | None = None  # once the headers are out
        self._transport: asyncio.Transport | None = None
        self._low_water = self._high_water = 0
        self._write_deadline_s = 0.0
        self.client_gone = False  # it left, or was dropped: nobody to write to any more

    def _bound_writes(
        self,
        payload: AbstractStreamWriter,
        transport: asyncio.Transport | None,
        buffer_bytes: int,
        deadline_s: float,
    ) -> None:
        """Write to `payload` (the prepared response's writer) within these bounds."""
        self._payload = payload
        self._transport = transport
        if transport is not None:
            transport.set_write_buffer_limits(high=buffer_bytes)
            self._low_water, self._high_water = transport.get_write_buffer_limits()
        self._write_deadline_s = deadline_s

    async def _send(self, data: bytes) -> None:
        """Write `data`; ClientGone (the connection aborted) if the client cannot take it."""
        assert self._payload is not None  # serving means the headers are out
        transport = self._transport
        try:
            if transport is not None and not transport.is_closing() and (
                    transport.get_write_buffer_size() <= self._low_water
                    and transport.get_write_buffer_size() + len(data) <= self._high_water):
                # The transport is not paused (it resumes at the low-water mark) and this
                # write leaves it below the high one: the write cannot wait for the client.
                await self._payload.write(data)
            else:
                await asyncio.wait_for(self._payload.write(data), self._write_deadline_s)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self._abort()
            raise ClientGone(str(exc) or type(exc).__name__,
                             too_slow=isinstance(exc, TimeoutError)) from exc

    def _abort(self) -> None:
        """Drop the connection and what the client never read: its memory is released now."""
        self.client_gone = True
        if self._transport is not None:
            self._transport.abort()

    def _client_left(self) -> bool:
        """Whether the connection is closed or closing (the client is then gone)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            self.client_gone = True
        return self.client_gone
