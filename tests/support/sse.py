"""A small SSE parser for tests (WHATWG rules): frames with id, event, data, retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import ClientResponse


@dataclass
class SSEFrame:
    event: str = "message"
    data_lines: list[str] = field(default_factory=list)
    id: str | None = None
    retry: int | None = None

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    def json(self) -> Any:
        return orjson.loads(self.data)


def parse_lines(lines: list[str]) -> list[SSEFrame]:
    """Parse complete lines (no line terminators) into dispatched frames."""
    frames: list[SSEFrame] = []
    current = SSEFrame()
    for line in lines:
        if line == "":
            if current.data_lines or current.retry is not None or current.id is not None:
                frames.append(current)
            current = SSEFrame()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            current.data_lines.append(value)
        elif name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "retry" and value.isdigit():
            current.retry = int(value)
    return frames


async def iter_frames(response: ClientResponse) -> AsyncIterator[SSEFrame]:
    """Frames as they arrive on a live aiohttp client response."""
    buffer = b""
    current: list[str] = []
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode()
            current.append(line)
            if line == "":
                for frame in parse_lines(current):
                    yield frame
                current = []


async def read_frames(response: ClientResponse, limit: int | None = None) -> list[SSEFrame]:
    """Every frame until the stream closes (or `limit` frames)."""
    frames = []
    async for frame in iter_frames(response):
        frames.append(frame)
        if limit is not None and len(frames) >= limit:
            break
    return frames
