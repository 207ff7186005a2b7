"""Drop-and-replay of every projection on PostgreSQL, compared row for row with the live tables.

The replay writes into a scratch schema put first on the search path, so the very
same fold and SQL as a live append build the scratch tables, while the log (which
the scratch schema lacks) is read from the live schema. The whole operation holds
the head row's lock: appends from every node wait rather than slip in between the
replay and the swap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from psycopg import sql

from eventstore.postgres import PAGE, offline_connection, require_log, row_to_event
from eventstore.postgres_rows import Connection, create_schema, project
from eventstore.postgres_schema import EVENT_COLUMNS
from eventstore.projector import Projector
from eventstore.verify import OnProgress
from projections.rebuild import RebuildReport


async def rebuild_postgres(
    url: str, projectors: Sequence[Projector], replace: bool = True,
    on_progress: OnProgress | None = None,
) -> RebuildReport:
    report = RebuildReport()
    conn = await offline_connection(url, "runstream rebuild")
    try:
        await require_log(conn)
        async with conn.transaction():
            await conn.execute("SELECT position FROM event_head FOR UPDATE")
            cursor = await conn.execute("SELECT current_schema()")
            (live_name,) = await cursor.fetchone() or ("public",)
            live = sql.Identifier(live_name)
            scratch = sql.Identifier(f"{live_name}_rebuild")
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(scratch))
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(scratch))
            await conn.execute(
                sql.SQL("SET LOCAL search_path = {}, {}").format(scratch, live))
            started = time.perf_counter()
            report.events = await replay_into_scratch(conn, projectors, on_progress)
            report.seconds = time.perf_counter() - started
            for projector in projectors:
                for table in projector.tables():
                    report.differences[table] = await _diff(conn, live, scratch, table)
            if replace:
                for projector in projectors:
                    for table in projector.tables():
                        name = sql.Identifier(table)
                        await conn.execute(sql.SQL("DELETE FROM {}.{}").format(live, name))
                        await conn.execute(sql.SQL("INSERT INTO {}.{} SELECT * FROM {}.{}")
                                           .format(live, name, scratch, name))
                    await conn.execute(
                        sql.SQL("UPDATE {}.projection_checkpoints SET position ="
                                " (SELECT position FROM {}.event_head) WHERE name = %s")
                        .format(live, live), (projector.name,))
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(scratch))
    finally:
        await conn.close()
    return report


async def replay_into_scratch(
    conn: Connection, projectors: Sequence[Projector], on_progress: OnProgress | None = None
) -> int:
    """Fold the whole log into fresh projection tables (the first schema on the path)."""
    cursor = await conn.execute("SELECT position FROM event_head")
    (total,) = await cursor.fetchone() or (0,)
    for projector in projectors:
        await create_schema(conn, projector)
    count = 0
    position = 0
    while True:
        cursor = await conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (position, PAGE))
        rows = await cursor.fetchall()
        if not rows:
            break
        await project(conn, projectors, [row_to_event(row) for row in rows])
        count += len(rows)
        position = int(rows[-1][0])
        if on_progress is not None:
            on_progress(position, int(total))
    return count


async def _diff(conn: Connection, live: sql.Identifier, scratch: sql.Identifier,
                table: str) -> tuple[int, int]:
    name = sql.Identifier(table)
    counts = []
    for first, second in ((live, scratch), (scratch, live)):
        cursor = await conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT * FROM {}.{} EXCEPT SELECT * FROM {}.{}) d")
            .format(first, name, second, name))
        (count,) = await cursor.fetchone() or (0,)
        counts.append(int(count))
    return counts[0], counts[1]
