"""Fixtures shared by more than one area: settings on a real SQLite file in tmp_path, the real
app with logged-in clients, and an engine on a real store. Area folders add their own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from service.app import create_app
from service.engine.engine import Engine
from service.settings import Settings
from service.workflows import WorkflowRepository
from tests.support.auth import ADMIN_PASSWORD, ClientFactory, login, make_settings
from tests.support.backends import Backend, PostgresBackend, SQLiteBackend
from tests.support.browser import installed_chromium
from tests.support.engine import CountingServer, Harness, make_engine
from tests.support.postgres import (
    SERVER_URL,
    drop_abandoned_databases,
    new_database_name,
    server_or_skip,
)
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


# -- PostgreSQL, and one log on either backend -------------------------------------------

@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test run, dropped when it ends."""
    server_or_skip()
    drop_abandoned_databases()
    name = new_database_name("runstream_test")
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield make_conninfo(SERVER_URL, dbname=name)
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A URL whose connections see only a schema of this test's own (an empty log)."""
    schema = f"t_{secrets.token_hex(4)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    options = " ".join(filter(None, [
        conninfo_to_dict(pg_database).get("options"), f"-c search_path={schema}"]))
    try:
        yield make_conninfo(pg_database, options=options)
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh log on each backend in turn (the PostgreSQL one needs a server: see pg_database)."""
    chosen: Backend
    if request.param == "sqlite":
        chosen = SQLiteBackend(tmp_path / "runstream.db")
    else:
        chosen = PostgresBackend(request.getfixturevalue("pg_url"))
    yield chosen
    await chosen.close()


@pytest.fixture(scope="session")
def chromium() -> Path:
    return installed_chromium()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY_LINES:
        terminalreporter.section("runstream figures")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
