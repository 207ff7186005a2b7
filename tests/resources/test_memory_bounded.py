"""Server memory stays within its byte budgets when runs pass large documents around,
while streams follow them; single events have a size limit with a clear error.

The first test runs the real `runstream serve` and reads its RSS from /proc: before the
ring of recent events was bounded in bytes, it grew by about 20 MB per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstore.errors import EventTooLarge
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from tests.support.large_payloads import large_payload_runs, rss_bytes
from tests.support.server_process import ServerProcess, admin_token
from tests.support.summary import report_summary

MIB = 1024 * 1024
RING_BYTES = 32 * MIB
FRAME_CACHE_BYTES = 8 * MIB
DOCUMENT_BYTES = 400 * 1024
RUNS = 30
# What the process may grow by beside its budgets: allocator pools and fragmentation,
# the engine's state of the run in flight, buffers of the five streams and requests.
BASE_SLACK = 64 * MIB
LATE_GROWTH = 16 * MIB


@pytest.mark.slow
async def test_memory_stays_within_budgets_with_large_payloads(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", live_ring_bytes=RING_BYTES,
                           frame_cache_bytes=FRAME_CACHE_BYTES)
    await server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        token = await admin_token(server.base)
        samples: dict[int, int] = {}
        run_ids, followers, streams_read = await large_payload_runs(
            server.base, token, RUNS, DOCUMENT_BYTES,
            on_run=lambda done: samples.__setitem__(done, rss_bytes(pid)))
    finally:
        await server.stop()
    assert len(run_ids) == RUNS
    assert streams_read == 2 * RUNS
    shown = ", ".join(f"{n}: {samples[n] / MIB:.0f}" for n in (1, 3, 10, 20, 30))
    grown = max(samples.values()) - samples[1]  # after one run the code and pools are warm
    assert grown <= RING_BYTES + FRAME_CACHE_BYTES + BASE_SLACK, (
        f"RSS grew by {grown / MIB:.0f} MiB after run 1 (MiB after runs {shown})")
    # Once the budgets are full (a run writes about 9 MB of events), memory stays flat.
    assert samples[RUNS] - samples[10] <= LATE_GROWTH, (
        f"RSS still grows once the budgets are full (MiB after runs {shown})")
    report_summary(f"memory with {DOCUMENT_BYTES // 1024} KB payloads: RSS after runs {shown} "
                   f"MiB (budgets {(RING_BYTES + FRAME_CACHE_BYTES) / MIB:.0f} MiB)")


async def test_the_store_refuses_an_event_above_max_event_bytes(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(tmp_path / "log.db", max_event_bytes=1000)
    try:
        await store.append("s", [NewEvent("Small", {"x": "a" * 10})])
        with pytest.raises(EventTooLarge) as raised:
            await store.append("s", [NewEvent("Small", {}), NewEvent("Big", {"x": "a" * 1000})])
        assert raised.value.size > 1000
        assert raised.value.limit == 1000
        # Nothing of the refused append was written.
        assert [e.type for e in await store.read("s")] == ["Small"]
    finally:
        await store.close()
