"""The databases a killed test run left behind are dropped by the next run; a database of a
run still going (its process alive) is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from tests.support.postgres import SERVER_URL, drop_abandoned_databases, server_or_skip


def databases() -> set[str]:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def test_only_databases_of_dead_test_runs_are_dropped() -> None:
    server_or_skip()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    dead = f"runstream_test_{dead_pid}_0badc0de"
    live = f"runstream_test_{os.getpid()}_0badc0de"
    other = f"runstream_kept_{dead_pid}"  # not a name a test makes: never touched
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        for name in (dead, live, other):
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        dropped = drop_abandoned_databases()
        assert dead in dropped
        assert live not in dropped
        remaining = databases()
        assert dead not in remaining
        assert {live, other} <= remaining
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            for name in (dead, live, other):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())
