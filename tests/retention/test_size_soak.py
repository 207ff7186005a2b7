"""The size soak: 50,000 runs arrive under maxRuns = 5,000 and are pruned in rounds as the
service prunes them (the pass the background task runs), on a real SQLite file with
auto_vacuum = INCREMENTAL. The file stays under a bound derived from what pruning keeps.

The bound (docs/retention.md states it): the file holds the kept runs in full, measured
after the first round, before anything is pruned (5,000 runs, every byte of them, their
projection rows included), plus at most PRUNED_RUN_BYTES for each pruned run. A pruned run
of five events keeps five chain headers of about 220 bytes, their two index entries (about
50 bytes each), its pruned_runs row (about 300 bytes with its key) and its share of the
EventsPruned record (about 110 bytes): about 2 KB, and 3 KB leaves the pages' free room.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.retention.pruner import Pruner
from tests.retention.runs import add_runs, open_store, query
from tests.support.auth import make_settings

RUNS = 50_000
KEPT = 5_000
ROUND = 5_000
# A node that fetched a 4 KB document: its output lives in a page of its own, which pruning
# gives back whole.
OUTPUT_BYTES = 4_000
PRUNED_RUN_BYTES = 3 * 1024
EVENTS_PER_RUN = 5


def database_size(data_dir: Path) -> int:
    """The database's pages, as the file holds them once the WAL is checkpointed into it
    (the file itself lags behind while pages still sit in the WAL)."""
    ((pages, size),) = query(data_dir, "SELECT * FROM pragma_page_count, pragma_page_size")
    return int(pages) * int(size)


@pytest.mark.slow
async def test_fifty_thousand_runs_under_max_runs_keep_the_file_bounded(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    pruner = Pruner(store, make_settings(tmp_path, retention_max_runs=KEPT))
    kept_in_full = 0
    pruned = records = 0
    try:
        for arrived in range(ROUND, RUNS + 1, ROUND):
            await add_runs(store, ROUND, payload_bytes=OUTPUT_BYTES)
            report = await pruner.prune()
            if arrived == KEPT:  # nothing pruned yet: the runs a pass keeps, in full
                kept_in_full = database_size(tmp_path)
            pruned += report.runs
            records += len(report.batches)  # one EventsPruned each
            assert pruned == arrived - KEPT
            assert report.events == report.runs * EVENTS_PER_RUN
            if report.runs:
                assert report.released > 0
            # The pages pruning freed went back to the filesystem, none left on the freelist.
            assert query(tmp_path, "PRAGMA freelist_count") == [(0,)]
            bound = kept_in_full + pruned * PRUNED_RUN_BYTES
            assert database_size(tmp_path) <= bound, (arrived, database_size(tmp_path), bound)
    finally:
        await store.close()
    # Closed, the WAL is checkpointed: the file itself is that size.
    assert (tmp_path / "runstream.db").stat().st_size <= bound

    assert query(tmp_path, "PRAGMA auto_vacuum") == [(2,)]  # incremental
    assert query(tmp_path, "SELECT COUNT(*) FROM runs") == [(KEPT,)]
    assert query(tmp_path, "SELECT COUNT(*) FROM pruned_runs") == [(RUNS - KEPT,)]
    # Unpruned, the same runs would take about RUNS / KEPT times the first round's file:
    # the bound is a fraction of that, so holding it shows the space came back.
    assert kept_in_full + pruned * PRUNED_RUN_BYTES < kept_in_full * RUNS / KEPT / 2
    # Every event's header is still there: the runs' and one EventsPruned per batch.
    assert query(tmp_path, "SELECT COUNT(*) FROM events") == [(RUNS * EVENTS_PER_RUN + records,)]
