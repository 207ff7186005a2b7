"""Backup MB/s during a write load, and `verify` events/s.

A log of EVENTS events (about 140 MB) is copied while another process appends to it through
the store (group commit, synchronous=FULL), the load `runstream backup` meets on a busy
server. Beside runstream's copy (the online backup API in steps inside one read
transaction, eventstore/sqlite_backup.py) the same load meets the references: the same
API in steps without that transaction (each commit restarts it: it is stopped after
STEPPED_LIMIT_S), `VACUUM INTO`, and `cp` of the idle file, what the disk can do.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import note, report, scratch_dir
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore, verify_file
from eventstore.sqlite_backup import BACKUP_STEP_PAGES, copy_database
from projections import all_projections

EVENTS = 200_000
BATCH = 50
PAYLOAD = "x" * 400
STEPPED_LIMIT_S = 20.0
ROOT = Path(__file__).resolve().parents[1]


def batch(n: int) -> list[NewEvent]:
    return [NewEvent("Tick", {"n": n + i, "text": PAYLOAD}) for i in range(BATCH)]


async def fill(path: Path, events: int) -> None:
    store = await SQLiteEventStore.open(path, projectors=all_projections())
    try:
        for n in range(0, events, BATCH):
            await store.append(f"run-{n % 97}", batch(n))
    finally:
        await store.close()


async def write_forever(path: Path) -> None:
    """The write load: run in a process of its own until killed."""
    store = await SQLiteEventStore.open(path, projectors=all_projections())
    n = 0
    try:
        while True:
            await asyncio.gather(*(store.append(f"load-{n + k}", batch(n)) for k in range(4)))
            n += 4
    finally:
        await store.close()


def head_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0])
    finally:
        conn.close()


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def timed_copy(name: str, copy: Callable[[Path, Path], bool], source: Path,
               dest: Path) -> float | None:
    remove(dest)
    head = head_of(source)
    started = time.perf_counter()
    outcome = copy(source, dest)
    seconds = time.perf_counter() - started
    if not outcome:
        note(f"{name}: no copy after {seconds:.0f} s (restarted by the writer's commits)")
        return None
    size = dest.stat().st_size
    rate = size / 1e6 / seconds
    report(f"backup_{name}", rate, "MB/s")
    note(f"{name}: {size / 1e6:.0f} MB in {seconds:.2f} s; the writer appended "
         f"{head_of(source) - head:,} events meanwhile")
    return rate


def ours(source: Path, dest: Path) -> bool:
    copy_database(source, dest)
    return True


def vacuum_into(source: Path, dest: Path) -> bool:
    conn = sqlite3.connect(source)
    try:
        conn.execute("VACUUM INTO ?", (str(dest),))
    finally:
        conn.close()
    return True


class GaveUp(Exception):
    pass


def stepped_without_transaction(source: Path, dest: Path) -> bool:
    src, target = sqlite3.connect(source), sqlite3.connect(dest)
    began = time.perf_counter()

    def progress(_status: int, _remaining: int, _total: int) -> None:
        if time.perf_counter() - began > STEPPED_LIMIT_S:
            raise GaveUp

    try:
        src.backup(target, pages=BACKUP_STEP_PAGES, progress=progress)
        return True
    except GaveUp:
        return False
    finally:
        target.close()
        src.close()


def cp(source: Path, dest: Path) -> bool:
    shutil.copyfile(source, dest)
    return True


def measure(source: Path, dest: Path) -> None:
    started = time.perf_counter()
    result = verify_file(source)
    seconds = time.perf_counter() - started
    assert result.ok
    report("verify", result.checked / seconds, "events/s")
    note(f"verify: {result.checked:,} events in {seconds:.2f} s")

    timed_copy("idle_cp_reference", cp, source, dest)
    timed_copy("idle", ours, source, dest)

    writer = subprocess.Popen([sys.executable, "-m", "bench.backup", "write", str(source)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        time.sleep(1.0)  # let the load settle in
        timed_copy("under_load", ours, source, dest)
        assert verify_file(dest).ok
        timed_copy("vacuum_into_under_load", vacuum_into, source, dest)
        timed_copy("stepped_no_transaction_under_load", stepped_without_transaction,
                   source, dest)
    finally:
        writer.kill()
        writer.wait()


async def main() -> None:
    with scratch_dir("bench-backup-") as root:
        await fill(root / "runstream.db", EVENTS)
        measure(root / "runstream.db", root / "copy.db")


if __name__ == "__main__" and sys.argv[1:2] == ["write"]:
    asyncio.run(write_forever(Path(sys.argv[2])))
