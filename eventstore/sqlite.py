"""The SQLite event store: one writer thread (group commit), aiosqlite readers beside it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

from eventstore.errors import ConcurrencyConflict, StoreUnavailable
from eventstore.hashchain import GENESIS_HASH, link_events
from eventstore.hub import DEFAULT_RING_BYTES, DEFAULT_RING_SIZE, EventHub
from eventstore.interface import ANY_VERSION, EventStore, VerifyResult
from eventstore.leases import Fence
from eventstore.projector import Projector
from eventstore.prune import PruneOutcome, PruneRecord, check_streams
from eventstore.records import NewEvent, RecordedEvent, encode_events, utc_now
from eventstore.rows import Dialect
from eventstore.sqlite_checkpoint import WalCheckpointer, WalPolicy
from eventstore.sqlite_prune import remove_data
from eventstore.sqlite_rows import create_schema, project
from eventstore.sqlite_writer import BUSY_TIMEOUT_MS, SQLiteWriter, WriteFn, open_connection
from eventstore.subscriptions import subscribe
from eventstore.tables import Result, T, Transaction, WriteUnit
from eventstore.verify import ChainCheck, OnProgress

READER_POOL_SIZE = 4
# The largest event data the log takes: big enough for a 1 MB HTTP response escaped
# into JSON, small enough that a few of them never strain memory or a client.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
VERIFY_PAGE = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT NOT NULL,
    data        BLOB NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_stream_position ON events (stream, position);
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

EVENT_COLUMNS = "position, stream, version, type, data, recorded_at, prev_hash, hash"


INSERT_EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def row_to_event(row: Sequence[Any]) -> RecordedEvent:
    """A row of EVENT_COLUMNS as an event (SQLite gives a BLOB back as bytes)."""
    return RecordedEvent(*row)


class _ChainState:
    """The writer's view of the log's end; reloaded from disk after a failed commit."""

    def __init__(self) -> None:
        self.position = 0
        self.hash = GENESIS_HASH
        self.versions: dict[str, int] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        self.position, self.hash = (row[0], row[1]) if row else (0, GENESIS_HASH)
        self.versions.clear()

    def version_of(self, conn: sqlite3.Connection, stream: str) -> int:
        version = self.versions.get(stream)
        if version is None:
            row = conn.execute(
                "SELECT MAX(version) FROM events WHERE stream = ?", (stream,)
            ).fetchone()
            version = row[0] or 0
            self.versions[stream] = version
        return version


class SQLiteEventStore(EventStore):
    """Open with `await SQLiteEventStore.open(path, projectors=[...])`."""

    dialect: Dialect = "sqlite"

    def __init__(
        self, path: Path, projectors: Sequence[Projector], synchronous: str, ring_size: int,
        ring_bytes: int, max_event_bytes: int, wal: WalPolicy,
    ) -> None:
        self.path = path
        self.projectors = list(projectors)
        self._writer = SQLiteWriter(path, synchronous)
        self._checkpointer = WalCheckpointer(path, synchronous, wal)
        self._state = _ChainState()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._reader_conns: list[aiosqlite.Connection] = []
        self._ring_size = ring_size
        self._ring_bytes = ring_bytes
        self.max_event_bytes = max_event_bytes
        self.hub = EventHub(0, ring_size, ring_bytes)
        self._closed = False
        self._checkpointed = -1
        # Events the batch's jobs have appended, not yet inserted (one executemany for the
        # batch, by `_write_events`) and not yet folded into the projections.
        self._unwritten: list[tuple[Any, ...]] = []
        self._unprojected: list[RecordedEvent] = []
        # The events of the batch's transaction, inserted and projected: published together
        # once it commits.
        self._batch_events: list[RecordedEvent] = []
        # The streams the batch's prunes emptied: their data leaves the hub's ring before
        # the batch is published, so no woken subscriber reads it from memory.
        self._batch_pruned: set[str] = set()

    @classmethod
    async def open(
        cls,
        path: Path | str,
        projectors: Sequence[Projector] = (),
        synchronous: str = "FULL",
        ring_size: int = DEFAULT_RING_SIZE,
        ring_bytes: int = DEFAULT_RING_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        wal: WalPolicy | None = None,
    ) -> SQLiteEventStore:
        store = cls(Path(path), projectors, synchronous, ring_size, ring_bytes,
                    max_event_bytes, wal or WalPolicy())
        await store._start()
        return store

    async def _start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._writer.start()
        self._writer.after_rollback = self._forget_uncommitted
        # A conflict is raised before the job writes anything.
        self._writer.clean_errors = (ConcurrencyConflict,)
        self._writer.finish_jobs = self._finish_jobs
        self._writer.batch_begun = self._begin_batch
        self._writer.batch_committed = self._publish
        self._writer.before_commit = self._advance_checkpoints
        self._writer.maintenance_due = self._checkpointer.restart_due
        self._writer.maintenance = self._checkpointer.restart
        await self._writer.run_in_thread(self._prepare)
        self._checkpointer.start()
        self.hub = EventHub(self._state.position, self._ring_size, self._ring_bytes)
        for _ in range(READER_POOL_SIZE):
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            await conn.execute("PRAGMA query_only = 1")
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._reader_conns.append(conn)
            self._readers.put_nowait(conn)

    def _prepare(self) -> None:
        """Create tables, then bring any projection that is behind up to the log's head."""
        conn = self._writer.connection
        # Opening recovered whatever WAL a crash left (as fast as SQLite reads it); copy it
        # back and empty it now, before any reader can hold it, so a large one never lingers.
        self._checkpointer.truncate(conn)
        self._checkpointer.configure_writer(conn)
        conn.executescript(SCHEMA)
        for projector in self.projectors:
            create_schema(conn, projector)
            conn.execute(
                "INSERT OR IGNORE INTO projection_checkpoints (name, position) VALUES (?, 0)",
                (projector.name,),
            )
        self._state.load(conn)
        for projector in self.projectors:
            (checkpoint,) = conn.execute(
                "SELECT position FROM projection_checkpoints WHERE name = ?", (projector.name,)
            ).fetchone()
            if checkpoint < self._state.position:
                replay_projection(conn, projector, after=checkpoint)

    # -- writing ---------------------------------------------------------------

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY_VERSION,
        fence: Fence | None = None,
    ) -> list[RecordedEvent]:
        # `fence` holds trivially: one process has the data directory, so every run is its.
        if not events:
            return []
        encoded = encode_events(events, self.max_event_bytes)
        # A partial, not a closure: made for every append, it costs a third as much.
        job = partial(self._append_now, stream, encoded, expected_version)
        recorded: list[RecordedEvent] = await self._writer.enqueue(job)
        return recorded

    def _append_now(
        self, stream: str, encoded: list[tuple[str, bytes]], expected_version: int,
        conn: sqlite3.Connection,
    ) -> list[RecordedEvent]:
        """The append as a job of the writer's batch: placed after the log's end and queued
        for the batch's one insert (`_write_events`) and fold (`_finish_jobs`)."""
        state = self._state
        current = state.version_of(conn, stream)
        if expected_version != ANY_VERSION and expected_version != current:
            raise ConcurrencyConflict(stream, expected_version, current)
        recorded = link_events(stream, current, state.position, state.hash, encoded, utc_now())
        self._unwritten.extend([
            (e.position, e.stream, e.version, e.type, e.data, e.recorded_at, e.prev_hash, e.hash)
            for e in recorded])
        self._unprojected.extend(recorded)
        last = recorded[-1]
        state.position, state.hash = last.position, last.hash
        state.versions[stream] = last.version
        return recorded

    def _write_events(self, conn: sqlite3.Connection) -> None:
        """Insert the events appended since the last call. Before any job that may read the
        log, so that it sees the events of the jobs before it in the batch."""
        rows = self._unwritten
        if rows:
            conn.executemany(INSERT_EVENTS, rows)
            rows.clear()

    def _finish_jobs(self, conn: sqlite3.Connection) -> None:
        """Insert what the jobs appended and fold it into the projections, once for the
        whole batch (or after each job, when a failure makes the writer run them one by one)."""
        self._write_events(conn)
        events = self._unprojected
        if events:
            project(conn, self.projectors, events)
            self._batch_events += events
            events.clear()

    def _begin_batch(self) -> None:
        self._batch_events.clear()
        self._batch_pruned.clear()

    def _publish(self) -> None:
        """On the event loop, once a batch committed: its events go to the live subscribers
        (one publish for the whole batch, before any of its callers hears back)."""
        if self._batch_pruned:
            self.hub.forget_data(self._batch_pruned)
            self._batch_pruned.clear()
        events = self._batch_events
        if events:
            self.hub.publish(events)
            events.clear()

    def _forget_uncommitted(self) -> None:
        """After a rollback the writer's caches must match the disk again."""
        self._state.load(self._writer.connection)
        self._unwritten.clear()
        self._unprojected.clear()
        self._batch_pruned.clear()
        self._checkpointed = -1

    def _advance_checkpoints(self, conn: sqlite3.Connection) -> None:
        """Once per batch, in its transaction: the projections are now at the log's head.

        Only the projections applied here move on; one not loaded stays behind and
        catches up the next time it is opened.
        """
        if self.projectors and self._state.position != self._checkpointed:
            names = [projector.name for projector in self.projectors]
            conn.execute(
                "UPDATE projection_checkpoints SET position = ? WHERE name IN "
                f"({', '.join('?' * len(names))})",
                (self._state.position, *names),
            )
            self._checkpointed = self._state.position

    async def prune(
        self, streams: Sequence[str], record_stream: str, record: PruneRecord
    ) -> PruneOutcome:
        wanted = check_streams(streams)
        max_event_bytes = self.max_event_bytes

        def job(conn: sqlite3.Connection) -> PruneOutcome:
            self._write_events(conn)
            pruned, events, removed = remove_data(conn, wanted)
            if not pruned:
                return PruneOutcome()
            encoded = encode_events([record(pruned, events)], max_event_bytes)
            (recorded,) = self._append_now(record_stream, encoded, ANY_VERSION, conn)
            self._batch_pruned.update(pruned)
            return PruneOutcome(pruned, events, removed, recorded)

        # The record is published with the batch's other events (`_publish`), once the
        # pruned data has left the ring.
        result: PruneOutcome = await self._writer.submit(job)
        return result

    async def release_free_space(self) -> int:
        """PRAGMA incremental_vacuum on the writer, between batches (a database made
        before auto_vacuum = INCREMENTAL releases nothing: `runstream vacuum` converts it)."""

        def vacuum() -> int:
            conn = self._writer.connection
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            (page,) = conn.execute("PRAGMA page_size").fetchone()
            # executescript steps the pragma to its end (each step frees one page; a plain
            # execute stops after the first). Between batches, so it commits nothing else.
            conn.executescript("PRAGMA incremental_vacuum")
            (left,) = conn.execute("PRAGMA freelist_count").fetchone()
            return int((free - left) * page)

        released: int = await self._writer.run_in_thread(vacuum)
        return released

    async def ensure_schema(self, fn: WriteFn) -> Any:
        """Run DDL (`fn(conn)`, which may use executescript) on the writer, between batches.

        Not a job: `executescript` commits on its own, so it must never run inside a batch.
        """
        return await self._writer.run_in_thread(lambda: fn(self._writer.connection))

    async def write(self, unit: WriteUnit[T]) -> T:
        """Run a write unit as one job of the writer's group commit (eventstore/tables.py)."""

        def job(conn: sqlite3.Connection) -> T:
            self._write_events(conn)
            return run_without_waiting(unit(SQLiteTransaction(conn)))

        result: T = await self._writer.submit(job)
        return result

    async def ensure_tables(self, statements: Sequence[str]) -> None:
        def create(conn: sqlite3.Connection) -> None:
            # Statement by statement: executescript would COMMIT on its own.
            for statement in statements:
                conn.execute(statement)

        await self.ensure_schema(create)

    # -- reading ---------------------------------------------------------------

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a read connection (WAL: it reads beside the writer, never blocks it)."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self.reader() as conn:
            rows = await conn.execute_fetchall(sql, params)
        return list(rows)

    async def read(
        self, stream: str | None = None, after: int = 0, limit: int = 1000,
        max_bytes: int | None = None,
    ) -> list[RecordedEvent]:
        if max_bytes is not None:
            limit = await self._count_within(stream, after, limit, max_bytes)
        if stream is None:
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
            params: tuple[Any, ...] = (after, limit)
        else:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND position > ? "
                "ORDER BY position LIMIT ?"
            )
            params = (stream, after, limit)
        return [row_to_event(row) for row in await self.fetch_all(sql, params)]

    async def _count_within(
        self, stream: str | None, after: int, limit: int, max_bytes: int
    ) -> int:
        """How many of the next `limit` events fit in `max_bytes` of data (at least one).

        Reads only the sizes (SQLite knows a blob's length without reading it), so a page
        of large events is cut before any of it is loaded.
        """
        where = "position > ?" if stream is None else "stream = ? AND position > ?"
        params: tuple[Any, ...] = (after, limit) if stream is None else (stream, after, limit)
        sizes = await self.fetch_all(
            f"SELECT length(data) FROM events WHERE {where} ORDER BY position LIMIT ?", params)
        total = 0
        for count, (size,) in enumerate(sizes):
            total += size
            if total > max_bytes:
                return max(count, 1)
        return limit

    def subscribe(
        self, stream: str | None = None, after: int = 0, max_lag: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        return subscribe(self.hub, self.read, lambda: self._closed, stream, after, max_lag)

    async def head(self) -> int:
        return self.hub.head

    def observe_commits(self, observer: Callable[[int, float], None]) -> None:
        """Call `observer(jobs, seconds)` after each group commit (metrics)."""
        self._writer.on_batch = observer

    def status(self) -> dict[str, Any]:
        """What /healthz shows of the store: the WAL, its checkpoints, the live ring."""
        return {"backend": "sqlite", **self._checkpointer.status(), **self.hub.status()}

    async def stream_version(self, stream: str) -> int:
        rows = await self.fetch_all("SELECT MAX(version) FROM events WHERE stream = ?", (stream,))
        return int(rows[0][0] or 0)

    async def verify(self) -> VerifyResult:
        return await asyncio.to_thread(verify_file, self.path)

    async def close(self) -> None:
        if self._closed:
            return
        await self._writer.close()
        await self._checkpointer.stop()
        self._closed = True
        self.hub.wake_all()
        for conn in self._reader_conns:
            await conn.close()


class SQLiteTransaction(Transaction):
    """A write unit's view of the writer's connection, inside the batch's transaction."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self._conn.execute(sql, params)
        return Result(cursor.fetchall(), cursor.rowcount)


def run_without_waiting(unit: Coroutine[Any, Any, T]) -> T:
    """Run a write unit to its end on the writer's thread.

    A unit only awaits its statements, and on SQLite those finish without suspending,
    so one step runs the whole coroutine; one that waits on anything else is refused.
    """
    try:
        unit.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    unit.close()
    raise RuntimeError("a write unit may await only its own statements")


def replay_projection(conn: sqlite3.Connection, projector: Projector, after: int = 0) -> int:
    """Fold every event after `after` into `projector` on `conn`; returns the new checkpoint."""
    position = after
    while True:
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (position, VERIFY_PAGE),
        ).fetchall()
        if not rows:
            break
        project(conn, [projector], [row_to_event(row) for row in rows])
        position = rows[-1][0]
    conn.execute(
        "INSERT INTO projection_checkpoints (name, position) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        (projector.name, position),
    )
    return position


def verify_connection(
    conn: sqlite3.Connection, on_progress: OnProgress | None = None
) -> VerifyResult:
    """Walk the chain in position order; the first link that does not hold is reported."""
    chain = ChainCheck()
    (total,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
    while True:
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position >= ? ORDER BY position LIMIT ?",
            (chain.expected_position, VERIFY_PAGE),
        ).fetchall()
        if not rows:
            break
        for row in rows:
            failure = chain.check(row_to_event(row))
            if failure is not None:
                return failure
        if on_progress is not None:
            on_progress(chain.expected_position - 1, total)
    # The projection checkpoints are written in the same transactions as the events.
    return chain.finish(_checkpoint_head(conn))


def _checkpoint_head(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(position) FROM projection_checkpoints").fetchone()
    except sqlite3.OperationalError:  # a log without projections
        return 0
    return int(row[0] or 0)


def verify_file(path: Path, on_progress: OnProgress | None = None) -> VerifyResult:
    conn = open_connection(path, "FULL", writer=False)
    try:
        return verify_connection(conn, on_progress)
    finally:
        conn.close()


def open_store_sync(path: Path) -> sqlite3.Connection:
    """A plain write connection for offline maintenance (CLI rebuild)."""
    return open_connection(path, "FULL", writer=True)


Maintenance = Callable[[sqlite3.Connection], Any]


def header_lookup(conn: sqlite3.Connection) -> Callable[[Sequence[int]], dict[int, tuple[Any, ...]]]:
    """The live chain headers at some positions (verify --archive)."""

    def lookup(positions: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        found: dict[int, tuple[Any, ...]] = {}
        wanted = list(positions)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            for row in conn.execute(
                    "SELECT position, stream, version, type, recorded_at, prev_hash, hash"
                    f" FROM events WHERE position IN ({', '.join('?' * len(chunk))})", chunk):
                found[row[0]] = tuple(row[1:])
        return found

    return lookup
