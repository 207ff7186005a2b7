"""A projection that fails on purpose, for the tests of every backend that show an append
and its projections commit together or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eventstore.records import RecordedEvent
from eventstore.rows import Dialect, FoundRows, RowChanges, RowLookup


class Exploding:
    """A projection that fails on one event type, to show an append is all or nothing."""

    name = "exploding"

    def schema(self, dialect: Dialect) -> str:
        return "CREATE TABLE IF NOT EXISTS exploding_seen (position INTEGER PRIMARY KEY);"

    def tables(self) -> list[str]:
        return ["exploding_seen"]

    def lookups(self, events: Sequence[RecordedEvent]) -> list[RowLookup]:
        return []

    def fold(self, events: Sequence[RecordedEvent], found: Mapping[str, FoundRows],
             changes: RowChanges) -> None:
        for event in events:
            if event.type == "Boom":
                raise RuntimeError("projection failed")
            changes.insert("exploding_seen", {"position": event.position})
