"""What the store needs from a projection: applied inside the append's own transaction."""

from __future__ import annotations

import sqlite3
from typing import Protocol

from eventstore.records import RecordedEvent


class Projector(Protocol):
    """A read model fed by the log, written in the same transaction as the events."""

    name: str

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the projection's tables if missing (idempotent)."""

    def drop_schema(self, conn: sqlite3.Connection) -> None:
        """Drop the projection's tables (for a rebuild)."""

    def apply(self, conn: sqlite3.Connection, event: RecordedEvent) -> None:
        """Fold one event into the tables; ignore types it does not know."""

    def tables(self) -> list[str]:
        """The tables this projection owns, for rebuild comparison."""
