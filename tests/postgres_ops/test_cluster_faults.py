"""Three `runstream serve` nodes on one PostgreSQL database, one killed and one frozen past
its leases while runs with delays and approvals are in flight and clients follow them,
reconnecting to a random node every few frames with Last-Event-ID.

At the end: every run finished; every client saw each frame of its run exactly once, in
log order (the same list as a fresh full read); no node attempt started or completed
twice and each run started and ended once (the frozen node wrote nothing for the runs it
lost); `runstream verify` and `runstream rebuild --check` pass on the database.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.postgres_ops.test_run_leases import TTL_S, check_driven_once, claims_logged
from tests.support.cluster import Cluster
from tests.support.server_process import create_workflow, run_cli
from tests.support.sse import iter_frames

pytestmark = pytest.mark.slow

RUNS = 12
SEED = 18
WORKFLOWS = [
    {"name": "Chain with a gate", "nodes": [
        {"id": "prep", "type": "transform", "params": {"value": {"k": "{{inputs.key}}"}}},
        {"id": "wait1", "type": "delay", "after": ["prep"], "params": {"ms": 600}},
        {"id": "gate", "type": "approval", "after": ["wait1"], "params": {"prompt": "go?"}},
        {"id": "wait2", "type": "delay", "after": ["gate"], "params": {"ms": 400}},
        {"id": "done", "type": "transform", "after": ["wait2"],
         "params": {"value": "{{nodes.prep.output.k}}"}}]},
    {"name": "Fan-in", "nodes": [
        {"id": "p1", "type": "delay", "params": {"ms": 1500}},
        {"id": "p2", "type": "delay", "params": {"ms": 500}},
        {"id": "join", "type": "noop", "after": ["p1", "p2"]}]},
]


class Clients:
    """Followers and an approver that go to a random node the cluster has not lost."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.down: set[int] = set()  # killed, or frozen (requests there would hang)
        self.auth = dict(cluster.apis[0].headers())
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=2, sock_read=3))
        self.seen: dict[str, list[tuple[int, str]]] = {}
        self.reconnects = 0

    def base(self) -> str:
        alive = [i for i in range(len(self.cluster.nodes)) if i not in self.down]
        return self.cluster.nodes[self.rng.choice(alive)].base

    async def follow(self, run_id: str) -> None:
        seen = self.seen.setdefault(run_id, [])
        while True:
            headers = dict(self.auth)
            if seen:
                headers["Last-Event-ID"] = str(seen[-1][0])
            leave_after = self.rng.randint(2, 4)
            try:
                async with self.http.get(f"{self.base()}/api/v1/workflow-runs/{run_id}/stream",
                                         headers=headers) as response:
                    if response.status == 204:
                        return
                    if response.status == 200:
                        taken = 0
                        async for frame in iter_frames(response):
                            if frame.id is not None:
                                seen.append((int(frame.id), frame.event))
                                taken += 1
                            if taken >= leave_after:
                                break
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                pass
            self.reconnects += 1
            await asyncio.sleep(self.rng.uniform(0.02, 0.1))

    async def approve(self, run_id: str) -> None:
        """Answer the run's gate through any node, asking again until it is answered."""
        while True:
            try:
                async with self.http.post(
                        f"{self.base()}/api/v1/workflow-runs/{run_id}/nodes/gate/resume",
                        json={}, headers=self.auth) as response:
                    if response.status == 200:
                        return
                    if response.status == 409 and await self.past_gate(run_id):
                        return  # answered by an earlier request whose answer was lost
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    async def past_gate(self, run_id: str) -> bool:
        async with self.http.get(f"{self.base()}/api/v1/workflow-runs/{run_id}/events",
                                 headers=self.auth) as response:
            events = (await response.json())["data"]
        return any(e["type"] == "NodeResumed" for e in events)

    async def close(self) -> None:
        await self.http.close()


async def test_three_nodes_one_killed_one_frozen_lose_and_repeat_nothing(
        own_database: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cluster = Cluster(tmp_path, own_database, ("c1", "c2", "c3"), engine__lease_ttl_s=TTL_S,
                      stream_retry_ms=100)
    await cluster.start()
    clients = Clients(cluster, rng)
    tasks: list[asyncio.Task[None]] = []
    try:
        workflow_ids = [await create_workflow(cluster.apis[0], wf) for wf in WORKFLOWS]
        run_ids = []
        for i in range(RUNS):
            api = cluster.apis[i % 3]
            async with api.http.post(
                    f"{api.base}/api/v1/workflow-runs/execute/stream", headers=api.headers(),
                    json={"workflowId": workflow_ids[i % 2], "inputs": {"key": f"k{i}"}}) as r:
                assert r.status == 200, await r.text()
                run_ids.append(r.headers["X-Workflow-Run-Id"])
        tasks = [asyncio.create_task(clients.follow(run_id)) for run_id in run_ids]
        gated = run_ids[::2]
        tasks += [asyncio.create_task(clients.approve(run_id)) for run_id in gated]

        await asyncio.sleep(0.3)
        clients.down.add(0)
        await cluster.nodes[0].kill()
        frozen = cluster.nodes[1].proc
        assert frozen is not None
        clients.down.add(1)
        frozen.send_signal(signal.SIGSTOP)
        await asyncio.sleep(TTL_S * 2.5)  # past its leases: c3 takes its runs over
        frozen.send_signal(signal.SIGCONT)
        clients.down.discard(1)

        await asyncio.wait_for(asyncio.gather(*tasks), 90)
        live = cluster.apis[2]
        for run_id in run_ids:
            status, body = await live.request("GET", f"/api/v1/workflow-runs/{run_id}")
            assert status == 200, body
            assert body["data"]["status"] == "completed", body
            events = await cluster.events(run_id, via=2)
            check_driven_once(events)
            async with live.http.get(f"{live.base}/api/v1/workflow-runs/{run_id}/stream",
                                     headers=live.headers()) as response:
                full = [(int(f.id), f.event) async for f in iter_frames(response)
                        if f.id is not None]
            assert clients.seen[run_id] == full, run_id
        assert clients.reconnects > RUNS * 3
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await clients.close()
        await cluster.stop()
    # The killed node's runs went to the others; the frozen node's to c3, and it said so.
    killed, froze = set(run_ids[0::3]), set(run_ids[1::3])
    assert killed <= claims_logged(cluster.nodes[1]) | claims_logged(cluster.nodes[2])
    assert froze <= claims_logged(cluster.nodes[2])
    assert froze <= claims_logged(cluster.nodes[1], "run_lease_lost")
    config = tmp_path / "cluster.toml"
    config.write_text(f'database_url = "{own_database}"\n')
    for command in (("verify",), ("rebuild", "--check")):
        code, out = await run_cli(*command, "--config", str(config), data_dir=tmp_path / "cli")
        assert code == 0, out

