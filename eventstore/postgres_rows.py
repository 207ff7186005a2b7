"""Projections on PostgreSQL: the rows a fold looks up, and its row changes, in PostgreSQL's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from eventstore.projector import Projector
from eventstore.records import RecordedEvent
from eventstore.rows import FoundRows, RowChanges, RowLookup, Statement, render

Connection = AsyncConnection[Any]

_sql: dict[Statement, str] = {}


def statement_sql(statement: Statement) -> str:
    sql = _sql.get(statement)
    if sql is None:
        sql = _sql[statement] = render(statement, "%s")
    return sql


async def look_up(conn: Connection, lookup: RowLookup) -> FoundRows:
    columns = ", ".join((lookup.key, *lookup.columns))
    cursor = await conn.execute(
        f"SELECT {columns} FROM {lookup.table} WHERE {lookup.key} = ANY(%s)", (list(lookup.keys),))
    return {row[0]: tuple(row[1:]) for row in await cursor.fetchall()}


async def write_changes(conn: Connection, changes: RowChanges) -> None:
    async with conn.cursor() as cursor:
        for statement, params in changes:
            # psycopg pipelines an executemany: one round trip for the whole group.
            await cursor.executemany(statement_sql(statement), params)


async def project(
    conn: Connection, projectors: Sequence[Projector], events: Sequence[RecordedEvent]
) -> None:
    """Fold `events` into every projection and write the result, in `conn`'s transaction."""
    # A pruned event has no data left to fold: replaying a pruned log (rebuild, catch-up)
    # folds only what was kept, and the prune event's fold removed the rest's rows.
    events = [event for event in events if event.data]
    if not events:
        return
    for projector in projectors:
        found: dict[str, FoundRows] = {}
        for lookup in projector.lookups(events):
            found[lookup.table] = await look_up(conn, lookup)
        changes = RowChanges()
        projector.fold(events, found, changes)
        await write_changes(conn, changes)


async def create_schema(conn: Connection, projector: Projector) -> None:
    await conn.execute(projector.schema("postgresql").encode())


async def drop_schema(conn: Connection, projector: Projector) -> None:
    for table in projector.tables():
        await conn.execute(f"DROP TABLE IF EXISTS {table}".encode())
