"""Issue-16 load for minutes on a real `runstream serve` with default settings: 20 clients
executing a ten-node chain back to back, 2 clients listing runs every 50 ms, 4 open run
feeds. Prints, per minute, runs/s, the WAL's largest size and the list's p99.

Long (10 minutes by default, `BENCH_SOAK_S` to change): `make bench-soak` runs it;
`make bench` skips it. Targets: WAL under 64 MB throughout, runs/s in the last minute at
least 0.9 of the first, list p99 flat within 1.5x.
"""

from __future__ import annotations

import os

from bench.common import note, report, scratch_dir
from tests.support.server_process import ServerProcess, admin_token
from tests.support.sustained_load import Interval, sustained_load

LONG = True  # not part of a plain `make bench`
DURATION_S = float(os.environ.get("BENCH_SOAK_S", "600"))
MINUTE_S = min(60.0, DURATION_S / 2)
MB = 1_000_000


def _minute(index: int, interval: Interval, elapsed_s: float) -> None:
    report(f"wal_soak.min{index}.runs_per_s", interval.runs / elapsed_s, "runs/s")
    report(f"wal_soak.min{index}.wal_max", interval.wal_max / MB, "MB")
    report(f"wal_soak.min{index}.list_p99", interval.list_p99(), "ms")


async def main() -> None:
    with scratch_dir("bench-wal-soak-") as directory:
        server = ServerProcess(directory / "data")
        await server.start()
        try:
            token = await admin_token(server.base)
            note(f"{DURATION_S:.0f} s of load, figures per {MINUTE_S:.0f} s")
            result = await sustained_load(
                server.base, token, server.data_dir / "runstream.db-wal",
                duration_s=DURATION_S, interval_s=MINUTE_S, on_interval=_minute)
        finally:
            await server.stop()
    first, last = result.intervals[0], result.intervals[-1]
    p99s = [interval.list_p99() for interval in result.intervals]
    report("wal_soak.wal_max", result.wal_max / MB, "MB")
    note("target: under 64 MB throughout")
    report("wal_soak.runs_last_vs_first", last.runs / max(first.runs, 1), "x")
    note("target: at least 0.9")
    report("wal_soak.list_p99_max_vs_min", max(p99s) / max(min(p99s), 1e-9), "x")
    note("target: at most 1.5")
    if result.failures:
        note(f"{len(result.failures)} failed requests, first: {result.failures[0]}")
