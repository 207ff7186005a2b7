"""The SQLite event store: the shared contract, plus what only SQLite can show."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventstore.interface import EventStore
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from eventstore.tables import Transaction
from projections import all_projections
from tests.eventstore.contract import EventStoreContract, StoreOpener
from tests.eventstore.exploding import Exploding
from tests.support.eventstore import read_all, tick


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runstream.db"


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    async def open_store(self, db_path: Path) -> AsyncIterator[StoreOpener]:
        opened: list[EventStore] = []

        async def opener(*, ring_size: int | None = None) -> EventStore:
            options = {} if ring_size is None else {"ring_size": ring_size}
            store = await SQLiteEventStore.open(
                db_path, projectors=all_projections(), synchronous="FULL", **options)
            opened.append(store)
            return store

        yield opener
        for store in opened:
            await store.close()


def table_positions(path: Path, sql: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(sql)]
    finally:
        conn.close()


async def test_a_failing_append_writes_nothing_and_leaves_no_hole(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path, projectors=[Exploding()])
    try:
        await store.append("run-a", [tick(1)])
        others = [asyncio.ensure_future(store.append(f"run-{i}", [tick(i)])) for i in range(5)]
        with pytest.raises(RuntimeError, match="projection failed"):
            await store.append("run-a", [tick(2), tick(3), NewEvent("Boom")])
        await asyncio.gather(*others)
        assert await store.stream_version("run-a") == 1
        after = await store.append("run-a", [tick(4)], 1)
        assert after[0].version == 2
        log = await read_all(store)
        assert [e.position for e in log] == list(range(1, 8))
        assert [e.payload["n"] for e in log if e.stream == "run-a"] == [1, 4]
        assert (await store.verify()).ok
    finally:
        await store.close()
    # The projection holds exactly the committed events, checkpointed at the head.
    assert table_positions(db_path, "SELECT position FROM exploding_seen") == list(range(1, 8))
    assert table_positions(
        db_path, "SELECT position FROM projection_checkpoints WHERE name = 'exploding'") == [7]


async def test_projection_added_to_an_existing_log_catches_up_on_open(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path)
    await store.append("run-a", [tick(1), tick(2)])
    await store.close()

    store = await SQLiteEventStore.open(db_path, projectors=[Exploding()])
    await store.append("run-a", [tick(3)])
    await store.close()
    assert table_positions(db_path, "SELECT position FROM exploding_seen") == [1, 2, 3]


async def test_a_projection_not_loaded_is_not_marked_up_to_date(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path, projectors=[*all_projections(), Exploding()])
    await store.append("run-a", [tick(1)])
    await store.close()
    # Opened without `exploding` (an older binary, a tool): its checkpoint must stay put...
    store = await SQLiteEventStore.open(db_path, projectors=all_projections())
    await store.append("run-a", [tick(2)])
    await store.close()
    # ...so that opening with it again replays what it missed.
    store = await SQLiteEventStore.open(db_path, projectors=[*all_projections(), Exploding()])
    await store.close()
    assert table_positions(db_path, "SELECT position FROM exploding_seen") == [1, 2]


async def test_readers_see_committed_events_while_the_writer_is_busy(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path, synchronous="FULL")
    try:
        writes = [asyncio.ensure_future(store.append(f"run-{i % 7}", [tick(i)])) for i in range(300)]
        seen_heads = []
        while not all(w.done() for w in writes):
            page = await store.read(None, 0, 10_000)
            # A reader never sees a hole: positions are committed in order.
            assert [e.position for e in page] == list(range(1, len(page) + 1))
            seen_heads.append(len(page))
            await asyncio.sleep(0)
        await asyncio.gather(*writes)
        assert seen_heads == sorted(seen_heads)
    finally:
        await store.close()


async def test_wal_mode_and_full_synchronous_are_in_force(db_path: Path) -> None:
    store = await SQLiteEventStore.open(db_path)
    try:
        await store.append("run-a", [tick(1)])
        conn = sqlite3.connect(db_path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
        async def writer_synchronous(tx: Transaction) -> Any:
            return (await tx.execute("PRAGMA synchronous")).rows[0][0]

        assert await store.write(writer_synchronous) == 2  # FULL
    finally:
        await store.close()
