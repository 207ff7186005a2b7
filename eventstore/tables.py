"""Tables beside the log (identity, workflows, ...), on whichever backend holds the log.

SQL here is written once, with `?` for parameters, in the words both backends share
(`ON CONFLICT`, `RETURNING`, ...); `Tables` turns it into the backend's own. Where the
backends' DDL or words differ, the caller picks by `dialect`. A write is a *unit*: an
async function of a `Transaction`, run in one transaction on either backend (on SQLite
inside the writer's group commit, on PostgreSQL on a pooled connection).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from eventstore.rows import Dialect

T = TypeVar("T")

# A column of seconds since the epoch: PostgreSQL's REAL has too few digits for them.
SECONDS_COLUMN: dict[Dialect, str] = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"}


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement gave: its rows (empty for most writes) and how many it changed."""

    rows: list[Sequence[Any]] = field(default_factory=list)
    rowcount: int = 0

    def first(self) -> Sequence[Any] | None:
        return self.rows[0] if self.rows else None


class Transaction(abc.ABC):
    """One transaction of a write unit; statements take `?` for parameters."""

    dialect: Dialect

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement; its rows are fetched whole."""


WriteUnit = Callable[[Transaction], Coroutine[Any, Any, T]]


class TableStore(Protocol):
    """What a store offers for the tables beside its log (both backends implement it)."""

    dialect: Dialect

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """Rows of a read in the backend's own SQL (see `Tables.fetch_all` for `?`)."""
        ...

    async def write(self, unit: WriteUnit[T]) -> T:
        """Run `unit` in one transaction, committed before this returns."""
        ...

    async def ensure_tables(self, statements: Sequence[str]) -> None:
        """Run idempotent DDL (`CREATE ... IF NOT EXISTS`), one statement each."""
        ...


def native(sql: str, dialect: Dialect) -> str:
    """`sql` with its `?` parameters in the backend's own marks."""
    if dialect == "postgresql":
        # psycopg reads `%` as the start of a mark; `?` is never anything but a parameter
        # in these statements.
        return sql.replace("%", "%%").replace("?", "%s")
    return sql


class Tables:
    """The tables beside a store's log, read and written in SQL with `?` marks."""

    def __init__(self, store: TableStore) -> None:
        self.store = store
        self.dialect: Dialect = store.dialect

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        return await self.store.fetch_all(native(sql, self.dialect), params)

    async def write(self, unit: WriteUnit[T]) -> T:
        return await self.store.write(unit)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in a transaction of its own; returns the rows it changed."""

        async def unit(tx: Transaction) -> int:
            return (await tx.execute(sql, params)).rowcount

        return await self.store.write(unit)

    async def ensure_tables(self, statements: Sequence[str]) -> None:
        await self.store.ensure_tables(statements)
