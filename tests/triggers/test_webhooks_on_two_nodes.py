"""Webhooks on PostgreSQL with two service nodes on one database: a webhook made on one
node takes deliveries on the other, and one delivery id sent 20 times at once, spread
over both nodes, starts exactly one run that every answer names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from tests.support.api import wait_for_status
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.postgres import database_of_its_own
from tests.triggers.webhook_helpers import (
    GITHUB,
    deliveries_of,
    github_signature,
    runs_of,
    webhook_for,
)

BODY = orjson.dumps({"action": "opened", "number": 12})
DELIVERY = "d7a1c0de-2f00-11ef-9a3b"


@pytest.fixture
def shared_database() -> Iterator[str]:
    with database_of_its_own("runstream_hooks") as url:
        yield url


async def _nodes(aiohttp_client: Any, url: str, data_dir: Path) -> list[TestClient]:
    """Two apps on one database, sharing one data directory's keys (as nodes must)."""
    settings = make_settings(data_dir, database_url=url, schedule_tick_s=0)
    return [await aiohttp_client(create_app(settings)) for _ in range(2)]


async def test_twenty_deliveries_of_one_id_over_two_nodes_start_one_run(
        shared_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    first, second = await _nodes(aiohttp_client, shared_database, tmp_path)
    await login(first, "admin", ADMIN_PASSWORD)
    await login(second, "admin", ADMIN_PASSWORD)
    webhook = await webhook_for(first, GITHUB)
    headers = {"Content-Type": "application/json", "X-GitHub-Delivery": DELIVERY,
               "X-Hub-Signature-256": github_signature(BODY)}

    async def deliver(node: TestClient) -> tuple[int, str]:
        resp = await node.post(webhook["url"], data=BODY, headers=headers)
        return resp.status, (await resp.json())["runId"]

    answers = await asyncio.gather(*(deliver((first, second)[i % 2]) for i in range(20)))
    assert {status for status, _ in answers} == {202}
    named = {run_id for _, run_id in answers}
    assert len(named) == 1
    (run_id,) = named
    await wait_for_status(second, run_id, "completed")
    for node in (first, second):
        assert [run["id"] for run in await runs_of(node, webhook["id"])] == [run_id]
    recorded = await deliveries_of(second, webhook)
    assert len(recorded) == 20
    assert {delivery["runId"] for delivery in recorded} == {run_id}
    assert sum(not delivery["repeat"] for delivery in recorded) == 1


async def test_a_forged_delivery_is_refused_on_either_node(
        shared_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    first, second = await _nodes(aiohttp_client, shared_database, tmp_path)
    await login(first, "admin", ADMIN_PASSWORD)
    webhook = await webhook_for(first, GITHUB)
    for node in (first, second):
        resp = await node.post(webhook["url"], data=BODY, headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": github_signature(BODY, "not-the-secret")})
        assert resp.status == 401, await resp.text()
    assert await runs_of(first, webhook["id"]) == []
    assert [d["signature"] for d in await deliveries_of(first, webhook)] == ["invalid"] * 2
