"""Marking a PostgreSQL log that was put back from a dump or a point-in-time recovery.

PostgreSQL is backed up and restored with its own tools (pg_dump / pg_restore, base
backups and WAL archiving for PITR). What they cannot know is how far the replaced
database had reached, so the operator says it (`runstream restore --mark --lost-through N`)
and the mark (eventstore/lost_history.py) is appended here, at N + 1, with `event_head`
moved past it: the next append of any node takes N + 2.
"""

from __future__ import annotations

import psycopg

from eventstore.lost_history import LOG_STREAM, LogEnd, RestoreMark, restore_marker
from eventstore.postgres_schema import connection_info

# What the serving nodes' connections call themselves (eventstore/postgres.py).
SERVING_APPLICATION = "runstream"


async def serving_sessions(url: str) -> int:
    """How many connections of serving nodes the database has open (all must be stopped)."""
    async with await psycopg.AsyncConnection.connect(
            connection_info(url, "runstream restore"), autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s AND pid <> pg_backend_pid()",
            (SERVING_APPLICATION,))
        (count,) = await cursor.fetchone() or (0,)
    return int(count)


async def mark_restored(url: str, lost_through: int, source: str) -> RestoreMark:
    """Append the restore mark after the log's end, skipping positions up to `lost_through`."""
    async with await psycopg.AsyncConnection.connect(
            connection_info(url, "runstream restore"), autocommit=True) as conn:
        async with conn.transaction():
            cursor = await conn.execute("SELECT position, hash FROM event_head FOR UPDATE")
            row = await cursor.fetchone()
            if row is None:
                raise LookupError("this database holds no runstream log (no event_head row)")
            end = LogEnd(int(row[0]), str(row[1]))
            cursor = await conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = %s",
                (LOG_STREAM,))
            (log_version,) = await cursor.fetchone() or (0,)
            marker = restore_marker(
                restored_head=end.position, restored_hash=str(end.hash),
                lost_through=lost_through, log_version=int(log_version), source=source,
                replaced_hash=None)
            await conn.execute(
                "INSERT INTO events (position, stream, version, type, data, recorded_at,"
                " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (marker.position, marker.stream, marker.version, marker.type, marker.data,
                 marker.recorded_at, marker.prev_hash, marker.hash))
            await conn.execute("UPDATE event_head SET position = %s, hash = %s",
                               (marker.position, marker.hash))
            await conn.execute(
                "UPDATE projection_checkpoints SET position = %s WHERE position = %s",
                (marker.position, end.position))
    return RestoreMark(end, end.position + 1, marker.position - 1, marker.position)
