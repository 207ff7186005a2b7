"""Row changes: what a projection's fold produces, and every backend writes with its own SQL.

A projection folds a whole batch of events in memory (pure Python) and states the
result as row changes, each row once per batch. The changes are grouped by the
shape of their statement, so a backend writes each group with one `executemany`.
Which rows a fold needs to see first is stated the same way (`RowLookup`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class RowLookup:
    """`columns` of the rows of `table` whose single-column `key` is one of `keys`."""

    table: str
    key: str
    columns: tuple[str, ...]
    keys: Collection[str]


# What a backend found for a lookup: key value -> the row's `columns`, in their order.
FoundRows = dict[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Statement:
    """The shape of one kind of row write; equal shapes share one executemany.

    - insert: INSERT (columns)
    - update: UPDATE SET (columns) WHERE (keys)
    - upsert: INSERT (columns) ON CONFLICT (keys) DO UPDATE SET (sets) to given values,
      (copied) to the values just proposed for insertion, (nulls) to NULL
    - increment: INSERT (keys + columns) ON CONFLICT (keys) DO UPDATE SET each column
      to itself plus the given amount
    - delete: DELETE WHERE (keys)
    """

    kind: Literal["insert", "update", "upsert", "increment", "delete"]
    table: str
    columns: tuple[str, ...]
    keys: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    copied: tuple[str, ...] = ()
    nulls: tuple[str, ...] = ()


@dataclass(slots=True)
class RowChanges:
    """Row writes grouped by statement shape, each group's parameters in statement order."""

    groups: dict[Statement, list[tuple[Any, ...]]] = field(default_factory=dict)

    def _add(self, statement: Statement, params: tuple[Any, ...]) -> None:
        group = self.groups.get(statement)
        if group is None:
            self.groups[statement] = [params]
        else:
            group.append(params)

    def add(self, statement: Statement, params: list[tuple[Any, ...]]) -> None:
        """Rows of one shape at once, their parameters already in statement order (a fold
        writing many rows groups them itself: cheaper than one call per row)."""
        self.groups.setdefault(statement, []).extend(params)

    def insert(self, table: str, values: Mapping[str, Any]) -> None:
        self._add(Statement("insert", table, tuple(values)), tuple(values.values()))

    def update(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        self._add(Statement("update", table, tuple(values), tuple(key)),
                  (*values.values(), *key.values()))

    def upsert(self, table: str, keys: tuple[str, ...], values: Mapping[str, Any],
               sets: Mapping[str, Any]) -> None:
        """Insert `values`, or, where a row with the same `keys` exists, set `sets` on it."""
        params, copied, nulls, given = split_sets(values, sets)
        self._add(Statement("upsert", table, tuple(values), keys, params, copied, nulls),
                  (*values.values(), *given))

    def increment(self, table: str, key: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
        """Add `amounts` to a row's columns, creating the row (at the amounts) if missing."""
        self._add(Statement("increment", table, tuple(amounts), tuple(key)),
                  (*key.values(), *amounts.values()))

    def delete(self, table: str, key: Mapping[str, Any]) -> None:
        """Remove the rows of `table` matching `key` (retention: a pruned run's rows)."""
        self._add(Statement("delete", table, (), tuple(key)), tuple(key.values()))

    def __iter__(self) -> Iterator[tuple[Statement, list[tuple[Any, ...]]]]:
        return iter(self.groups.items())

    def __len__(self) -> int:
        return sum(len(params) for params in self.groups.values())


def split_sets(values: Mapping[str, Any], sets: Mapping[str, Any]
               ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], list[Any]]:
    """An upsert's `sets` as (columns given as parameters, columns copied from the inserted
    values, columns set to NULL, the parameters).

    Each bound parameter costs SQLite measurably per row, and most of what an upsert sets
    on an existing row is what it would have inserted, or NULL.
    """
    params: list[str] = []
    copied: list[str] = []
    nulls: list[str] = []
    given: list[Any] = []
    for column, value in sets.items():
        if value is None:
            nulls.append(column)
        elif column in values and values[column] == value:
            copied.append(column)
        else:
            params.append(column)
            given.append(value)
    return tuple(params), tuple(copied), tuple(nulls), given


def render(statement: Statement, mark: str) -> str:
    """The SQL of a statement shape, `mark` being the backend's parameter placeholder.

    The upsert syntax (ON CONFLICT ... DO UPDATE, `excluded`) is the one SQLite and
    PostgreSQL share; only the placeholder differs between them.
    """
    table, columns, keys = statement.table, statement.columns, statement.keys
    if statement.kind == "delete":
        return f"DELETE FROM {table} WHERE {' AND '.join(f'{key} = {mark}' for key in keys)}"
    if statement.kind == "update":
        sets = ", ".join(f"{column} = {mark}" for column in columns)
        where = " AND ".join(f"{key} = {mark}" for key in keys)
        return f"UPDATE {table} SET {sets} WHERE {where}"
    if statement.kind == "increment":
        every = (*keys, *columns)
        sets = ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in columns)
        return (f"INSERT INTO {table} ({', '.join(every)}) VALUES"
                f" ({', '.join([mark] * len(every))}) ON CONFLICT ({', '.join(keys)})"
                f" DO UPDATE SET {sets}")
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
           f" ({', '.join([mark] * len(columns))})")
    if statement.kind == "upsert":
        sets = ", ".join([*(f"{column} = {mark}" for column in statement.sets),
                          *(f"{column} = excluded.{column}" for column in statement.copied),
                          *(f"{column} = NULL" for column in statement.nulls)])
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    return sql
