"""Server memory per idle stream: 5,000 open SSE connections to one waiting run.

Each server (ours: the real app, durable, authenticated, the v1 dialect; the
reference: the minimal in-memory broadcast, one queue per subscriber) runs in a fresh
process of its own, so neither inherits the other's heap. The clients are a third
process. After WARM_STREAMS streams are open (first-use allocations, SQLite page
caches), the server's RSS is read from /proc; then STREAMS more streams are opened
and left idle (each has read the run's history and waits for more), and the RSS is
read again: the difference divided by STREAMS is the memory one idle stream costs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

from bench._streaming import (
    Broadcast,
    ClientProcess,
    Target,
    admin_token,
    rss_kb,
    runstream_app,
    serve,
    waiting_run,
)
from bench.common import note, report, scratch_dir
from service.runtime import raise_open_files_limit

STREAMS = 5000
WARM_STREAMS = 50
SETTLE_S = 3.0


async def _serve_ours(data_dir: Path, pipe: Connection) -> None:
    async with runstream_app(data_dir) as (app, base_url):
        token = await admin_token(base_url)
        run_id = await waiting_run(app, base_url, token)
        pipe.send(Target(f"{base_url}/api/v1/workflow-runs/{run_id}/stream",
                         {"Authorization": f"Bearer {token}"}))
        await asyncio.to_thread(pipe.recv)  # until told to stop


async def _serve_reference(pipe: Connection) -> None:
    broadcast = Broadcast()
    async with serve(broadcast.app) as base_url:
        pipe.send(Target(f"{base_url}/stream"))
        await asyncio.to_thread(pipe.recv)


def serve_in_process(kind: str, data_dir: str, pipe: Connection) -> None:
    """The server process: serve until the parent sends anything on `pipe`."""
    raise_open_files_limit()
    if kind == "ours":
        asyncio.run(_serve_ours(Path(data_dir), pipe))
    else:
        asyncio.run(_serve_reference(pipe))


async def per_stream_kb(kind: str, work_dir: Path) -> float:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve_in_process, args=(kind, str(work_dir / kind), child))
    server.start()
    try:
        target: Target = await asyncio.to_thread(parent.recv)
        assert server.pid is not None
        warm = await ClientProcess.start(target, WARM_STREAMS, work_dir / "warm.bin", "idle")
        await asyncio.sleep(SETTLE_S)
        before = rss_kb(server.pid)
        clients = await ClientProcess.start(target, STREAMS, work_dir / "idle.bin", "idle")
        await asyncio.sleep(SETTLE_S)
        after = rss_kb(server.pid)
        await clients.stop()
        await warm.stop()
        note(f"{kind}: server RSS {before} KiB with {WARM_STREAMS} streams, "
             f"{after} KiB with {WARM_STREAMS + STREAMS}")
        return (after - before) / STREAMS
    finally:
        parent.send("stop")
        await asyncio.to_thread(server.join, 30)
        if server.is_alive():
            server.kill()
            server.join()


async def main() -> None:
    raise_open_files_limit()
    with scratch_dir("bench-idle-") as work_dir:
        ours = await per_stream_kb("ours", work_dir)
        reference = await per_stream_kb("reference", work_dir)
    report("idle_stream_kb", ours, "KB")
    report("idle_stream_ref_kb", reference, "KB")

