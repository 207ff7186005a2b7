"""Fixtures for the dialect tests: the real app with the dialects' short stream intervals, and
the admin's session (`api`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.settings import Settings
from tests.dialects.helpers import Api
from tests.support.auth import ADMIN_PASSWORD, ClientFactory, login, make_settings


@pytest.fixture
def dialect_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, splox_keepalive_interval_s=0.2, stream_retry_ms=500)


@pytest.fixture
async def dialect_server(aiohttp_server: Any, dialect_settings: Settings) -> TestServer:
    server: TestServer = await aiohttp_server(create_app(dialect_settings))
    return server


@pytest.fixture
def new_client(aiohttp_client: Any, dialect_server: TestServer) -> ClientFactory:
    """Each client has its own cookie jar, all talking to the dialects' server."""

    async def make() -> TestClient:
        client: TestClient = await aiohttp_client(dialect_server)
        return client

    return make


@pytest.fixture
async def api(new_client: ClientFactory) -> Api:
    client = await new_client()
    await login(client, "admin", ADMIN_PASSWORD)
    return Api(client, new_client)
