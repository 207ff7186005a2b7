"""Moving a SQLite log and every table beside it into an empty PostgreSQL database.

One PostgreSQL transaction does it all, so the target ends with the whole of the
source or with nothing: the log is copied row for row (same positions, same hashes,
the head row set to the last of them), then every other table of the source that is
neither the log's nor a projection's, found in the source's own catalogue so that a
table added later is not forgotten, then the projections are folded from the copied
log as a live append folds them. The source is read in one snapshot.

The target's tables beside the log must exist already (whoever calls this creates them
as the app does, with each backend's own DDL): a source table the target lacks is an
error, not a silent loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from eventstore.hashchain import GENESIS_HASH
from eventstore.postgres import PAGE, row_to_event
from eventstore.postgres_rows import Connection, create_schema, project
from eventstore.postgres_schema import EVENT_COLUMNS, SCHEMA, SCHEMA_LOCK, connection_info
from eventstore.projector import Projector

# The log's own tables: copied (events) or rebuilt (checkpoints), never as side tables.
LOG_TABLES = frozenset({"events", "projection_checkpoints"})

# `progress(stage, done, total)` after each page of a stage.
OnStage = Callable[[str, int, int], None]


class ImportRefused(Exception):
    """The target is not an empty runstream database, or lacks a table of the source;
    nothing was written."""


@dataclass(slots=True)
class ImportReport:
    events: int = 0
    head_hash: str = GENESIS_HASH
    rows: dict[str, int] = field(default_factory=dict)  # rows copied per side table


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress: none."""


