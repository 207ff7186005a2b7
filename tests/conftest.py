"""Fixtures shared by more than one area: settings on a real SQLite file in tmp_path, the real
app with logged-in clients, and an engine on a real store. Area folders add their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from service.app import create_app
from service.engine.engine import Engine
from service.settings import Settings
from service.workflows import WorkflowRepository
from tests.support.auth import ADMIN_PASSWORD, ClientFactory, login, make_settings
from tests.support.browser import installed_chromium
from tests.support.engine import CountingServer, Harness, make_engine
from tests.support.summary import SUMMARY_LINES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


# -- the app, with one client per person -------------------------------------------------

@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def auth_server(aiohttp_server: Any, auth_settings: Settings) -> TestServer:
    server: TestServer = await aiohttp_server(create_app(auth_settings))
    return server


@pytest.fixture
def new_client(aiohttp_client: Any, auth_server: TestServer) -> ClientFactory:
    """Each client has its own cookie jar, all talking to the same server."""

    async def make() -> TestClient:
        client: TestClient = await aiohttp_client(auth_server)
        return client

    return make


@pytest.fixture
async def anon(new_client: ClientFactory) -> TestClient:
    return await new_client()


@pytest.fixture
async def admin(new_client: ClientFactory) -> TestClient:
    client = await new_client()
    await login(client, "admin", ADMIN_PASSWORD, expect=200)
    return client


# -- an engine on a real store, without the HTTP layer -----------------------------------

@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    opened = await SQLiteEventStore.open(
        tmp_path / "runstream.db", projectors=all_projections(), synchronous="NORMAL"
    )
    yield opened
    await opened.close()


@pytest.fixture
async def repo(store: SQLiteEventStore) -> WorkflowRepository:
    repository = WorkflowRepository(store)
    await repository.ensure_schema()
    return repository


@pytest.fixture
async def engine(store: SQLiteEventStore, repo: WorkflowRepository) -> AsyncIterator[Engine]:
    running = make_engine(store, repo)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def harness(store: SQLiteEventStore, repo: WorkflowRepository,
                  engine: Engine) -> Harness:
    return Harness(store, repo, engine)


@pytest.fixture
async def counting_server() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def chromium() -> Path:
    return installed_chromium()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY_LINES:
        terminalreporter.section("runstream figures")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
