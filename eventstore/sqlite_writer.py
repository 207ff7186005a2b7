"""The single SQLite writer: one thread, one connection, group commit.

Every write is a *job*: a function of the connection. Jobs queued while a batch
is being committed form the next batch, which runs in one transaction, so one
fsync covers many callers. A job that raises is undone alone and its caller gets
the exception; the rest of the batch commits (see `_run_batch`).
A caller's future resolves only after its batch's COMMIT returned.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventstore.errors import StoreUnavailable

MAX_BATCH_JOBS = 2000
# How long a connection waits for a lock before SQLITE_BUSY (the writer, readers, tools).
BUSY_TIMEOUT_MS = 10000
WRITER_CACHE_BYTES = 16 * 1024 * 1024

WriteFn = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Job:
    fn: WriteFn
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Outcome:
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException | None] = field(default_factory=list)
    commit_error: BaseException | None = None


def open_connection(path: Path, synchronous: str, *, writer: bool) -> sqlite3.Connection:
    """A connection with the pragmas the log relies on (WAL, durability, busy wait)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if writer:
        # Space freed by pruning can be given back (PRAGMA incremental_vacuum). It only
        # takes on a database with no tables yet; an older one is converted by VACUUM
        # (`runstream vacuum`).
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # Checkpoints run in the background (sqlite_checkpoint.py), not inside a COMMIT.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # The writer touches the newest pages of every table and index in each batch. The
        # cache also keeps pages of event data, so it is part of the memory large events
        # take: 16 MB appended as fast as 64 MB (`python -m bench append`, 2 x 2 runs).
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_BYTES // 1024}")
    else:
        conn.execute("PRAGMA query_only = 1")
    return conn