async def import_sqlite(source: Path, url: str, projectors: Sequence[Projector],
                        progress: OnStage = _quiet) -> ImportReport:
    """Copy `source` (a runstream.db) into the database at `url`; raises ImportRefused."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    try:
        src.execute("BEGIN")  # one snapshot for every table read below
        conn = await psycopg.AsyncConnection.connect(
            connection_info(url, "runstream migrate"), autocommit=True)
        try:
            async with conn.transaction():
                return await _import(src, conn, projectors, progress)
        finally:
            await conn.close()
    finally:
        src.close()


async def _import(src: sqlite3.Connection, conn: Connection, projectors: Sequence[Projector],
                  progress: OnStage) -> ImportReport:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    await conn.execute(SCHEMA.encode())
    for projector in projectors:
        await create_schema(conn, projector)
    # Held to the commit: no node appends, and no second migration starts, meanwhile.
    cursor = await conn.execute("SELECT position FROM event_head FOR UPDATE")
    (head,) = await cursor.fetchone() or (0,)
    cursor = await conn.execute("SELECT count(*) FROM events")
    (count,) = await cursor.fetchone() or (0,)
    if head or count:
        raise ImportRefused(
            f"the target already holds a log ({max(head, count)} events); "
            "migrate into an empty database")
    projection_tables = {t for p in projectors for t in p.tables()}
    side = [t for t in source_tables(src)
            if t not in LOG_TABLES and t not in projection_tables]
    target = await target_columns(conn)
    missing = [t for t in side if t not in target]
    if missing:
        raise ImportRefused(
            f"the target has no table {', '.join(missing)}: its tables beside the log "
            "are created as the app creates them, and this one is not among them")
    for table in side:
        cursor = await conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        (rows,) = await cursor.fetchone() or (0,)
        if rows:
            raise ImportRefused(
                f"the target's table {table} already holds {rows} rows; "
                "migrate into an empty database")

    report = ImportReport()
    report.events, report.head_hash = await _copy_log(src, conn, progress)
    for table in side:
        report.rows[table] = await _copy_table(src, conn, table, target[table], progress)
    await _fold_projections(conn, projectors, report.events, progress)
    return report


def source_tables(src: sqlite3.Connection) -> list[str]:
    """The source's tables, each after the tables its foreign keys name (parents first)."""
    names = [name for (name,) in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    parents = {name: {row[2] for row in src.execute(f'PRAGMA foreign_key_list("{name}")')}
               for name in names}
    ordered: list[str] = []

    def place(name: str, seen: frozenset[str]) -> None:
        if name in ordered or name in seen:
            return
        for parent in sorted(parents.get(name, ())):
            place(parent, seen | {name})
        ordered.append(name)

    for name in names:
        place(name, frozenset())
    return ordered


@dataclass(frozen=True, slots=True)
class TargetColumn:
    data_type: str
    filled_by_default: bool  # a sequence or identity gives it a value


async def target_columns(conn: Connection) -> dict[str, dict[str, TargetColumn]]:
    cursor = await conn.execute(
        "SELECT table_name, column_name, data_type,"
        " coalesce(column_default LIKE 'nextval(%', false) OR is_identity = 'YES'"
        " FROM information_schema.columns WHERE table_schema = current_schema()")
    tables: dict[str, dict[str, TargetColumn]] = {}
    for table, column, data_type, filled in await cursor.fetchall():
        tables.setdefault(table, {})[column] = TargetColumn(data_type, bool(filled))
    return tables


async def _copy_log(src: sqlite3.Connection, conn: Connection,
                    progress: OnStage) -> tuple[int, str]:
    (total,) = src.execute("SELECT count(*) FROM events").fetchone()
    done, last_position, last_hash = 0, 0, GENESIS_HASH
    async with conn.cursor() as cursor, cursor.copy(
            f"COPY events ({EVENT_COLUMNS}) FROM STDIN".encode()) as copy:
        for page in _pages(src, f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position"):
            for row in page:
                await copy.write_row((*row[:4], bytes(row[4]), *row[5:]))
            done += len(page)
            last_position, last_hash = page[-1][0], page[-1][7]
            progress("events", done, total)
    if done:
        # The last position, not the count: a restored log has a hole of positions that
        # must never be taken again (eventstore/lost_history.py).
        await conn.execute("UPDATE event_head SET position = %s, hash = %s",
                           (last_position, last_hash))
    return done, last_hash


async def _copy_table(src: sqlite3.Connection, conn: Connection, table: str,
                      columns: dict[str, TargetColumn], progress: OnStage) -> int:
    source_columns = [row[1] for row in src.execute(f'PRAGMA table_info("{table}")')]
    lacking = [c for c in source_columns if c not in columns]
    if lacking:
        raise ImportRefused(f"the target's table {table} has no column {', '.join(lacking)}")
    types = [columns[c].data_type for c in source_columns]
    (total,) = src.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    names = ", ".join(f'"{c}"' for c in source_columns)
    done = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, source_columns)))
    try:
        async with conn.cursor() as cursor, cursor.copy(statement) as copy:
            # In rowid order: a column the target fills from a sequence (the order things
            # were created in, which SQLite's rowid gives) is filled in the same order.
            for page in _pages(src, f'SELECT {names} FROM "{table}" ORDER BY rowid'):
                for row in page:
                    await copy.write_row([_value(v, t) for v, t in zip(row, types, strict=True)])
                done += len(page)
                progress(table, done, total)
    except psycopg.Error as exc:
        raise ImportRefused(f"copying table {table}: {str(exc).strip()}") from exc
    for column in (c for c in source_columns if columns[c].filled_by_default):
        # The rows came with their numbers: the sequence must go on after the largest.
        await conn.execute(sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({c}), 0) + 1, false)"
            " FROM {t}").format(c=sql.Identifier(column), t=sql.Identifier(table)),
            (table, column))
    return done


def _value(value: Any, data_type: str) -> Any:
    """A SQLite value as the target column's type takes it (SQLite keeps a boolean as
    an integer, and may hold text where PostgreSQL wants bytes or the other way round)."""
    if value is None:
        return None
    if data_type == "boolean":
        return bool(value)
    if data_type == "bytea" and isinstance(value, str):
        return value.encode()
    if data_type in ("text", "character varying", "json", "jsonb") and isinstance(value, bytes):
        return value.decode()
    return value


async def _fold_projections(conn: Connection, projectors: Sequence[Projector], total: int,
                            progress: OnStage) -> None:
    position = 0
    while True:
        cursor = await conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (position, PAGE))
        rows = await cursor.fetchall()
        if not rows:
            break
        await project(conn, projectors, [row_to_event(row) for row in rows])
        position = int(rows[-1][0])
        progress("projections", position, total)
    for projector in projectors:
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, position) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (projector.name, position))


def _pages(src: sqlite3.Connection, query: str) -> Iterator[list[Any]]:
    cursor = src.execute(query)
    while page := cursor.fetchmany(PAGE):
        yield page
