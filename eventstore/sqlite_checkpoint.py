"""WAL checkpoints off the commit path, and a WAL that stays bounded under any load.

By default SQLite checkpoints inside whichever COMMIT pushes the WAL past 1000
pages, so one group commit in a thousand stalls every caller in it. The writer
turns that off and this module checkpoints in two ways:

- In the background, on a connection of its own, PASSIVE every `interval_s`: it
  copies committed frames back into the database without waiting for anyone.
- On the writer's own thread, between two batches, RESTART once the WAL file
  has grown past `restart_bytes`.

Why both (measured, see docs/architecture.md): a PASSIVE checkpoint copies every frame
back, but SQLite starts writing the WAL from its beginning again only when a
write transaction begins at a moment when the whole WAL has been copied back
and no reader still reads from it. Our writer begins its next batch right after
the previous commit, so under sustained load the background checkpoint never
finishes in such a moment: the WAL grew by 21 MB/s and never restarted. Between
two batches the writer is the only one who could add frames, so a RESTART there
copies the few frames PASSIVE has not, waits at most `wait_ms` for readers that
started before it, and makes the next batch write from the start of the file;
`journal_size_limit` then cuts the file back to `restart_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventstore.sqlite_writer import BUSY_TIMEOUT_MS, open_connection

CHECKPOINT_INTERVAL_S = 0.5
DEFAULT_WAL_RESTART_BYTES = 16 * 1024 * 1024
DEFAULT_WAL_CHECKPOINT_WAIT_MS = 200
# Incomplete restarts back off from `interval_s` up to 2**4 times it (8 s).
MAX_BACKOFF_DOUBLINGS = 4


@dataclass(frozen=True, slots=True)
class WalPolicy:
    """When the writer restarts the WAL, and how long it may wait for readers to do so."""

    restart_bytes: int = DEFAULT_WAL_RESTART_BYTES
    wait_ms: int = DEFAULT_WAL_CHECKPOINT_WAIT_MS


@dataclass(slots=True)
class CheckpointRecord:
    """The last checkpoint of a kind, as /healthz shows it."""

    mode: str
    at: float
    duration_ms: float
    frames: int
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "at": self.at, "durationMs": round(self.duration_ms, 2),
                "frames": self.frames, "complete": self.complete}


def checkpoint(conn: sqlite3.Connection, mode: str) -> CheckpointRecord:
    """Run one checkpoint; `complete` is False when readers or a writer kept it from finishing."""
    started = time.perf_counter()
    busy, log_frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return CheckpointRecord(mode, time.time(), (time.perf_counter() - started) * 1000,
                            log_frames, not busy and log_frames == copied)


class WalCheckpointer:
    def __init__(self, path: Path, synchronous: str, policy: WalPolicy,
                 interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._path = path
        self._wal_path = Path(f"{path}-wal")
        self._synchronous = synchronous
        self.policy = policy
        self._interval_s = interval_s
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry_restart_at = 0.0
        self._failed_in_a_row = 0
        # SQLite lets one checkpoint run at a time and answers any other BUSY at once (no
        # busy wait): the writer's RESTART waits here for a background PASSIVE to end.
        self._one_at_a_time = threading.Lock()
        self.last_passive: CheckpointRecord | None = None
        self.last_restart: CheckpointRecord | None = None
        self.restarts = 0
        self.restarts_incomplete = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wal-checkpoint")

    def wal_bytes(self) -> int:
        try:
            return self._wal_path.stat().st_size
        except OSError:  # none yet, or the disk in trouble: writes will say so themselves
            return 0

    # -- on the writer's thread ---------------------------------------------------

    def configure_writer(self, conn: sqlite3.Connection) -> None:
        """After a restart, the writer's next commit cuts the WAL file back to the bound."""
        conn.execute(f"PRAGMA journal_size_limit = {self.policy.restart_bytes}")

    def restart_due(self) -> bool:
        """Checked on the event loop after each batch: one stat, no thread hop."""
        return (self.wal_bytes() > self.policy.restart_bytes
                and time.monotonic() >= self._retry_restart_at)

    def restart(self, conn: sqlite3.Connection) -> None:
        """RESTART on the writer's connection, between batches (no frame can be added meanwhile)."""
        record = CheckpointRecord("RESTART", time.time(), 0.0, 0, False)
        # Waiting for a background PASSIVE counts against the same bound as waiting for
        # readers: the writer never stalls much longer than wait_ms.
        if self._one_at_a_time.acquire(timeout=self.policy.wait_ms / 1000):
            conn.execute(f"PRAGMA busy_timeout = {self.policy.wait_ms}")
            try:
                record = checkpoint(conn, "RESTART")
            except sqlite3.Error:
                pass
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._one_at_a_time.release()
        self.last_restart = record
        self.restarts += 1
        if record.complete:
            self._failed_in_a_row = 0
            return
        # A long read (an export, a verify) outlasted the wait: try again later, backing
        # off while it lasts, so that it cannot make every batch pay the wait.
        self.restarts_incomplete += 1
        self._failed_in_a_row += 1
        backoff = self._interval_s * 2 ** min(self._failed_in_a_row - 1, MAX_BACKOFF_DOUBLINGS)
        self._retry_restart_at = time.monotonic() + backoff

    def truncate(self, conn: sqlite3.Connection) -> None:
        """At start, before anyone reads: fold a WAL left by a crash back and empty it."""
        try:
            self.last_restart = checkpoint(conn, "TRUNCATE")
        except sqlite3.Error:
            pass  # a read-only or full disk: serve reads anyway; writes will say why they fail

    # -- in the background ----------------------------------------------------------

    def _passive(self) -> None:
        try:
            if self._conn is None:
                self._conn = open_connection(self._path, self._synchronous, writer=True)
            with self._one_at_a_time:
                self.last_passive = checkpoint(self._conn, "PASSIVE")
        except sqlite3.Error:
            pass  # busy or disk trouble: the next round tries again; the WAL stays valid

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await asyncio.to_thread(self._passive)

    def status(self) -> dict[str, Any]:
        return {
            "walBytes": self.wal_bytes(),
            "walRestartBytes": self.policy.restart_bytes,
            "lastPassive": self.last_passive.as_dict() if self.last_passive else None,
            "lastRestart": self.last_restart.as_dict() if self.last_restart else None,
            "restarts": self.restarts,
            "restartsIncomplete": self.restarts_incomplete,
        }

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await asyncio.to_thread(self._passive)  # leave a short WAL behind
            self._conn.close()
            self._conn = None

