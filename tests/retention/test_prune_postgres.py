"""Retention on PostgreSQL: the same prune as on SQLite (headers kept, data and projection
rows gone, the prune recorded in the log, an archive first), on a real database of the
test's own; the chain still verifies, what is gone is gone from memory too, and the
served app's background pass prunes there by itself."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from eventstore.postgres import PostgresEventStore
from projections import all_projections
from projections.vocabulary import RETENTION_STREAM, EventType
from service import keys
from service.app import create_app
from service.retention.pruner import Pruner
from tests.retention.runs import add_runs
from tests.support.auth import make_settings
from tests.support.polling import wait_for
from tests.support.postgres import database_of_its_own


@pytest.fixture
def pg_database() -> Any:
    with database_of_its_own("runstream_prune") as url:
        yield url


async def test_prune_on_postgresql_keeps_the_newest_runs_and_every_header(
        pg_database: str, tmp_path: Path) -> None:
    store = await PostgresEventStore.open(pg_database, projectors=all_projections())
    try:
        old = await add_runs(store, 6)
        new = await add_runs(store, 4)
        head = await store.head()
        settings = make_settings(tmp_path, database_url=pg_database, retention_max_runs=4)
        report = (await Pruner(store, settings).prune()).as_dict()
        assert report["runs"] == 6
        assert report["events"] == 6 * 5
        assert {row[0] for row in await store.fetch_all("SELECT id FROM runs")} == set(new)
        # Every header stays (and the record of the prune follows them); data is gone.
        assert await store.head() == head + 1
        events = await store.read(None, 0, 1000)
        assert [e.position for e in events] == list(range(1, head + 2))
        assert {e.stream for e in events if e.pruned} == set(old)
        (record,) = [e for e in events if e.stream == RETENTION_STREAM]
        assert record.type == EventType.EVENTS_PRUNED
        assert sorted(record.payload["runs"]) == sorted(old)
        result = await store.verify()
        assert result.ok
        assert result.checked == head + 1
        # The archive holds every pruned event whole, as export writes it.
        (name,) = report["archives"]  # type: ignore[misc]
        with gzip.open(tmp_path / "archive" / name) as archive:
            archived = [orjson.loads(line) for line in archive]
        assert {line["stream"] for line in archived} == set(old)
        assert all(line["data"] is not None for line in archived)
        # A subscriber from the start gets nothing pruned from memory either.
        seen = []
        async for event in store.subscribe(None, after=0):
            seen.append(event)
            if event.position >= head + 1:
                break
        assert {e.stream for e in seen if e.pruned} == set(old)
        # A second prune finds nothing more to remove.
        again = (await Pruner(store, settings).prune()).as_dict()
        assert again["runs"] == 0
    finally:
        await store.close()


async def test_the_served_app_prunes_on_postgresql_by_itself(
        pg_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(make_settings(
        tmp_path, database_url=pg_database, retention_interval_s=0.05, retention_max_runs=1)))
    store = client.app[keys.STORE]
    runs = await add_runs(store, 3)

    async def kept() -> bool:
        rows = await store.fetch_all("SELECT id FROM runs")
        return {row[0] for row in rows} == {runs[-1]}

    await wait_for(kept, 10, "the oldest runs were not pruned")
    assert list((tmp_path / "archive").iterdir())
    assert (await store.verify()).ok
