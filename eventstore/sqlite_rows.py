"""Projections on SQLite: the rows a fold looks up, and its row changes, in SQLite's SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from eventstore.projector import Projector
from eventstore.records import RecordedEvent
from eventstore.rows import FoundRows, RowChanges, RowLookup, Statement, render

# Keys per lookup statement: well under SQLite's limit on bound parameters.
LOOKUP_CHUNK = 500

_sql: dict[Statement, str] = {}


def statement_sql(statement: Statement) -> str:
    sql = _sql.get(statement)
    if sql is None:
        sql = _sql[statement] = render(statement, "?")
    return sql


def look_up(conn: sqlite3.Connection, lookup: RowLookup) -> FoundRows:
    found: FoundRows = {}
    keys = list(lookup.keys)
    columns = ", ".join((lookup.key, *lookup.columns))
    for i in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[i:i + LOOKUP_CHUNK]
        rows = conn.execute(
            f"SELECT {columns} FROM {lookup.table} WHERE {lookup.key} IN"
            f" ({', '.join('?' * len(chunk))})", chunk).fetchall()
        for row in rows:
            found[row[0]] = row[1:]
    return found


def write_changes(conn: sqlite3.Connection, changes: RowChanges) -> None:
    for statement, params in changes:
        conn.executemany(statement_sql(statement), params)


def project(
    conn: sqlite3.Connection, projectors: Sequence[Projector], events: Sequence[RecordedEvent]
) -> None:
    """Fold `events` into every projection and write the result, on `conn`'s transaction."""
    # A pruned event has no data left to fold: replaying a pruned log (rebuild, catch-up)
    # folds only what was kept, and the prune event's fold removed the rest's rows.
    events = [event for event in events if event.data]
    if not events:
        return
    for projector in projectors:
        found: dict[str, FoundRows] = {}
        for lookup in projector.lookups(events):
            found[lookup.table] = look_up(conn, lookup)
        changes = RowChanges()
        projector.fold(events, found, changes)
        write_changes(conn, changes)


def create_schema(conn: sqlite3.Connection, projector: Projector) -> None:
    conn.executescript(projector.schema("sqlite"))


def schema_statements(projector: Projector) -> tuple[list[str], list[str]]:
    """The projection's DDL as (tables with their constraints, secondary indexes).

    A replay into fresh tables inserts faster without the secondary indexes and builds
    each afterwards in one pass; unique indexes stay with the tables, as the upserts'
    conflict targets.
    """
    tables: list[str] = []
    indexes: list[str] = []
    statement = ""
    for line in projector.schema("sqlite").splitlines(keepends=True):
        if not statement and (not line.strip() or line.lstrip().startswith("--")):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            is_index = statement.lstrip().upper().startswith("CREATE INDEX")
            (indexes if is_index else tables).append(statement.strip())
            statement = ""
    return tables, indexes


def drop_schema(conn: sqlite3.Connection, projector: Projector) -> None:
    for table in projector.tables():
        conn.execute(f"DROP TABLE IF EXISTS {table}")
