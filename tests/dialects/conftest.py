"""Fixtures for the dialect tests: the real app with the dialects' short stream intervals, and
the admin's session (`api`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings
from tests.dialects.helpers import Api
from tests.support.auth import ADMIN_PASSWORD, ClientFactory, login, make_settings


@pytest.fixture
def dialect_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, splox_keepalive_interval_s=0.2, stream_retry_ms=500)


@pytest.fixture
def auth_settings(dialect_settings: Settings) -> Settings:
    """The root conftest's server and clients (`new_client`) run on the dialects' settings."""
    return dialect_settings


@pytest.fixture
async def api(new_client: ClientFactory) -> Api:
    client = await new_client()
    await login(client, "admin", ADMIN_PASSWORD)
    return Api(client, new_client)
