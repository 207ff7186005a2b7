"""The SQLite WAL stays bounded under sustained writers, readers and open streams, and a
large WAL left by a crash is folded back and emptied at the next start.

Both run the real `runstream serve` (tests/support/server_process.py) under the load of
tests/support/sustained_load.py: without the writer's RESTART checkpoint the WAL of the first
test grows past 130 MB in its 20 seconds (ten times its bound).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.server_process import ServerProcess, admin_token, run_cli
from tests.support.summary import report_summary
from tests.support.sustained_load import CHAIN_LENGTH, run_statuses, sustained_load

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
RESTART_BYTES = 4 * MIB
# The file is cut back to RESTART_BYTES; between two checks the log may outgrow it by
# what one group commit writes (a few hundred KB here), and by what half a second of
# load writes when a restart could not finish (a reader slowed past the wait on a busy
# machine). Unbounded, the same load grows it past 200 MB.
WAL_BOUND = 3 * RESTART_BYTES
SOAK_S = float(os.environ.get("WAL_SOAK_S", "20"))


async def _health(base: str, token: str) -> dict:
    """/healthz as a global admin sees it (with the store's figures)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_wal_stays_bounded_under_writers_readers_and_streams(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", wal_restart_bytes=RESTART_BYTES)
    await server.start()
    try:
        token = await admin_token(server.base)
        result = await sustained_load(
            server.base, token, server.data_dir / "runstream.db-wal",
            duration_s=SOAK_S, interval_s=5.0)
        assert not result.failures, result.failures[:5]
        assert len(result.completed_runs) > 100
        assert result.stream_events > 0
        assert result.wal_max <= WAL_BOUND, (
            f"the WAL reached {result.wal_max / MIB:.1f} MiB (bound {WAL_BOUND / MIB:.0f})")
        store = (await _health(server.base, token))["store"]
        assert store["restarts"] > 0
        assert store["walBytes"] <= WAL_BOUND
        assert store["lastRestart"]["mode"] == "RESTART"
        # Every acknowledged run is there, completed, with all its nodes.
        statuses = await run_statuses(server.base, token, result.completed_runs)
        assert set(statuses.values()) == {("completed", CHAIN_LENGTH)}
    finally:
        await server.stop()
    code, out = await run_cli("verify", data_dir=server.data_dir)
    assert code == 0, out
    code, out = await run_cli("rebuild", "--check", data_dir=server.data_dir)
    assert code == 0, out
    report_summary(
        f"WAL soak: {len(result.completed_runs)} runs in {SOAK_S:.0f} s, WAL at most "
        f"{result.wal_max / MIB:.1f} MiB (restart at {RESTART_BYTES / MIB:.0f} MiB), "
        f"{store['restarts']} restarts, {store['restartsIncomplete']} incomplete")


async def test_a_large_wal_left_by_a_crash_is_emptied_at_the_next_start(tmp_path: Path) -> None:
    # A bound far out of reach lets the WAL grow as it did before it was bounded.
    server = ServerProcess(tmp_path / "data", wal_restart_bytes=1024 * MIB)
    await server.start()
    token = await admin_token(server.base)
    wal = server.data_dir / "runstream.db-wal"
    result = await sustained_load(server.base, token, wal, duration_s=8.0, interval_s=8.0,
                                  executors=10, listers=2, streams=1)
    await server.kill()
    left = wal.stat().st_size
    assert left > 4 * MIB, f"the load left only {left} bytes of WAL"

    restarted = ServerProcess(server.data_dir, port=server.port)
    began = time.monotonic()
    await restarted.start()
    start_s = time.monotonic() - began
    try:
        store = (await _health(restarted.base, token))["store"]
        assert store["lastRestart"]["mode"] == "TRUNCATE"
        assert store["lastRestart"]["complete"]
        assert wal.stat().st_size <= RESTART_BYTES
        statuses = await run_statuses(restarted.base, token, result.completed_runs)
        assert set(statuses.values()) == {("completed", CHAIN_LENGTH)}
    finally:
        await restarted.stop()
    code, out = await run_cli("verify", data_dir=server.data_dir)
    assert code == 0, out
    report_summary(f"WAL after a crash: {left / MIB:.0f} MiB folded back, served again "
                   f"in {start_s:.2f} s")
