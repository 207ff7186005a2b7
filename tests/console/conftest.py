"""Fixtures of the console's browser tests: the app on a real port, an admin API client on
it, and headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.settings import Settings
from tests.support.auth import ADMIN_PASSWORD, login
from tests.support.browser import CHROMIUM_ARGS


@pytest.fixture
async def server(aiohttp_server: Any, settings: Settings) -> TestServer:
    srv: TestServer = await aiohttp_server(create_app(settings))
    return srv


@pytest.fixture
async def admin_api(aiohttp_client: Any, server: TestServer) -> TestClient:
    client: TestClient = await aiohttp_client(server)
    await login(client, "admin", ADMIN_PASSWORD)
    return client


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    # Imported here so that the console's API tests need no Playwright.
    async_api = pytest.importorskip(
        "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")
    async with async_api.async_playwright() as playwright:
        # Playwright gives every launch a fresh, empty profile directory.
        instance = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()
