"""Append throughput on PostgreSQL: the workload of bench/append, beside a plain psycopg insert.

200 coroutines each await single-event appends to one PostgresEventStore, with and
without the run projections. The reference is plain psycopg inserting the very rows
the store wrote into the same kind of table in the same database, in transactions the
size of the store's average group commit: what the server itself does with those
commits. Needs a server (BENCH_POSTGRES_URL, default the local one); without one it
says so and measures nothing.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from bench.append import APPENDS_EACH, WRITERS, append_runs
from bench.common import note, percentile, report
from eventstore.postgres import PostgresEventStore
from eventstore.postgres_schema import EVENT_COLUMNS, INSERT_EVENT, SCHEMA
from eventstore.projector import Projector
from projections import all_projections

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def run_appenders(url: str, projectors: Sequence[Projector]) -> dict[str, float]:
    store = await PostgresEventStore.open(url, projectors=projectors)
    try:
        seconds, latencies = await append_runs(store)
        events = await store.head()
        commits = store.status()["groupCommits"]
    finally:
        await store.close()
    return {
        "events": events, "seconds": seconds, "commits": commits,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def reference_insert(url: str, batch: int) -> float:
    """Plain psycopg: the store's rows into a fresh events table, `batch` rows per commit."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position")
        rows: list[Any] = await cursor.fetchall()
        await conn.execute("CREATE SCHEMA reference")
        await conn.execute("SET search_path = reference")
        await conn.execute(SCHEMA.encode())
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction(), conn.cursor() as insert:
                await insert.executemany(INSERT_EVENT, rows[i:i + batch])
        seconds = time.perf_counter() - started
    return len(rows) / seconds


def scratch_database() -> str | None:
    """A fresh database's URL, or None (and a note) when no server answers."""
    try:
        with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3) as conn:
            name = f"runstream_bench_{os.getpid()}_{secrets.token_hex(3)}"
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    except psycopg.Error as exc:
        note(f"skipped: PostgreSQL is not reachable at {SERVER_URL} ({str(exc).strip()})")
        return None
    return make_conninfo(SERVER_URL, dbname=name)


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


async def main() -> None:
    note(f"{WRITERS} coroutines x {APPENDS_EACH} single-event appends, PostgreSQL"
         " (synchronous_commit as the server has it)")
    for label, projectors in (("", all_projections()), ("_bare", [])):
        url = scratch_database()
        if url is None:
            return
        try:
            result = await run_appenders(url, projectors)
            rate = result["events"] / result["seconds"]
            per_commit = result["events"] / max(result["commits"], 1)
            reference = await reference_insert(url, max(1, round(per_commit)))
        finally:
            drop_database(url)
        what = "with the run projections" if projectors else "no projections"
        note(f"{what}: {result['events']:.0f} events in {result['seconds']:.1f} s,"
             f" {result['commits']:.0f} group commits")
        report(f"append_postgres{label}_events_per_s", rate, "events/s")
        report(f"append_postgres{label}_events_per_commit", per_commit, "events")
        report(f"append_postgres{label}_latency_p50_ms", result["p50_ms"], "ms")
        report(f"append_postgres{label}_latency_p99_ms", result["p99_ms"], "ms")
        report(f"append_postgres{label}_reference_events_per_s", reference, "events/s")
        report(f"append_postgres{label}_vs_reference_ratio", rate / reference, "x")
