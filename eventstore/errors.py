"""Errors the store raises; callers translate them (the store knows nothing of HTTP)."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error raised by an event store."""


class ConcurrencyConflict(EventStoreError):
    """`expected_version` did not match the stream's version; nothing was written."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r} is at version {actual}, expected {expected}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


class StoreUnavailable(EventStoreError):
    """The store could not durably write (disk full, read-only, closed); nothing was acknowledged."""


class CursorBeyondLog(EventStoreError):
    """A subscription or read cursor names a position the log has not produced."""

    def __init__(self, cursor: int, head: int) -> None:
        super().__init__(f"cursor {cursor} is beyond the end of the log ({head})")
        self.cursor = cursor
        self.head = head


class SubscriptionLagged(EventStoreError):
    """A subscriber fell further behind the live log than it allowed (`max_lag`)."""

    def __init__(self, cursor: int, head: int) -> None:
        super().__init__(f"subscriber at {cursor} fell behind the log head {head}")
        self.cursor = cursor
        self.head = head


class EventTooLarge(EventStoreError):
    """One event's data is above the store's `max_event_bytes`; nothing was written."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"a {event_type} event of {size} bytes is above max_event_bytes ({limit})")
        self.event_type = event_type
        self.size = size
        self.limit = limit


class NoLogHere(EventStoreError):
    """An offline command was pointed at a database that holds no runstream log."""


class LeaseLost(EventStoreError):
    """An append was made under a lease this node no longer holds (eventstore/leases.py):
    another node drives the run now; nothing was written."""

    def __init__(self, key: str, owner: str, epoch: int) -> None:
        super().__init__(f"the lease of {key!r} is no longer {owner!r}'s at epoch {epoch}")
        self.key = key

