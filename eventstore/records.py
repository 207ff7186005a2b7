"""The shapes of events going into and coming out of the log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventstore.errors import EventTooLarge

# The last millisecond and second utc_now formatted, each with its text (one tuple, so a
# thread reading it while another replaces it sees one whole pair): a writer stamping
# thousands of events a second formats each second once and each millisecond once.
_last_milli: tuple[int, str] = (-1, "")
_last_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, the timestamp format of every wire format we serve."""
    global _last_milli, _last_second
    millis = time.time_ns() // 1_000_000
    cached = _last_milli
    if cached[0] == millis:
        return cached[1]
    seconds, fraction = divmod(millis, 1000)
    second = _last_second
    if second[0] != seconds:
        second = _last_second = (
            seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    text = f"{second[1]}.{fraction:03d}Z"
    _last_milli = (millis, text)
    return text


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event a caller wants appended: a type name and a JSON-able payload."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


def encode_events(events: Sequence[NewEvent], max_event_bytes: int) -> list[tuple[str, bytes]]:
    """Each event's type and data bytes (encoded once: these bytes are hashed and stored),
    refusing the whole append before anything is written if one is above the limit."""
    encoded = []
    for event in events:
        data = orjson.dumps(event.data)
        if len(data) > max_event_bytes:
            raise EventTooLarge(event.type, len(data), max_event_bytes)
        encoded.append((event.type, data))
    return encoded


@dataclass(slots=True)
class RecordedEvent:
    """An event as stored: its place in the log and in its stream, and its chain link.

    Not frozen, though nothing changes one: a frozen dataclass sets each field through
    object.__setattr__, a cost paid for every event a rebuild or a read builds.

    `data` is kept as the exact orjson bytes that were hashed, so a read never
    re-serialises (and so can never disagree with the chain); `payload` decodes it.
    """

    position: int
    stream: str
    version: int
    type: str
    data: bytes
    recorded_at: str
    prev_hash: str
    hash: str

    @property
    def pruned(self) -> bool:
        """Retention removed this event's data and kept only its chain header (no event is
        ever stored with empty data: the smallest JSON payload is `{}`)."""
        return not self.data

    @property
    def payload(self) -> dict[str, Any]:
        if not self.data:
            return {}
        value: dict[str, Any] = orjson.loads(self.data)
        return value

    def as_json(self) -> bytes:
        """`as_dict()` encoded, with the stored data bytes spliced in rather than re-encoded:
        a large event is never parsed again on its way out (export, raw streams)."""
        if self.pruned:
            return orjson.dumps(self.as_dict())
        head = orjson.dumps({"position": self.position, "stream": self.stream,
                             "version": self.version, "type": self.type})
        tail = orjson.dumps({"recordedAt": self.recorded_at, "prevHash": self.prev_hash,
                             "hash": self.hash})
        return b"".join((head[:-1], b',"data":', self.data, b",", tail[1:]))

    def as_dict(self) -> dict[str, Any]:
        """The event as the raw-log endpoints and `export` show it (a pruned one with
        `"data": null, "pruned": true`)."""
        shown: dict[str, Any] = {
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "data": None if self.pruned else self.payload,
            "recordedAt": self.recorded_at,
            "prevHash": self.prev_hash,
            "hash": self.hash,
        }
        if self.pruned:
            shown["pruned"] = True
        return shown
