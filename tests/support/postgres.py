"""PostgreSQL for tests: where the server is, and whether its absence is a skip or a failure.
The fixtures (tests/conftest.py) give each test run a database of its own and each test a
fresh schema in it.

The server is TESTS_POSTGRES_URL (default: the local one, trust auth). Where it
cannot be reached the PostgreSQL tests skip and say why, unless
TESTS_REQUIRE_POSTGRES=1 (CI sets it), which makes that a failure instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest

SERVER_URL = os.environ.get(
    "TESTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_required() -> bool:
    return os.environ.get("TESTS_REQUIRE_POSTGRES") == "1"


def server_or_skip() -> None:
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL is not reachable at {SERVER_URL}: {str(exc).strip()}"
        if postgres_required():
            pytest.fail(f"{reason} (TESTS_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)


@contextmanager
def database_of_its_own(prefix: str) -> Iterator[str]:
    """The URL (as `database_url` takes it) of a database made now, dropped on the way out."""
    server_or_skip()
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
