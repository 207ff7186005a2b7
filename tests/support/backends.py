"""One log on either backend, for tests that must hold on both: open it, look into its
tables, edit them behind the store's back, rebuild and verify it.

The `backend` fixture (tests/conftest.py, parametrized: sqlite, postgresql) gives one of
these; the PostgreSQL one skips, or fails under RUNSTREAM_REQUIRE_POSTGRES=1, without a server.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from eventstore.interface import EventStore, VerifyResult
from eventstore.postgres import PostgresEventStore
from eventstore.projector import Projector
from eventstore.sqlite import SQLiteEventStore, verify_file
from projections import all_projections
from projections.rebuild import RebuildReport, rebuild
from projections.rebuild_postgres import rebuild_postgres


class Backend:
    name: str

    def __init__(self) -> None:
        self.opened: list[EventStore] = []

    async def open(self, projectors: Sequence[Projector] | None = None,
                   **options: Any) -> EventStore:
        store = await self._open(all_projections() if projectors is None else projectors,
                                 **options)
        self.opened.append(store)
        return store

    async def _open(self, projectors: Sequence[Projector], **options: Any) -> EventStore:
        raise NotImplementedError

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows as dicts; `?` marks parameters on both backends."""
        raise NotImplementedError

    def execute(self, sql: str, *params: Any) -> int:
        """Change the tables behind the store's back; returns the rows changed."""
        raise NotImplementedError

    async def rebuild(self, replace: bool) -> RebuildReport:
        raise NotImplementedError

    async def verify(self) -> VerifyResult:
        """The chain checked with no store open (as `runstream verify` does)."""
        raise NotImplementedError

    async def close(self) -> None:
        for store in self.opened:
            await store.close()


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def _open(self, projectors: Sequence[Projector], **options: Any) -> EventStore:
        return await SQLiteEventStore.open(self.path, projectors=projectors, **options)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()

    def execute(self, sql: str, *params: Any) -> int:
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                return conn.execute(sql, params).rowcount
        finally:
            conn.close()

    async def rebuild(self, replace: bool) -> RebuildReport:
        return await asyncio.to_thread(rebuild, self.path, all_projections(), replace)

    async def verify(self) -> VerifyResult:
        return await asyncio.to_thread(verify_file, self.path)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    async def _open(self, projectors: Sequence[Projector], **options: Any) -> EventStore:
        return await PostgresEventStore.open(self.url, projectors=projectors, **options)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            return [dict(row) for row in conn.execute(sql.replace("?", "%s").encode(), params)]

    def execute(self, sql: str, *params: Any) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s").encode(), params).rowcount

    async def rebuild(self, replace: bool) -> RebuildReport:
        return await rebuild_postgres(self.url, all_projections(), replace)

    async def verify(self) -> VerifyResult:
        store = await PostgresEventStore.open(self.url)
        try:
            return await store.verify()
        finally:
            await store.close()
