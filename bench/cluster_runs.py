"""Runs per second on PostgreSQL with three nodes on one database.

50 concurrent clients, spread over three `runstream serve` processes on one database,
each starting a run of a ten-node workflow (a chain of `noop` nodes) with the blocking v1
execute and starting the next as soon as it is answered. Every run is leased by the node
that took the request (or claimed by another with room), and every append of its events
is fenced by that lease. Reference, in the same run: the same clients against one node
on a database of its own. Target: at least 300 runs/s with three nodes. Skips with a
message where no PostgreSQL answers (BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path

import aiohttp

from bench._streaming import admin_token
from bench.common import note, report, scratch_dir
from bench.fanout_nodes import KEY_FILES, drop_database, scratch_database, serve_node

CLIENTS = 50
SECONDS = float(os.environ.get("BENCH_CLUSTER_SECONDS", "15"))
WORKFLOW = {"name": "ten noops", "nodes": [
    {"id": f"n{i}", "type": "noop", "after": [f"n{i - 1}"] if i else []} for i in range(10)]}


def node(data_dir: Path, url: str, name: str) -> AbstractAsyncContextManager[str]:
    """`runstream serve` named `name` on `url`, with room for the clients' runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return serve_node(data_dir, url, data_dir.parent / f"{name}.log", NODE_NAME=name,
                      ENGINE__MAX_CONCURRENT_RUNS="64")


async def runs_per_second(bases: list[str]) -> tuple[float, int]:
    """Runs completed per second by CLIENTS clients spread over `bases`; and failures."""
    token = await admin_token(bases[0])
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        resp = await http.post(f"{bases[0]}/api/v1/workflows", json=WORKFLOW)
        workflow_id = (await resp.json())["data"]["id"]
        done = failed = 0
        stop = time.monotonic() + SECONDS

        async def client(base: str) -> None:
            nonlocal done, failed
            while time.monotonic() < stop:
                async with http.post(f"{base}/api/v1/workflow-runs/execute",
                                     json={"workflowId": workflow_id}) as answer:
                    body = await answer.json()
                ok = answer.status == 200 and body["data"]["status"] == "completed"
                done += ok
                failed += not ok

        started = time.monotonic()
        await asyncio.gather(*(client(bases[i % len(bases)]) for i in range(CLIENTS)))
        return done / (time.monotonic() - started), failed


async def main() -> None:
    with scratch_dir("bench-cluster-") as root:
        for label, names in (("one node", ("solo",)), ("three nodes", ("a", "b", "c"))):
            url = scratch_database()
            if url is None:
                return
            try:
                async with AsyncExitStack() as nodes:
                    bases = [await nodes.enter_async_context(
                        node(root / names[0], url, names[0]))]
                    for name in names[1:]:
                        (root / name).mkdir()
                        for key in KEY_FILES:  # the keys every node of one database shares
                            shutil.copy2(root / names[0] / key, root / name / key)
                        bases.append(await nodes.enter_async_context(
                            node(root / name, url, name)))
                    rate, failed = await runs_per_second(bases)
            finally:
                drop_database(url)
            suffix = "cluster" if len(names) > 1 else "one_node"
            report(f"postgres_runs_per_s_{suffix}", rate, "runs/s")
            note(f"{label}: {CLIENTS} clients for {SECONDS:.0f} s, ten-node runs, "
                 f"{failed} not completed")
        note("target: three nodes at least 300 runs/s on this 2-core machine")
