"""Removing pruned streams' data from the SQLite log so that the space comes back.

An UPDATE that shrinks a row leaves its page as full as it was: SQLite rebalances a page
only when rows leave it (or it overflows), so pages of small events whose data went would
stay as large as before, and nothing but the projections' rows would go back to the
filesystem. So the headers are read, the rows deleted (their pages merge with their
neighbours' and the emptied ones go to the freelist) and the headers put back at the same
positions, in position order, into the merged pages: the same log, in fewer pages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

HEADER_COLUMNS = "position, stream, version, type, recorded_at, prev_hash, hash"
WITH_DATA = "stream = ? AND length(data) > 0"


def remove_data(conn: sqlite3.Connection, streams: Sequence[str]) -> tuple[list[str], int, int]:
    """Remove every event's data of `streams` (in the caller's transaction), keeping its
    chain header; streams without data left are skipped. (pruned streams, events, bytes)."""
    pruned: list[str] = []
    headers: list[tuple[object, ...]] = []
    removed = 0
    for stream in streams:
        rows = conn.execute(f"SELECT {HEADER_COLUMNS}, length(data) FROM events WHERE {WITH_DATA}",
                            (stream,)).fetchall()
        if not rows:
            continue
        pruned.append(stream)
        removed += sum(row[-1] for row in rows)
        headers += [row[:-1] for row in rows]
        conn.execute(f"DELETE FROM events WHERE {WITH_DATA}", (stream,))
    headers.sort()
    # Empty bytes: no appended event has them (the smallest payload is `{}`).
    conn.executemany(
        "INSERT INTO events (position, stream, version, type, recorded_at, prev_hash, hash,"
        " data) VALUES (?, ?, ?, ?, ?, ?, ?, X'')", headers)
    return pruned, len(headers), removed
