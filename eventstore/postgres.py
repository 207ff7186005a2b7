"""The PostgreSQL event store: several service nodes on one database.

The same guarantees as the SQLite store, from the database instead of one process:
appends take turns on one locked head row (postgres_writer.py), each node carrying
many callers' appends in one transaction; every node follows the log through LISTEN
and a head poll (postgres_feed.py) into its own hub, which live subscribers read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from eventstore.errors import NoLogHere, StoreUnavailable
from eventstore.hub import DEFAULT_RING_BYTES, DEFAULT_RING_SIZE, EventHub
from eventstore.interface import ANY_VERSION, EventStore, VerifyResult
from eventstore.leases import Fence, LeaseBook
from eventstore.postgres_feed import PostgresFeed
from eventstore.postgres_leases import PostgresLeaseBook
from eventstore.postgres_rows import Connection, create_schema, project
from eventstore.postgres_schema import (
    EVENT_COLUMNS,
    NOTIFY_CHANNEL,
    SCHEMA,
    SCHEMA_LOCK,
    connection_info,
)
from eventstore.postgres_writer import UNAVAILABLE, PostgresWriter
from eventstore.projector import Projector
from eventstore.prune import PruneOutcome, PruneRecord, check_streams
from eventstore.records import NewEvent, RecordedEvent, encode_events
from eventstore.rows import Dialect
from eventstore.subscriptions import subscribe
from eventstore.tables import Result, T, Transaction, WriteUnit, native
from eventstore.verify import ChainCheck, OnProgress

POOL_MIN = 2
POOL_MAX = 8
POOL_TIMEOUT_S = 10.0
# The same limit as SQLite's (sqlite.DEFAULT_MAX_EVENT_BYTES), for the same reasons.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
PAGE = 5000


def row_to_event(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(
        position=int(row[0]), stream=row[1], version=int(row[2]), type=row[3],
        data=bytes(row[4]), recorded_at=row[5], prev_hash=row[6], hash=row[7])


class PostgresEventStore(EventStore):
    """Open with `await PostgresEventStore.open("postgresql://...", projectors=[...])`."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, projectors: Sequence[Projector], ring_size: int,
                 ring_bytes: int, max_event_bytes: int, channel: str) -> None:
        self.conninfo = connection_info(url)
        self.projectors = list(projectors)
        self.max_event_bytes = max_event_bytes
        self.hub = EventHub(0, ring_size, ring_bytes)
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.conninfo, min_size=POOL_MIN, max_size=POOL_MAX, timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True}, open=False, name="runstream")
        self._channel = channel
        self._feed = PostgresFeed(self.conninfo, channel, self.hub, self._read_all_page,
                                  self._read_head)
        self._writer = PostgresWriter(self._pool, self.projectors, channel, self._feed.committed)
        self._writer.on_pruned = lambda streams: self.hub.forget_data(set(streams))
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, projectors: Sequence[Projector] = (), ring_size: int = DEFAULT_RING_SIZE,
        ring_bytes: int = DEFAULT_RING_BYTES, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        channel: str = NOTIFY_CHANNEL,
    ) -> PostgresEventStore:
        store = cls(url, projectors, ring_size, ring_bytes, max_event_bytes, channel)
        try:
            await store._start()
        except BaseException:
            await store._pool.close()
            raise
        return store

    async def _start(self) -> None:
        try:
            # One plain connection first: an unreachable server is reported at once, with
            # its own words, rather than after the pool has retried for POOL_TIMEOUT_S.
            probe = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            await probe.close()
            await self._pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL: {str(exc).strip()}") from exc
        async with self._pool.connection() as conn:
            head = await self._prepare(conn)
        self.hub.head = head
        self._writer.start()
        self._feed.start()

    async def _prepare(self, conn: Connection) -> int:
        """Create tables, then bring any projection that is behind up to the log's head."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA.encode())
            for projector in self.projectors:
                await create_schema(conn, projector)
                await conn.execute(
                    "INSERT INTO projection_checkpoints (name, position) VALUES (%s, 0)"
                    " ON CONFLICT (name) DO NOTHING", (projector.name,))
        async with conn.transaction():
            # Appends wait while a projection catches up, so it ends at the head exactly.
            cursor = await conn.execute("SELECT position FROM event_head FOR UPDATE")
            (head,) = await cursor.fetchone() or (0,)
            for projector in self.projectors:
                cursor = await conn.execute(
                    "SELECT position FROM projection_checkpoints WHERE name = %s",
                    (projector.name,))
                (checkpoint,) = await cursor.fetchone() or (0,)
                if checkpoint < head:
                    await replay_projection(conn, projector, after=int(checkpoint))
        return int(head)

    # -- writing ---------------------------------------------------------------

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int = ANY_VERSION,
        fence: Fence | None = None,
    ) -> list[RecordedEvent]:
        if not events:
            return []
        encoded = encode_events(events, self.max_event_bytes)
        return await self._writer.submit(stream, encoded, expected_version, fence)

    async def prune(
        self, streams: Sequence[str], record_stream: str, record: PruneRecord
    ) -> PruneOutcome:
        return await self._writer.prune(check_streams(streams), record_stream, record,
                                        self.max_event_bytes)

    def leases(self, owner: str, ttl_s: float) -> LeaseBook:
        return PostgresLeaseBook(self._pool, self.conninfo, owner, ttl_s)

    async def write(self, unit: WriteUnit[T]) -> T:
        """Run a write unit in a transaction of its own on a pooled connection
        (eventstore/tables.py); appends are not in it."""
        async with self.connection() as conn, conn.transaction():
            return await unit(PostgresTransaction(conn))

    async def ensure_tables(self, statements: Sequence[str]) -> None:
        async with self.connection() as conn, conn.transaction():
            # Nodes starting together would otherwise race to create the same table.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in statements:
                await conn.execute(statement.encode())

    # -- reading ---------------------------------------------------------------

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Borrow a pooled connection (autocommit) for reads."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return list(await cursor.fetchall())

    async def read(
        self, stream: str | None = None, after: int = 0, limit: int = 1000,
        max_bytes: int | None = None,
    ) -> list[RecordedEvent]:
        where = "position > %s" if stream is None else "stream = %s AND position > %s"
        params: tuple[Any, ...] = (after,) if stream is None else (stream, after)
        if max_bytes is not None:
            limit = await self._count_within(where, params, limit, max_bytes)
        rows = await self.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY position LIMIT %s",
            (*params, limit))
        return [row_to_event(row) for row in rows]

    async def _count_within(
        self, where: str, params: tuple[Any, ...], limit: int, max_bytes: int
    ) -> int:
        """How many of the next `limit` events fit in `max_bytes` of data (at least one);
        PostgreSQL knows a value's length without fetching it."""
        sizes = await self.fetch_all(
            f"SELECT octet_length(data) FROM events WHERE {where} ORDER BY position LIMIT %s",
            (*params, limit))
        total = 0
        for count, (size,) in enumerate(sizes):
            total += size
            if total > max_bytes:
                return max(count, 1)
        return limit

    async def _read_all_page(self, after: int, limit: int, max_bytes: int) -> list[RecordedEvent]:
        return await self.read(None, after, limit, max_bytes)

    async def _read_head(self) -> int:
        rows = await self.fetch_all("SELECT position FROM event_head")
        return int(rows[0][0])

    def subscribe(
        self, stream: str | None = None, after: int = 0, max_lag: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        return self._subscribe(stream, after, max_lag)

    async def _subscribe(
        self, stream: str | None, after: int, max_lag: int | None
    ) -> AsyncIterator[RecordedEvent]:
        if after > self.hub.head and not self._closed:
            # A cursor from another node may be ahead of what this one has heard of yet.
            await self._feed.catch_up()
        async for event in subscribe(
                self.hub, self.read, lambda: self._closed, stream, after, max_lag):
            yield event

    async def head(self) -> int:
        return max(self.hub.head, await self._read_head())

    def observe_commits(self, observer: Callable[[int, float], None]) -> None:
        """Call `observer(appends, seconds)` after each group commit (metrics)."""
        self._writer.on_batch = observer

    def status(self) -> dict[str, Any]:
        pool = self._pool.get_stats()
        return {"backend": "postgresql", "listening": self._feed.listening,
                "groupCommits": self._writer.batches,
                "poolSize": pool.get("pool_size", 0), "poolAvailable": pool.get("pool_available", 0),
                **self.hub.status()}

    async def stream_version(self, stream: str) -> int:
        rows = await self.fetch_all("SELECT max(version) FROM events WHERE stream = %s", (stream,))
        return int(rows[0][0] or 0)

    async def verify(self) -> VerifyResult:
        async with self.connection() as conn:
            return await verify_connection(conn)

    async def close(self) -> None:
        if self._closed:
            return
        await self._writer.close()
        await self._feed.stop()
        self._closed = True
        self.hub.wake_all()
        await self._pool.close()


class PostgresTransaction(Transaction):
    """A write unit's view of its connection, inside the unit's own transaction."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = await self._conn.execute(native(sql, self.dialect).encode(), params)
        rows = await cursor.fetchall() if cursor.description is not None else []
        return Result(list(rows), cursor.rowcount)


async def replay_projection(conn: Connection, projector: Projector, after: int = 0) -> int:
    """Fold every event after `after` into `projector` on `conn`; returns the new checkpoint."""
    position = after
    while True:
        cursor = await conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (position, PAGE))
        rows = await cursor.fetchall()
        if not rows:
            break
        await project(conn, [projector], [row_to_event(row) for row in rows])
        position = int(rows[-1][0])
    await conn.execute(
        "INSERT INTO projection_checkpoints (name, position) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        (projector.name, position))
    return position


async def verify_url(url: str, on_progress: OnProgress | None = None) -> VerifyResult:
    """`runstream verify` on PostgreSQL: one connection of its own, no pool, no writer."""
    async with await offline_connection(url, "runstream verify") as conn:
        await require_log(conn)
        return await verify_connection(conn, on_progress)


async def offline_connection(url: str, application_name: str) -> Connection:
    """A connection of an offline command's own; StoreUnavailable, in the server's words,
    if there is none to be had."""
    try:
        return await psycopg.AsyncConnection.connect(
            connection_info(url, application_name), autocommit=True)
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {str(exc).strip()}") from exc


async def require_log(conn: Connection) -> None:
    """NoLogHere unless the connection's schema holds the log's tables (an offline command
    pointed at the wrong database would otherwise fail on a missing table, or create one)."""
    cursor = await conn.execute(
        "SELECT current_database(), current_schema(), to_regclass('events') IS NOT NULL"
        " AND to_regclass('event_head') IS NOT NULL")
    database, schema, present = await cursor.fetchone() or ("?", "?", False)
    if not present:
        raise NoLogHere(
            f"PostgreSQL database {database!r} (schema {schema!r}) holds no runstream log: "
            "check database_url (RUNSTREAM_DATABASE_URL); `runstream serve` or "
            "`runstream migrate --to` creates the log there")


async def verify_connection(
    conn: Connection, on_progress: OnProgress | None = None
) -> VerifyResult:
    """Walk the chain in position order in one snapshot, against the head it recorded."""
    chain = ChainCheck()
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor = await conn.execute(
            "SELECT GREATEST((SELECT position FROM event_head),"
            " (SELECT max(position) FROM projection_checkpoints))")
        (recorded_head,) = await cursor.fetchone() or (0,)
        while True:
            cursor = await conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position >= %s"
                " ORDER BY position LIMIT %s", (chain.expected_position, PAGE))
            rows = await cursor.fetchall()
            if not rows:
                break
            for row in rows:
                failure = chain.check(row_to_event(row))
                if failure is not None:
                    return failure
            if on_progress is not None:
                on_progress(chain.expected_position - 1, int(recorded_head or 0))
    return chain.finish(int(recorded_head or 0))

