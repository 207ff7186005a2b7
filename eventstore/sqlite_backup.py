"""Backup and restore of a SQLite log: a consistent copy while writers go on, and a copy put
back in place of the live file, marked so that no position is handed out twice.

The copy uses SQLite's online backup API in steps of BACKUP_STEP_PAGES, all inside one read
transaction on the source. Without that transaction any commit by another connection
between two steps restarts the copy from the first page, so under a steady write load it
may never end; inside it the steps read one snapshot (WAL mode lets the writer go on
beside it), and the copy is the log as it was when the transaction began. `VACUUM INTO`
makes a consistent copy too, but in one statement with no progress to show, and it
rewrites every page: slower on the same data during a write load (`python -m bench
backup` measures both).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from eventstore.hashchain import GENESIS_HASH
from eventstore.lost_history import LOG_STREAM, LogEnd, RestoreMark, restore_marker
from eventstore.sqlite_writer import BUSY_TIMEOUT_MS

# Pages copied per step: the copy's progress is reported after each (4 MB at 4 KB pages).
BACKUP_STEP_PAGES = 1024

# Told (pages copied, pages in all) after each step of a copy.
OnPages = Callable[[int, int], None]


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def log_end(conn: sqlite3.Connection) -> LogEnd:
    row = conn.execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
                       ).fetchone()
    return LogEnd(int(row[0]), str(row[1])) if row else LogEnd(0, None)


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename is durable only once it is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(source: Path, dest: Path, on_pages: OnPages | None = None) -> None:
    """A consistent copy of the database at `source` written to `dest`, which must not exist.

    Written beside `dest` first and fsynced, then linked into place (link, not rename: it
    fails rather than replace a file that appeared meanwhile), so `dest` is either absent
    or a whole copy, even after a crash.
    """
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    src = _connect(source)
    target = sqlite3.connect(partial)
    try:
        # One read transaction for every step: one snapshot, and no restart on commits.
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()

        def progress(_status: int, remaining: int, total: int) -> None:
            if on_pages is not None:
                on_pages(total - remaining, total)

        src.backup(target, pages=BACKUP_STEP_PAGES, progress=progress)
        src.execute("COMMIT")
    finally:
        target.close()
        src.close()
    try:
        fsync_path(partial)
        os.link(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    fsync_path(dest.parent)


def high_water(path: Path) -> LogEnd | None:
    """How far the database at `path` reached: its last event, or further when the projection
    checkpoints (written with the events) say a tail was cut off. None when unreadable."""
    try:
        conn = _connect(path)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only = 1")
        end = log_end(conn)
        try:
            (recorded,) = conn.execute(
                "SELECT COALESCE(MAX(position), 0) FROM projection_checkpoints").fetchone()
        except sqlite3.OperationalError:
            recorded = 0
        if recorded > end.position:
            return LogEnd(int(recorded), None)
        return end
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def stage_copy(source: Path, staged: Path) -> None:
    """`source` (a backup, in any journal mode) copied to `staged`, replacing it."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{staged}{suffix}").unlink(missing_ok=True)
    src = _connect(source)
    target = sqlite3.connect(staged)
    try:
        src.execute("PRAGMA query_only = 1")
        src.backup(target)
    finally:
        target.close()
        src.close()


def mark_restore(staged: Path, lost_through: int, source: str,
                 replaced_hash: str | None) -> RestoreMark:
    """Append the restore marker (eventstore/lost_history.py) to the staged copy and move
    the projections that were at its end past it; fsynced, with no WAL left beside it."""
    conn = _connect(staged)
    try:
        # A rollback journal while it is written, so the whole file is one file at the end.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        end = log_end(conn)
        (log_version,) = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (LOG_STREAM,)
        ).fetchone()
        marker = restore_marker(
            restored_head=end.position, restored_hash=end.hash or GENESIS_HASH,
            lost_through=lost_through, log_version=int(log_version), source=source,
            replaced_hash=replaced_hash)
        conn.execute(
            "INSERT INTO events (position, stream, version, type, data, recorded_at,"
            " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (marker.position, marker.stream, marker.version, marker.type, marker.data,
             marker.recorded_at, marker.prev_hash, marker.hash))
        conn.execute("UPDATE projection_checkpoints SET position = ? WHERE position = ?",
                     (marker.position, end.position))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    fsync_path(staged)
    return RestoreMark(end, end.position + 1, marker.position - 1, marker.position)


SETTLE_WAIT_S = 5.0


def settle(path: Path) -> None:
    """Copy the WAL of the (closed) database at `path` into it and remove it, so the file
    alone is the database: a WAL left beside a file replaced under it would be replayed
    into the new one."""
    conn = _connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # Leaving WAL mode needs the file to itself, and the busy timeout does not apply:
        # a process that has just closed it (a server that stopped a moment ago, its
        # reader threads still letting go) may hold it a little longer.
        deadline = time.monotonic() + SETTLE_WAIT_S
        while True:
            try:
                conn.execute("PRAGMA journal_mode = DELETE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{wal} is still in use: is a server running on it?")


def install(staged: Path, target: Path, keep_as: Path | None) -> None:
    """Put `staged` in place of `target` in one rename; the replaced file stays at
    `keep_as` (a second name for it, made before the rename)."""
    if target.exists():
        settle(target)
        if keep_as is not None:
            os.link(target, keep_as)
    if target.exists():
        os.chmod(staged, target.stat().st_mode & 0o777)
    os.replace(staged, target)
    for suffix in ("-wal", "-shm"):  # empty by now; SQLite makes them again on open
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    fsync_path(target.parent)


def read_end(path: Path) -> LogEnd:
    """The last event of the database at `path`."""
    conn = _connect(path)
    try:
        conn.execute("PRAGMA query_only = 1")
        return log_end(conn)
    finally:
        conn.close()
