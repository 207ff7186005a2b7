"""The login throttle counts in the database: failures on one node lock the account on the
other, and parallel guesses spread over both nodes are limited as if there were one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from service.app import create_app
from tests.support.auth import ADMIN_PASSWORD, make_settings

PER_ACCOUNT = 3


async def two_nodes(aiohttp_client: Any, url: str, data_dir: Path) -> list[Any]:
    """Two apps on one database, sharing one data directory's keys."""
    settings = make_settings(data_dir, database_url=url, login_max_failures=PER_ACCOUNT,
                             login_max_failures_per_client=100, login_failure_window_s=300)
    return [await aiohttp_client(create_app(settings)) for _ in range(2)]


async def attempt(client: Any, password: str) -> int:
    resp = await client.post("/api/v1/auth/login",
                             json={"username": "admin", "password": password})
    return int(resp.status)


async def test_failures_on_one_node_lock_the_account_on_the_other(
        own_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    first, second = await two_nodes(aiohttp_client, own_database, tmp_path)
    for _ in range(PER_ACCOUNT):
        assert await attempt(first, "wrong-password") == 401
    assert await attempt(second, ADMIN_PASSWORD) == 429


async def test_parallel_guesses_over_two_nodes_are_limited_as_on_one(
        own_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    nodes = await two_nodes(aiohttp_client, own_database, tmp_path)
    statuses = await asyncio.gather(*(attempt(nodes[i % 2], "wrong-password")
                                      for i in range(10)))
    assert sorted(statuses) == [401] * PER_ACCOUNT + [429] * (10 - PER_ACCOUNT)
