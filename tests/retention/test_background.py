"""`runstream serve` applies retention by itself every `retention_interval_s` (on
PostgreSQL: tests/retention/test_prune_postgres.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from service import keys
from service.app import create_app
from service.retention.policy import RetentionPolicy
from tests.retention.runs import add_runs
from tests.support.auth import make_settings
from tests.support.polling import wait_for


async def kept_runs(client: TestClient) -> set[str]:
    rows = await client.app[keys.STORE].fetch_all("SELECT id FROM runs")
    return {row[0] for row in rows}


async def test_a_served_app_prunes_the_oldest_finished_runs_by_itself(
        aiohttp_client: Any, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(
        make_settings(tmp_path, retention_interval_s=0.05)))
    store = client.app[keys.STORE]
    await client.app[keys.PRUNER].policies.put("default", RetentionPolicy(max_runs=3), "test")
    old = await add_runs(store, 5)
    new = await add_runs(store, 3)

    await wait_for(lambda: _only(client, set(new)), 10, "the oldest runs are still there")
    archives = list((tmp_path / "archive").iterdir())
    assert archives
    pruned = await store.fetch_all("SELECT run_id, kind FROM pruned_runs")
    assert sorted(pruned) == sorted((run_id, "retention") for run_id in old)
    # New runs keep coming: the next passes keep the workspace within its policy.
    newer = await add_runs(store, 2)
    await wait_for(lambda: _only(client, {*new[2:], *newer}), 10, "later runs not pruned")


async def _only(client: TestClient, wanted: set[str]) -> bool:
    return await kept_runs(client) == wanted
