"""WAL checkpoints off the commit path.

By default SQLite checkpoints inside whichever COMMIT pushes the WAL past 1000
pages, so one group commit in a thousand stalls every caller in it. The writer
turns that off and this task checkpoints in the background on a connection of
its own (PASSIVE: it never waits for readers or blocks the writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from eventstore.sqlite_writer import open_connection

CHECKPOINT_INTERVAL_S = 0.5


class WalCheckpointer:
    def __init__(self, path: Path, synchronous: str, interval_s: float = CHECKPOINT_INTERVAL_S):
        self._path = path
        self._synchronous = synchronous
        self._interval_s = interval_s
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wal-checkpoint")

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = open_connection(self._path, self._synchronous, writer=True)
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # busy or disk trouble: the next round tries again; the WAL stays valid

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await asyncio.to_thread(self._checkpoint)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await asyncio.to_thread(self._checkpoint)  # leave a short WAL behind
            self._conn.close()
            self._conn = None
