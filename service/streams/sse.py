"""Server-Sent Events framing (WHATWG HTML, "Server-sent events")."""

from __future__ import annotations

from dataclasses import dataclass

# Sent on every stream; never compressed (a proxy buffering or gzipping a stream
# delays every frame until its buffer fills).
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE message: an optional event name and a data payload (already encoded)."""

    data: bytes
    event: str | None = None


def _single_line(value: str) -> str:
    # A field value may never contain CR or LF: they would end the field and let
    # event data forge frames.
    return value.replace("\r", " ").replace("\n", " ")


def encode(frame: Frame, event_id: int | None = None) -> bytes:
    """The wire bytes of a frame; data with line breaks is split over several data lines."""
    parts: list[bytes] = []
    if event_id is not None:
        parts.append(b"id: %d\n" % event_id)
    if frame.event is not None:
        parts.append(b"event: " + _single_line(frame.event).encode() + b"\n")
    for line in frame.data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        parts.append(b"data: " + line + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def encode_event(frames: list[Frame], event_id: int) -> bytes:
    """The wire bytes of the frames one log event renders to (b"" for none).

    Only the last frame carries the event's id: a client that drops between two
    frames of one event resumes before it and loses nothing.
    """
    if not frames:
        return b""
    chunks = [encode(frame) for frame in frames[:-1]]
    chunks.append(encode(frames[-1], event_id))
    return b"".join(chunks)


def encode_retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds
