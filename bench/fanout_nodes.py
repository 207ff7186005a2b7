"""Cross-node fan-out on PostgreSQL: 1,000 SSE subscribers of one run spread over 3 nodes
on one database, 25 events/s appended through one of them: append-to-parse latency.

Node A is the real app served from this process (as bench/stream.py serves it), which
appends each event through its store; nodes B and C are `runstream serve` processes on
the same database (with A's keys), which hear of each commit through LISTEN/NOTIFY (or
their head poll), read it once and fan it out to their own subscribers. Each event is a
NodeThinking of the run's waiting approval node, whose v1 `thinking` frame carries the
time.time() taken just before `append` was called; clients in three separate processes
(bench/_sse_clients.py), one per node, parse every frame. The figure counts from before
the append (so it includes the commit) to the client's parse: an upper bound of
commit-to-client. Target: p99 under 150 ms. Skips with a message where no PostgreSQL
answers (BENCH_POSTGRES_URL, default the local server).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import psycopg

from bench._streaming import (
    GATE,
    PASSWORD,
    ROOT,
    WORKFLOW,
    ClientProcess,
    Target,
    admin_token,
    emit,
    free_port,
    runstream_app,
)
from bench.common import note, percentile, report, scratch_dir
from eventstore.records import NewEvent
from projections.vocabulary import EventType
from service import keys
from service.runtime import raise_open_files_limit

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SUBSCRIBERS = 1000
NODES = 3
EVENTS_PER_S = 25
SECONDS = 12
MAX_DRAIN_S = 30.0
KEY_FILES = ("session.key", "secrets.key", "checkpoint.key")


def scratch_database() -> str | None:
    """A fresh database's postgresql:// URL, or None (and a note) when no server answers."""
    name = f"runstream_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    except psycopg.Error as exc:
        note(f"skipped: PostgreSQL is not reachable at {SERVER_URL} ({str(exc).strip()})")
        return None
    return urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl()


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@asynccontextmanager
async def serve_node(data_dir: Path, url: str, log: Path,
                     **settings: str) -> AsyncIterator[str]:
    """`runstream serve` on `url` with the keys already in `data_dir` and `settings`
    (RUNSTREAM_ variables without the prefix); yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(RUNSTREAM_DATABASE_URL=url, RUNSTREAM_ADMIN_PASSWORD=PASSWORD,
               RUNSTREAM_STREAM_MAX_PER_USER="0", PYTHONPATH=str(ROOT))
    env.update({f"RUNSTREAM_{key}": value for key, value in settings.items()})
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir), env=env, cwd=ROOT,
            stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.returncode is not None:
                    raise RuntimeError(f"node exited with {proc.returncode}; see {log}")
                await asyncio.sleep(0.1)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def waiting_run(base: str, token: str) -> str:
    """A run of a one-approval workflow, waiting (so its stream stays open)."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        resp = await http.post(f"{base}/api/v1/workflows", json=WORKFLOW)
        workflow = (await resp.json())["data"]
        async with http.post(f"{base}/api/v1/workflow-runs/execute/stream"
                             "?onDisconnect=continue", json={"workflowId": workflow["id"]}) as r:
            run_id = r.headers["X-Workflow-Run-Id"]
        for _ in range(500):
            resp = await http.get(f"{base}/api/v1/workflow-runs/{run_id}")
            if (await resp.json())["data"]["status"] == "waiting":
                return run_id
            await asyncio.sleep(0.01)
    raise RuntimeError(f"run {run_id} never reached waiting")


async def run(url: str, out_dir: Path) -> tuple[list[float], int]:
    async with runstream_app(out_dir / "a", database_url=url) as (app, base_a):
        for name in ("b", "c"):
            (out_dir / name).mkdir()
            for key in KEY_FILES:  # the keys every node of one database shares
                shutil.copy2(out_dir / "a" / key, out_dir / name / key)
        async with serve_node(out_dir / "b", url, out_dir / "b.log") as base_b, \
                serve_node(out_dir / "c", url, out_dir / "c.log") as base_c:
            token = await admin_token(base_a)
            run_id = await waiting_run(base_a, token)
            store = app[keys.STORE]
            head = await store.head()
            bases = [base_a, base_b, base_c]
            shares = [SUBSCRIBERS // NODES + (i < SUBSCRIBERS % NODES) for i in range(NODES)]
            clients = []
            try:
                for i, (base, share) in enumerate(zip(bases, shares, strict=True)):
                    clients.append(await ClientProcess.start(Target(
                        f"{base}/api/v1/workflow-runs/{run_id}/stream?lastEventId={head}",
                        {"Authorization": f"Bearer {token}"}), share,
                        out_dir / f"clients-{i}.bin", "record"))
                await asyncio.sleep(1.0)  # let the last connections settle into their wait

                async def append(_i: int) -> None:
                    await store.append(run_id, [NewEvent(
                        EventType.NODE_THINKING, {"nodeId": GATE, "text": f"{time.time():.6f}"})])

                count = SECONDS * EVENTS_PER_S
                seconds = await emit(append, 0, count, EVENTS_PER_S)
                note(f"{count / seconds:.1f} events/s offered through node A")
                for _ in range(int(MAX_DRAIN_S / 0.1)):
                    counts = [await c.count() for c in clients]
                    if sum(counts) >= SUBSCRIBERS * count:
                        break
                    await asyncio.sleep(0.1)
            finally:
                for client in clients:
                    await client.stop()
    latencies = []
    for name, client in zip("ABC", clients, strict=True):
        of_node = [(received - sent) * 1000 for _, received, sent in client.records()]
        note(f"node {name}: {len(of_node)} frames, p50 {percentile(of_node, 0.5):.0f} ms,"
             f" p99 {percentile(of_node, 0.99):.0f} ms")
        latencies += of_node
    return latencies, SUBSCRIBERS * count


async def main() -> None:
    raise_open_files_limit()
    url = scratch_database()
    if url is None:
        return
    try:
        with scratch_dir("bench-fanout-nodes-") as out_dir:
            latencies, expected = await run(url, out_dir)
    finally:
        drop_database(url)
    if len(latencies) < expected:
        note(f"only {len(latencies)} of {expected} frames arrived")
    note(f"{SUBSCRIBERS} subscribers over {NODES} nodes on one PostgreSQL database, "
         f"{EVENTS_PER_S} events/s through one node for {SECONDS} s, clients in "
         f"{NODES} separate processes; from before the append to the parse")
    report("fanout_nodes_p50_ms", percentile(latencies, 0.50), "ms")
    report("fanout_nodes_p99_ms", percentile(latencies, 0.99), "ms")
    report("fanout_nodes_target_p99_ms", 150.0, "ms")
