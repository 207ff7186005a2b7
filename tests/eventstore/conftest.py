"""Fixtures for the event store tests. PostgreSQL: a database of this test run's own, a
fresh schema for each test.

The server is TESTS_POSTGRES_URL (default: the local one, trust auth). Where it
cannot be reached the PostgreSQL tests skip and say why, unless
TESTS_REQUIRE_POSTGRES=1 (CI sets it), which makes that a failure instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SERVER_URL = os.environ.get(
    "TESTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_required() -> bool:
    return os.environ.get("TESTS_REQUIRE_POSTGRES") == "1"


def _server_or_skip() -> None:
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL is not reachable at {SERVER_URL}: {str(exc).strip()}"
        if postgres_required():
            pytest.fail(f"{reason} (TESTS_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test run, dropped when it ends."""
    _server_or_skip()
    name = f"runstream_test_{os.getpid()}_{secrets.token_hex(3)}"
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
