"""Idempotency keys: a retried start request gets the run the first one started.

A key belongs to its caller (a user) and lives `KEY_TTL_S`. It is claimed in a table
beside the log *before* the run's RunCreated is appended, with the id the run will have:
the table's primary key decides which of many concurrent requests starts the run, also
across service nodes on one database; a claim whose run was never recorded (a crash
between the two writes) is started by the next retry under the same id, and the store's
`NO_STREAM` check makes that start happen at most once. RunCreated records the key, so
the log says which request a run answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from eventstore.interface import EventStore
from eventstore.tables import SECONDS_COLUMN, Tables, Transaction

KEY_TTL_S = 24 * 3600
MAX_KEY_CHARS = 255
HEADER = "Idempotency-Key"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        caller      TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        created_at  {seconds} NOT NULL,
        PRIMARY KEY (caller, key)
    )""",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_age ON idempotency_keys (created_at)",
)


class BadIdempotencyKey(ValueError):
    """A key that is empty, too long or not printable ASCII."""


class KeyReused(ValueError):
    """The key was used for a different request."""


def check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_CHARS or not all(" " <= ch <= "~" for ch in key):
        raise BadIdempotencyKey(
            f"{HEADER} holds 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return key


def fingerprint(request: dict[str, Any]) -> str:
    """The digest of what a start asked for (where, which workflow, which input).

    Only the digest is kept, so env values in the request never reach the table."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    run_id: str
    first: bool  # this request made the claim: it starts the run


class IdempotencyKeys:
    """Claims of (caller, key) for a run id, each kept `ttl_s`."""

    def __init__(self, store: EventStore, ttl_s: float = KEY_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.db = Tables(store)
        self.ttl_s = ttl_s
        self.clock = clock
        # Requests of one (caller, key) take turns here, so that on this node a retry
        # arriving while the first request is still starting waits for its run.
        self._turns: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    async def ensure_schema(self) -> None:
        seconds = SECONDS_COLUMN[self.db.dialect]
        await self.db.ensure_tables([s.format(seconds=seconds) for s in _SCHEMA])

    async def claim(self, caller: str, key: str, digest: str, run_id: str) -> Claim:
        """Claim `key` for `run_id`, or find who claimed it. Raises KeyReused when the key
        was claimed for a different request."""
        now = self.clock()

        async def write(tx: Transaction) -> tuple[str, str]:
            # Expired keys go first, this one included, so it can start a new run.
            await tx.execute("DELETE FROM idempotency_keys WHERE created_at <= ?",
                             (now - self.ttl_s,))
            # On PostgreSQL a concurrent claim of the same key on another node waits here
            # for that one's commit, then finds its row.
            await tx.execute(
                "INSERT INTO idempotency_keys (caller, key, fingerprint, run_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (caller, key, digest, run_id, now))
            row = (await tx.execute(
                "SELECT fingerprint, run_id FROM idempotency_keys WHERE caller = ? AND key = ?",
                (caller, key))).rows[0]
            return str(row[0]), str(row[1])

        claimed_digest, claimed_run = await self.db.write(write)
        if claimed_digest != digest:
            raise KeyReused(f"this {HEADER} was used for a different request")
        return Claim(claimed_run, claimed_run == run_id)

    async def start_once(self, caller: str, key: str, digest: str, run_id: str,
                         start: Callable[[str], Awaitable[object]]) -> str:
        """The run `key` names: claimed for `run_id` and started with `start(run_id)` by
        the first request, the claimed run for every later one (started if a crash left
        it unrecorded). Raises KeyReused."""
        name = (caller, key)
        turn = self._turns.setdefault(name, asyncio.Lock())
        self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            async with turn:
                claim = await self.claim(caller, key, digest, run_id)
                if claim.first or await self.store.stream_version(claim.run_id) == 0:
                    await start(claim.run_id)
                return claim.run_id
        finally:
            self._waiting[name] -= 1
            if not self._waiting[name]:  # the last of its turns: forget the lock
                del self._waiting[name], self._turns[name]
