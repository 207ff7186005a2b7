"""Run leases on PostgreSQL (eventstore/leases.py): rows of `run_leases`, expiries in the
database's clock (nodes' clocks may differ), claims with FOR UPDATE SKIP LOCKED so nodes
claiming at once take different runs, renewal on a thread with its own connection."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from eventstore.errors import StoreUnavailable
from eventstore.leases import Fence, LeaseBook, Renewed
from eventstore.postgres_writer import UNAVAILABLE

log = structlog.get_logger(__name__)

EXPIRY = "now() + make_interval(secs => %(ttl)s)"
CLAIM = f"""
WITH picked AS (
    SELECT key FROM run_leases
    WHERE (expires_at < now()
           OR (%(earlier)s::text IS NOT NULL AND owner <> %(me)s
               AND left(owner, length(%(earlier)s)) = %(earlier)s))
      AND EXISTS (SELECT 1 FROM events WHERE events.stream = run_leases.key)
    ORDER BY queued
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
UPDATE run_leases AS lease
SET owner = %(me)s, epoch = lease.epoch + 1, expires_at = {EXPIRY}
FROM picked WHERE lease.key = picked.key
RETURNING lease.key, lease.epoch, lease.queued
"""
RENEW = (f"UPDATE run_leases SET expires_at = {EXPIRY}"
         " WHERE owner = %(me)s AND key = ANY(%(keys)s) RETURNING key, epoch")
CLAIM_KEY = f"""
UPDATE run_leases SET owner = %(me)s, epoch = epoch + 1, expires_at = {EXPIRY}
WHERE key = %(key)s AND expires_at < now() RETURNING epoch
"""


class PostgresLeaseBook(LeaseBook):
    def __init__(self, pool: AsyncConnectionPool[Any], conninfo: str, owner: str,
                 ttl_s: float) -> None:
        self.owner = owner
        self.ttl_s = ttl_s
        self._pool = pool
        self._conninfo = conninfo
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def _execute(self, sql: str, params: dict[str, Any] | Sequence[Any]) -> list[Any]:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(sql.encode(), params)
                return await cursor.fetchall() if cursor.description else []
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"leases: {exc}") from exc

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"me": self.owner, "ttl": self.ttl_s, **extra}

    async def take(self, key: str, run_here: bool) -> Fence | None:
        # A key leased already is a start made twice (a trigger's claimed run id): the
        # lease stays whose it is, and the run goes to whoever holds or claims it.
        if run_here:
            rows = await self._execute(
                f"INSERT INTO run_leases (key, owner, epoch, expires_at)"
                f" VALUES (%(key)s, %(me)s, 1, {EXPIRY}) ON CONFLICT (key) DO NOTHING"
                " RETURNING epoch", self._params(key=key))
            return Fence(key, self.owner, 1) if rows else None
        await self._execute("INSERT INTO run_leases (key) VALUES (%s) ON CONFLICT (key) DO NOTHING",
                            (key,))
        return None

    async def queue(self, keys: Sequence[str]) -> int:
        rows = await self._execute(
            "INSERT INTO run_leases (key) SELECT unnest(%s::text[])"
            " ON CONFLICT (key) DO NOTHING RETURNING key", (list(keys),))
        return len(rows)

    async def claim(self, limit: int, own_earlier: str | None = None) -> list[Fence]:
        if limit <= 0:
            return []
        rows = await self._execute(CLAIM, self._params(limit=limit, earlier=own_earlier))
        return [Fence(str(key), self.owner, int(epoch))
                for key, epoch, _ in sorted(rows, key=lambda row: row[2])]

    async def claim_key(self, key: str) -> Fence | None:
        rows = await self._execute(CLAIM_KEY, self._params(key=key))
        return Fence(key, self.owner, int(rows[0][0])) if rows else None

    async def release(self, fence: Fence) -> None:
        await self._execute("DELETE FROM run_leases WHERE key = %s AND owner = %s AND epoch = %s",
                            (fence.key, fence.owner, fence.epoch))

    async def give_back(self, fence: Fence) -> None:
        await self._execute(
            "UPDATE run_leases SET owner = NULL, expires_at = '-infinity'"
            " WHERE key = %s AND owner = %s AND epoch = %s", (fence.key, fence.owner, fence.epoch))

    async def forget(self, key: str) -> None:
        await self._execute(
            "DELETE FROM run_leases WHERE key = %s"
            " AND NOT EXISTS (SELECT 1 FROM events WHERE stream = %s)", (key, key))

    async def hand_back(self) -> int:
        rows = await self._execute(
            "UPDATE run_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = %s"
            " RETURNING key", (self.owner,))
        return len(rows)

    async def send(self, key: str, message: bytes) -> int | None:
        rows = await self._execute(
            "INSERT INTO run_messages (owner, message) SELECT owner, %s FROM run_leases"
            " WHERE key = %s AND owner IS NOT NULL AND expires_at > now() RETURNING id",
            (message, key))
        return int(rows[0][0]) if rows else None

    async def inbox(self) -> list[tuple[int, bytes]]:
        # Messages nobody collected (their sender gave up or died) go after an hour.
        rows = await self._execute(
            "WITH gone AS (DELETE FROM run_messages WHERE sent_at < now() - interval '1 hour')"
            " SELECT id, message FROM run_messages WHERE owner = %s AND answer IS NULL"
            " ORDER BY id", (self.owner,))
        return [(int(message_id), bytes(message)) for message_id, message in rows]

    async def reply(self, message_id: int, answer: bytes) -> None:
        await self._execute("UPDATE run_messages SET answer = %s WHERE id = %s",
                            (answer, message_id))

    async def answer(self, message_id: int) -> bytes | None:
        rows = await self._execute(
            "DELETE FROM run_messages WHERE id = %s AND answer IS NOT NULL RETURNING answer",
            (message_id,))
        return bytes(rows[0][0]) if rows else None

    def start_renewing(self, keys: Callable[[], Sequence[str]], renewed: Renewed) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._renew_forever, args=(loop, keys, renewed),
                                        name="lease-renewal", daemon=True)
        self._thread.start()

    def _renew_forever(self, loop: asyncio.AbstractEventLoop,
                       keys: Callable[[], Sequence[str]], renewed: Renewed) -> None:
        conn: psycopg.Connection[Any] | None = None
        interval = self.ttl_s / 3
        while not self._stop.wait(interval):
            started = time.monotonic()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._conninfo, autocommit=True)
                rows = conn.execute(RENEW.encode(),
                                    self._params(keys=list(keys()))).fetchall()
            except psycopg.Error as exc:
                # The next tick tries again on a new connection; meanwhile the fences keep
                # every write safe, whatever becomes of the leases.
                log.warning("lease_renewal_failed", owner=self.owner, error=str(exc).strip())
                if conn is not None:
                    conn.close()
                conn = None
                continue
            held = {str(key): int(epoch) for key, epoch in rows}
            try:
                loop.call_soon_threadsafe(renewed, held, started)
            except RuntimeError:  # the loop is closed: the service is going away
                break
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 15)
            self._thread = None
