"""Which runstream nodes serve this database: every serving node writes a heartbeat row
(its name, pid, when it started, when it was last seen, its runs executing and queued)
every `node_heartbeat_s`, and deletes it when it stops cleanly. `runstream nodes` lists
the nodes seen within three of their heartbeats; on SQLite that is the one node of the machine.

A node's name is its `node_name` setting or its host name, and is its row's key: two
nodes given one name share a row (the newest beat wins), so names must be unique.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from eventstore.tables import SECONDS_COLUMN, Tables, TableStore
from service.background import in_background

log = logging.getLogger(__name__)

# A node missing this many heartbeats in a row is no longer listed as live.
MISSED_BEATS = 3

_SCHEMA = """CREATE TABLE IF NOT EXISTS cluster_nodes (
    name        TEXT PRIMARY KEY,
    pid         INTEGER NOT NULL,
    started_at  {seconds} NOT NULL,
    seen_at     {seconds} NOT NULL,
    beat_s      {seconds} NOT NULL,
    runs_active INTEGER NOT NULL,
    runs_queued INTEGER NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class NodeRow:
    name: str
    pid: int
    started_at: float
    seen_at: float
    beat_s: float
    runs_active: int
    runs_queued: int


class NodeRegistry:
    def __init__(self, store: TableStore, name: str, beat_s: float = 0.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = Tables(store)
        self.name = name
        self.beat_s = beat_s
        self._clock = clock
        self._started = clock()

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables([_SCHEMA.format(seconds=SECONDS_COLUMN[self.db.dialect])])

    async def beat(self, runs_active: int, runs_queued: int) -> None:
        await self.db.execute(
            "INSERT INTO cluster_nodes (name, pid, started_at, seen_at, beat_s, runs_active,"
            " runs_queued) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " pid = excluded.pid, started_at = excluded.started_at,"
            " seen_at = excluded.seen_at, beat_s = excluded.beat_s,"
            " runs_active = excluded.runs_active, runs_queued = excluded.runs_queued",
            (self.name, os.getpid(), self._started, self._clock(), self.beat_s, runs_active,
             runs_queued))

    async def leave(self) -> None:
        """A clean stop: the node is gone at once rather than after its missed beats."""
        await self.db.execute("DELETE FROM cluster_nodes WHERE name = ? AND pid = ?",
                              (self.name, os.getpid()))

    async def live(self) -> list[NodeRow]:
        """The nodes seen within MISSED_BEATS of their own heartbeats, by name."""
        rows = await self.db.fetch_all(
            "SELECT name, pid, started_at, seen_at, beat_s, runs_active, runs_queued"
            " FROM cluster_nodes WHERE seen_at + ? * beat_s >= ? ORDER BY name",
            (MISSED_BEATS, self._clock()))
        return [NodeRow(str(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4]),
                        int(r[5]), int(r[6])) for r in rows]


@asynccontextmanager
async def heartbeating(registry: NodeRegistry,
                       runs: Callable[[], tuple[int, int]]) -> AsyncIterator[None]:
    """Beat now and every `registry.beat_s` seconds until the block ends, then leave."""
    await registry.ensure_schema()
    await registry.beat(*runs())

    async def loop() -> None:
        while True:
            await asyncio.sleep(registry.beat_s)
            try:
                await registry.beat(*runs())
            except Exception:  # the database may be away a while; the next beat retries
                log.warning("node_heartbeat_failed", exc_info=True)

    try:
        async with in_background(loop(), "node-heartbeat"):
            yield
    finally:
        try:
            await registry.leave()
        except Exception:  # stopping because the database is gone: the row ages out
            log.warning("node_leave_failed", exc_info=True)
