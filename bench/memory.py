"""Server memory when runs pass large documents: a real `runstream serve` with default
settings runs 100 workflows of 10 transform nodes, each passing on a 400 KB string, while
3 streams follow the whole log and 2 read every run's v1 stream; its RSS is printed beside
the RSS after 100 runs of small events, and beside the memory budgets that bound the
difference (the live ring, the shared frames, SQLite's page caches). Target: the
difference under the budgets plus 10%.
"""

from __future__ import annotations

from bench.common import note, report, scratch_dir
from eventstore.sqlite import READER_POOL_SIZE
from eventstore.sqlite_writer import WRITER_CACHE_BYTES
from service.settings import load_settings
from tests.support.large_payloads import large_payload_runs, rss_bytes
from tests.support.server_process import ServerProcess, admin_token

RUNS = 100
LARGE = 400 * 1024
SMALL = 100
# SQLite's default page cache (2,000 KiB) on each reader and on the checkpointer.
SQLITE_DEFAULT_CACHE_BYTES = 2000 * 1024
MB = 1_000_000


async def _rss_after_runs(size: int) -> tuple[int, list[int]]:
    with scratch_dir("bench-memory-") as directory:
        server = ServerProcess(directory / "data")
        await server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            token = await admin_token(server.base)
            samples: list[int] = []
            await large_payload_runs(server.base, token, RUNS, size,
                                     on_run=lambda _: samples.append(rss_bytes(pid)))
            return rss_bytes(pid), samples
        finally:
            await server.stop()


async def main() -> None:
    settings = load_settings(environ={})
    budgets = (settings.live_ring_bytes + settings.frame_cache_bytes + WRITER_CACHE_BYTES
               + (READER_POOL_SIZE + 1) * SQLITE_DEFAULT_CACHE_BYTES)
    large, samples = await _rss_after_runs(LARGE)
    note("RSS after runs 1, 10, 25, 50, 75, 100 (MB): "
         + ", ".join(f"{samples[i - 1] / MB:.0f}" for i in (1, 10, 25, 50, 75, 100)))
    small, _ = await _rss_after_runs(SMALL)
    report("memory_rss_large_events_mb", large / MB, "MB")
    report("memory_rss_small_events_mb", small / MB, "MB")
    report("memory_difference_mb", (large - small) / MB, "MB")
    report("memory_budgets_mb", budgets / MB, "MB")
    note(f"budgets: live ring {settings.live_ring_bytes / MB:.0f}, frames "
         f"{settings.frame_cache_bytes / MB:.0f}, writer cache {WRITER_CACHE_BYTES / MB:.0f}, "
         f"{READER_POOL_SIZE + 1} other connections' caches "
         f"{(READER_POOL_SIZE + 1) * SQLITE_DEFAULT_CACHE_BYTES / MB:.0f}")
    report("memory_difference_vs_budgets", (large - small) / budgets, "x")
    note("target: at most 1.1")