class SQLiteWriter:
    """Owns the write connection; `submit` queues a job and waits for its commit."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        # Jobs waiting for the next batch, and the future the idle writer waits on for the
        # first of them (a list and one future: an asyncio.Queue's bookkeeping cost more per
        # job than the rest of queueing it).
        self._queue: list[_Job] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Hook run in the writer thread after the jobs it follows: once after a batch's jobs,
        # or after each job when they run one by one. Its failure is theirs.
        self.finish_jobs: Callable[[sqlite3.Connection], None] | None = None
        # Hook run in the writer thread after a batch's jobs and before COMMIT.
        self.before_commit: Callable[[sqlite3.Connection], None] | None = None
        # Hook run in the writer thread after a batch failed to commit (undo caches).
        self.after_rollback: Callable[[], None] | None = None
        # Hook run in the writer thread once a batch's transaction has begun (or begun again,
        # job by job, after a failure).
        self.batch_begun: Callable[[], None] | None = None
        # Hook run on the event loop after a batch committed, before any of its callers is
        # answered: what a whole batch shares is done once (publishing its events).
        self.batch_committed: Callable[[], None] | None = None
        # Exceptions a job raises before writing anything: no rollback needed.
        self.clean_errors: tuple[type[Exception], ...] = ()
        # Maintenance between batches: `due()` is asked on the event loop after each batch
        # (cheap, no thread hop); when it says so, `run(conn)` runs on the writer thread
        # before the next batch begins, so no write can interleave with it.
        self.maintenance_due: Callable[[], bool] | None = None
        self.maintenance: Callable[[sqlite3.Connection], None] | None = None
        # Told on the event loop after each batch: its jobs and seconds to commit (metrics).
        self.on_batch: Callable[[int, float], None] | None = None
        self._thread_ident: int | None = None

    async def start(self) -> None:
        def _open() -> None:
            self._thread_ident = threading.get_ident()
            self._conn = open_connection(self._path, self._synchronous, writer=True)

        await self.run_in_thread(_open)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-writer")

    async def run_in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the writer thread outside the batching (setup, maintenance)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    @property
    def connection(self) -> sqlite3.Connection:
        assert self._conn is not None, "writer not started"
        return self._conn

    async def submit(self, fn: WriteFn) -> Any:
        return await self.enqueue(fn)

    def enqueue(self, fn: WriteFn) -> asyncio.Future[Any]:
        """Queue a job; the future resolves after its batch's commit. A caller awaiting it
        directly saves `submit`'s coroutine: one layer fewer to suspend and resume."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(fn, future))
        self._wake()
        return future

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake()  # the jobs queued before now still run; `submit` refuses new ones
        if self._task is not None:
            await self._task
        if self._conn is not None:
            await self.run_in_thread(self._conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closed:
                    break
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            if len(self._queue) <= MAX_BATCH_JOBS:
                batch, self._queue = self._queue, []
            else:
                batch = self._queue[:MAX_BATCH_JOBS]
                del self._queue[:MAX_BATCH_JOBS]
            fns = [job.fn for job in batch]
            started = loop.time()
            outcome = await loop.run_in_executor(self._executor, self._run_batch, fns)
            if self.on_batch is not None:
                self.on_batch(len(batch), loop.time() - started)
            if outcome.commit_error is None and self.batch_committed is not None:
                self.batch_committed()
            if outcome.commit_error is not None:
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(outcome.commit_error)
            else:
                for job, result, error in zip(
                        batch, outcome.results, outcome.errors, strict=True):
                    future = job.future
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(result)
                    else:
                        future.set_exception(error)
            if self._maintenance_due():
                await loop.run_in_executor(self._executor, self._maintain)

    def _maintenance_due(self) -> bool:
        if self.maintenance is None or self.maintenance_due is None:
            return False
        try:
            return self.maintenance_due()
        except Exception:  # maintenance must never stop the writer
            return False

    def _maintain(self) -> None:
        assert self.maintenance is not None
        try:
            self.maintenance(self.connection)
        except Exception:
            pass  # maintenance never fails a write; it is asked again after the next batch

    def _run_batch(self, fns: list[WriteFn]) -> _Outcome:
        """Fast path: every job in one transaction, no savepoints.

        A job may fail "cleanly" (one of `clean_errors`, raised before it wrote
        anything); that costs nothing. Any other failure rolls the batch back and
        replays it job by job, each in its own savepoint, so only the culprit fails.
        """
        conn = self.connection
        outcome = _Outcome()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            outcome.commit_error = StoreUnavailable(f"cannot begin a write: {exc}")
            return outcome
        if self.batch_begun is not None:
            self.batch_begun()
        try:
            for fn in fns:
                try:
                    outcome.results.append(fn(conn))
                    outcome.errors.append(None)
                except self.clean_errors as exc:
                    outcome.results.append(None)
                    outcome.errors.append(exc)
            if self.finish_jobs is not None:
                self.finish_jobs(conn)
            self._commit(conn)
            return outcome
        except sqlite3.Error as exc:
            return self._failed(conn, exc)
        except Exception:
            self._rollback(conn)
        return self._run_isolated(fns)

    def _run_isolated(self, fns: list[WriteFn]) -> _Outcome:
        conn = self.connection
        outcome = _Outcome()
        try:
            conn.execute("BEGIN IMMEDIATE")
            if self.batch_begun is not None:
                self.batch_begun()
            for fn in fns:
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(conn)
                    if self.finish_jobs is not None:
                        self.finish_jobs(conn)
                except Exception as exc:  # the job's own failure: undo it alone
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcome.results.append(None)
                    outcome.errors.append(exc)
                    # Its partial effects on the writer's caches must go too.
                    if self.after_rollback is not None:
                        self.after_rollback()
                    continue
                conn.execute("RELEASE job")
                outcome.results.append(result)
                outcome.errors.append(None)
            self._commit(conn)
        except sqlite3.Error as exc:
            return self._failed(conn, exc)
        return outcome

    def _commit(self, conn: sqlite3.Connection) -> None:
        if self.before_commit is not None:
            self.before_commit(conn)
        conn.execute("COMMIT")

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        if self.after_rollback is not None:
            self.after_rollback()

    def _failed(self, conn: sqlite3.Connection, exc: sqlite3.Error) -> _Outcome:
        """Disk full, read-only, I/O error: nothing of this batch is acknowledged."""
        self._rollback(conn)
        return _Outcome(commit_error=StoreUnavailable(f"write failed: {exc}"))
