"""PostgreSQL for tests: where the server is, and whether its absence is a skip or a failure.
The fixtures (tests/conftest.py) give each test run a database of its own and each test a
fresh schema in it.

The server is TESTS_POSTGRES_URL (default: the local one, trust auth). Where it
cannot be reached the PostgreSQL tests skip and say why, unless
RUNSTREAM_REQUIRE_POSTGRES=1 (.ci/run sets it), which makes that a failure instead.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest

SERVER_URL = os.environ.get(
    "TESTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


REQUIRE_VARIABLE = "RUNSTREAM_REQUIRE_POSTGRES"
# Read once and taken out of the environment at collection: it is the test run's switch, not
# a setting, and runstream refuses every RUNSTREAM_ variable that names no setting (in this
# process and in every `runstream` a test spawns, which inherit the environment).
_REQUIRED = os.environ.pop(REQUIRE_VARIABLE, "") == "1"


def postgres_required() -> bool:
    return _REQUIRED


def server_or_skip() -> None:
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL is not reachable at {SERVER_URL}: {str(exc).strip()}"
        if postgres_required():
            pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1)", pytrace=False)
        pytest.skip(reason)


# Every database a test makes is named PREFIX_PID_HEX, PID the process that made it: what a
# killed test run left behind is found by its PID being dead, and never confused with the
# database of a run still going (other test runs share the server).
_OURS = re.compile(r"^(runstream_[a-z_]*?)_(\d+)_([0-9a-f]+)$")


def new_database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's live process
    return True


def drop_abandoned_databases() -> list[str]:
    """Drop the databases of test runs whose process is gone (killed before cleaning up)."""
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        names = [name for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'runstream\\_%'")]
        abandoned = [name for name in names
                     if (match := _OURS.match(name)) and not _alive(int(match.group(2)))]
        for name in abandoned:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    return abandoned


@contextmanager
def database_of_its_own(prefix: str) -> Iterator[str]:
    """The URL (as `database_url` takes it) of a database made now, dropped on the way out."""
    server_or_skip()
    name = new_database_name(prefix)
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
