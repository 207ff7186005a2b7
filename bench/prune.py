"""Prune rate on a log of EVENTS events, the file size before and after, and `verify` on
the pruned log.

The log is runs of five events (created, started, a node started and completed with a
1 KB output, completed), appended through the store in rounds of concurrent runs (group
commit): the append rate is the first reference. The policy keeps a tenth of the runs, and
the pruner prunes the rest as `runstream prune` does (archive each batch, prune it with its
EventsPruned, give the free pages back). The second reference is plain sqlite3 on a copy
made before: the same rows' data removed with one UPDATE per run in one transaction, then
`PRAGMA incremental_vacuum`: the rate of SQLite itself without the archive, the projections
and the rows' rewrite, and (data removed in place) the space that gives back, see
eventstore/sqlite_prune.py.
`verify` is timed on the copy before it is pruned and on the pruned log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

from bench.common import note, report, scratch_dir
from eventstore.sqlite import SQLiteEventStore, verify_file
from projections import all_projections
from service.retention.pruner import Pruner
from service.settings import load_settings
from tests.retention.runs import run_events

EVENTS = int(os.environ.get("BENCH_PRUNE_EVENTS", 1_000_000))  # fewer for a quick look
EVENTS_PER_RUN = 5
OUTPUT_BYTES = 1_000
ROUND_RUNS = 5_000  # runs appended at once
KEPT_SHARE = 10  # the policy keeps one run in ten


async def fill(path: Path, runs: int) -> float:
    """Append `runs` runs; the append rate in events/s."""
    store = await SQLiteEventStore.open(path, all_projections())
    started = time.perf_counter()
    try:
        for done in range(0, runs, ROUND_RUNS):
            count = min(ROUND_RUNS, runs - done)
            await asyncio.gather(*(store.append(str(uuid.uuid4()), run_events(
                payload_bytes=OUTPUT_BYTES)) for _ in range(count)))
    finally:
        await store.close()
    return runs * EVENTS_PER_RUN / (time.perf_counter() - started)


async def prune(data_dir: Path, keep: int) -> tuple[int, int, float]:
    """Prune all but `keep` runs as `runstream prune` does: (events, bytes released, s)."""
    settings = load_settings(overrides={"data_dir": data_dir, "retention_max_runs": keep},
                             environ={})
    store = await SQLiteEventStore.open(data_dir / "runstream.db", all_projections())
    try:
        pruner = Pruner(store, settings)
        await pruner.ensure_schema()
        started = time.perf_counter()
        done = await pruner.prune()
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    return done.events, done.released, seconds


def plain_prune(path: Path, streams: list[str]) -> tuple[int, float]:
    """The reference: the same runs' data removed by bare SQL; (events, seconds)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        started = time.perf_counter()
        conn.execute("BEGIN")
        events = 0
        for stream in streams:
            events += conn.execute("UPDATE events SET data = X'' WHERE stream = ?"
                                   " AND length(data) > 0", (stream,)).rowcount
        conn.execute("COMMIT")
        conn.executescript("PRAGMA incremental_vacuum")
        seconds = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return events, seconds


def oldest_runs(path: Path, keep: int) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id FROM runs ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows[:len(rows) - keep]]


def timed_verify(name: str, path: Path) -> None:
    started = time.perf_counter()
    result = verify_file(path)
    seconds = time.perf_counter() - started
    assert result.ok, result
    report(f"verify_{name}", result.checked / seconds, "events/s")


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


async def main() -> None:
    runs = max(EVENTS // EVENTS_PER_RUN, KEPT_SHARE)
    keep = runs // KEPT_SHARE
    with scratch_dir("bench-prune-") as root:
        ours, reference = root / "ours", root / "reference"
        ours.mkdir()
        reference.mkdir()
        db = ours / "runstream.db"
        report("prune_append_reference", await fill(db, runs), "events/s")
        before = db.stat().st_size  # closed: the WAL is checkpointed into it
        shutil.copyfile(db, reference / "runstream.db")
        note(f"{runs:,} runs ({runs * EVENTS_PER_RUN:,} events, {OUTPUT_BYTES} B outputs),"
             f" keeping {keep:,}; the file: {mb(before)}")

        timed_verify("unpruned_reference", reference / "runstream.db")
        events, seconds = plain_prune(reference / "runstream.db",
                                      oldest_runs(reference / "runstream.db", keep))
        report("prune_plain_sql_reference", events / seconds, "events/s")

        events, released, seconds = await prune(ours, keep)
        report("prune", events / seconds, "events/s")
        after = db.stat().st_size
        note(f"pruned {events:,} events in {seconds:.1f} s ({len(list((ours / 'archive').iterdir()))}"
             f" archives), {mb(released)} given back")
        report("prune_file_before", before / 1e6, "MB")
        report("prune_file_after", after / 1e6, "MB")
        report("prune_file_after_plain_sql_reference",
               (reference / "runstream.db").stat().st_size / 1e6, "MB")
        # What a pruned run still takes: the file less the kept runs' share of it.
        pruned_runs = runs - keep
        report("prune_kept_per_pruned_run", (after - before * keep / runs) / pruned_runs,
               "bytes")
        timed_verify("pruned", db)
