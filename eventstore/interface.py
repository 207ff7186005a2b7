"""The event store interface every backend implements (SQLite and PostgreSQL).

The contract suite in tests/eventstore_contract.py runs against every implementation.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventstore.hub import EventHub
from eventstore.leases import Fence, LeaseBook
from eventstore.prune import PruneOutcome, PruneRecord, PruneUnsupported
from eventstore.records import NewEvent, RecordedEvent
from eventstore.rows import Dialect
from eventstore.tables import T, WriteUnit

# `expected_version` values that are not a concrete version number.
ANY_VERSION = -1
NO_STREAM = 0


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of a hash-chain check: `first_bad_position` is None when the chain holds."""

    checked: int
    head: int
    first_bad_position: int | None = None
    reason: str | None = None
    # The hash of the last event checked: two logs with the same history end on the same one.
    head_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None


class EventStore(abc.ABC):
    """An append-only, hash-chained log of events grouped into streams, and the tables
    beside it (read models, identity, workflows: see eventstore/tables.py)."""

    dialect: Dialect
    # Committed events in order, for this process's live subscribers and streams.
    hub: EventHub

    @abc.abstractmethod
    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY_VERSION,
        fence: Fence | None = None,
    ) -> list[RecordedEvent]:
        """Append `events` to `stream` atomically; return them as recorded, after commit.

        `expected_version` is the stream's current version (NO_STREAM for a new
        stream) or ANY_VERSION; a mismatch raises ConcurrencyConflict and writes nothing.
        With `fence`, an append whose lease another owner holds now raises LeaseLost and
        writes nothing (a store without leases has every run on its one node).
        """

    def leases(self, owner: str, ttl_s: float) -> LeaseBook | None:
        """`owner`'s run leases on a log several nodes share; None where one node has it all."""
        return None

    @abc.abstractmethod
    async def read(
        self, stream: str | None = None, after: int = 0, limit: int = 1000,
        max_bytes: int | None = None,
    ) -> list[RecordedEvent]:
        """Events after position `after`, in log order, of one stream or (None) of all.

        With `max_bytes`, the page stops before the event whose data would pass it (but
        holds at least one event), so a page of large events stays small.
        """

    @abc.abstractmethod
    def subscribe(
        self, stream: str | None = None, after: int = 0, max_lag: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after `after`: history first, then live, with no gap and no duplicate.

        A cursor beyond the head raises CursorBeyondLog. Once caught up, a subscriber
        that has more than `max_lag` of its own events waiting raises
        SubscriptionLagged (history is not lag, and other streams' events never
        count); without `max_lag` a slow subscriber catches up from disk, so memory
        stays bounded either way.
        """

    @abc.abstractmethod
    async def head(self) -> int:
        """The position of the last committed event (0 for an empty log)."""

    def observe_commits(self, observer: Callable[[int, float], None]) -> None:
        """Call `observer(jobs, seconds)` after each group commit, where the backend
        times them (metrics); one that does not never calls it."""
        return None

    def status(self) -> dict[str, Any]:
        """Backend facts for health checks and metrics (WAL, ring, pool, ...)."""
        return {}

    @abc.abstractmethod
    async def stream_version(self, stream: str) -> int:
        """The version of the last event in `stream` (0 when it has none)."""

    @abc.abstractmethod
    async def verify(self) -> VerifyResult:
        """Recompute the hash chain over the whole log and name the first bad position."""

    async def prune(
        self, streams: Sequence[str], record_stream: str, record: PruneRecord
    ) -> PruneOutcome:
        """Remove the data of every event of `streams` (their chain headers stay) and append
        `record(pruned streams, events)` to `record_stream`, in one transaction. Streams
        whose data is already gone are skipped; when none is left nothing is written."""
        raise PruneUnsupported(f"the {self.dialect} store cannot prune events yet")

    async def release_free_space(self) -> int:
        """Give the space freed by pruning back to the filesystem; returns bytes released."""
        return 0

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """The rows of one read, in the backend's own SQL and parameter marks."""

    @abc.abstractmethod
    async def write(self, unit: WriteUnit[T]) -> T:
        """Run a write unit (an async function of a Transaction) in one transaction."""

    @abc.abstractmethod
    async def ensure_tables(self, statements: Sequence[str]) -> None:
        """Run idempotent DDL, one statement each, between writes."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending appends, stop the writer and close every connection."""
