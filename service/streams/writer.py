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


class BoundedWriter:
    # One per open stream: slots keep it small.
    __slots__ = ("_payload", "_transport", "_low_water", "_high_water", "_deadline_s", "gone")

    def __init__(
        self,
        payload: AbstractStreamWriter,
        transport: asyncio.Transport | None,
        buffer_bytes: int,
        deadline_s: float,
    ) -> None:
        # The prepared response's payload writer, not the response: the response holds
        # this object, and a reference back would keep both alive until a GC pass.
        self._payload = payload
        self._transport = transport
        self._low_water = self._high_water = 0
        if transport is not None:
            transport.set_write_buffer_limits(high=buffer_bytes)
            self._low_water, self._high_water = transport.get_write_buffer_limits()
        self._deadline_s = deadline_s
        self.gone = transport is None

    async def send(self, data: bytes) -> None:
        """Write `data`; ClientGone (the connection aborted) if the client cannot take it."""
        transport = self._transport
        try:
            if transport is not None and not transport.is_closing() and (
                    transport.get_write_buffer_size() <= self._low_water
                    and transport.get_write_buffer_size() + len(data) <= self._high_water):
                # The transport is not paused (it resumes at the low-water mark) and this
                # write leaves it below the high one: the write cannot wait for the client.
                await self._payload.write(data)
            else:
                await asyncio.wait_for(self._payload.write(data), self._deadline_s)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.abort()
            raise ClientGone(str(exc) or type(exc).__name__) from exc

    def abort(self) -> None:
        """Drop the connection and what the client never read: its memory is released now."""
        self.gone = True
        if self._transport is not None:
            self._transport.abort()

    def client_left(self) -> bool:
        """Whether the connection is closed or closing (it is then `gone`)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            self.gone = True
        return self.gone
