"""What the store needs from a projection: a fold of a batch, applied in the append's transaction.

A projection knows no database: it names the rows it must see (`lookups`), folds the
batch's events into row changes in memory (`fold`), and gives its tables' DDL for
each dialect. Each backend reads and writes those rows with its own SQL, once per
batch, in the transaction that appends the batch's events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from eventstore.records import RecordedEvent
from eventstore.rows import Dialect, FoundRows, RowChanges, RowLookup


class Projector(Protocol):
    """A read model fed by the log, written in the same transaction as the events."""

    name: str

    def schema(self, dialect: Dialect) -> str:
        """DDL creating the projection's tables and indexes if missing (idempotent)."""

    def tables(self) -> list[str]:
        """The tables this projection owns: dropped by a rebuild, compared with the live ones."""

    def lookups(self, events: Sequence[RecordedEvent]) -> list[RowLookup]:
        """The existing rows `fold` needs to see for these events (none for most)."""

    def fold(self, events: Sequence[RecordedEvent], found: Mapping[str, FoundRows],
             changes: RowChanges) -> None:
        """Fold `events`, in log order, into `changes`; `found` holds the looked-up rows
        by table. Events of types it does not know are ignored."""
