"""Run leases on PostgreSQL: every unfinished run is driven by exactly one node.

Store level: an append made under a lease another owner took over is refused and writes
nothing; nodes claiming at once take different runs. Process level, with real `runstream
serve` nodes on one database: a node killed mid-run has its run finished by another; a
node frozen past its lease (SIGSTOP) writes nothing for the run it lost when it wakes; a
node without room leaves new runs queued for a node with room; a cancel reaches a queued
run from any node; a clean stop hands the leases back at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.errors import LeaseLost
from eventstore.interface import NO_STREAM
from eventstore.postgres import PostgresEventStore
from eventstore.records import NewEvent
from tests.support.api import APPROVAL_WORKFLOW
from tests.support.cluster import Cluster
from tests.support.polling import wait_for
from tests.support.server_process import create_workflow

pytestmark = pytest.mark.slow

TTL_S = 2.0
SLOW = {"name": "slow", "nodes": [
    {"id": "wait", "type": "delay", "params": {"ms": 2500}},
    {"id": "after", "type": "noop", "after": ["wait"]}]}


async def test_an_append_under_a_lease_taken_over_is_refused(own_database: str) -> None:
    store = await PostgresEventStore.open(own_database)
    first, second = store.leases("a/1", TTL_S), store.leases("b/1", TTL_S)
    try:
        fence = await first.take("run-1", run_here=True)
        assert fence is not None
        await store.append("run-1", [NewEvent("RunCreated", {})], NO_STREAM, fence)
        assert await second.claim(5) == []  # held, and not expired
        # `first` does not renew: once its lease expires, `second` takes the run over.
        taken = await wait_for_claim(second)
        assert taken.epoch == fence.epoch + 1
        with pytest.raises(LeaseLost):
            await store.append("run-1", [NewEvent("RunStarted", {})], 1, fence)
        await store.append("run-1", [NewEvent("RunStarted", {})], 1, taken)
        assert [e.type for e in await store.read("run-1")] == ["RunCreated", "RunStarted"]
        assert (await store.verify()).ok
    finally:
        await store.close()


async def wait_for_claim(book: Any) -> Any:
    claimed: list[Any] = []

    async def taken() -> bool:
        claimed.extend(await book.claim(5))
        return bool(claimed)

    await wait_for(taken, TTL_S * 5, "the expired lease was never claimed", every_s=0.1)
    (fence,) = claimed
    return fence


async def test_nodes_claiming_at_once_take_different_runs(own_database: str) -> None:
    store = await PostgresEventStore.open(own_database)
    books = [store.leases(f"n{i}/1", TTL_S) for i in range(4)]
    try:
        for i in range(40):
            await books[0].take(f"run-{i}", run_here=False)
            await store.append(f"run-{i}", [NewEvent("RunCreated", {})], NO_STREAM)
        await books[0].take("never-recorded", run_here=False)  # no events: never claimed
        claims = await asyncio.gather(*(book.claim(15) for book in books))
        keys = [fence.key for fences in claims for fence in fences]
        assert len(keys) == len(set(keys)) == 40
        # Oldest first: the first claimer's runs are in the order they were queued.
        assert all(fences == sorted(fences, key=lambda f: int(f.key.split("-")[1]))
                   for fences in claims)
        assert await books[1].claim(10) == []
        held = await store.fetch_all("SELECT count(*) FROM run_leases WHERE owner IS NOT NULL")
        assert held[0][0] == 40
    finally:
        await store.close()


async def cluster_of(tmp_path: Path, url: str, *names: str, **settings: Any) -> Cluster:
    cluster = Cluster(tmp_path, url, names, engine__lease_ttl_s=TTL_S, **settings)
    try:
        await cluster.start()
    except BaseException:
        await cluster.stop()
        raise
    return cluster


async def start(cluster: Cluster, via: int, workflow_id: str) -> str:
    """Start a run through node `via` and leave it running (the stream is let go of)."""
    api = cluster.apis[via]
    async with api.http.post(f"{api.base}/api/v1/workflow-runs/execute/stream",
                             json={"workflowId": workflow_id}, headers=api.headers()) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["X-Workflow-Run-Id"]


async def finished(cluster: Cluster, run_id: str, via: int, within_s: float = 30) -> str:
    answer: dict[str, Any] = {}

    async def done() -> bool:
        status, body = await cluster.apis[via].request("GET", f"/api/v1/workflow-runs/{run_id}")
        answer.update(body.get("data") or {})
        return status == 200 and answer.get("status") in ("completed", "failed", "cancelled")

    await wait_for(done, within_s, lambda: f"the run did not finish: {answer}", every_s=0.1)
    return str(answer["status"])


def check_driven_once(events: list[dict[str, Any]]) -> None:
    """One RunStarted, one end, and no node attempt started or completed twice."""
    types = Counter(e["type"] for e in events)
    assert types["RunStarted"] == 1, types
    assert types["RunCompleted"] + types["RunFailed"] + types["RunCancelled"] == 1, types
    for kind in ("NodeStarted", "NodeCompleted"):
        attempts = Counter((e["data"]["nodeId"], e["data"].get("attempt"))
                           for e in events if e["type"] == kind)
        assert all(n == 1 for n in attempts.values()), (kind, attempts)


async def test_a_killed_nodes_run_is_finished_by_another(own_database: str,
                                                         tmp_path: Path) -> None:
    cluster = await cluster_of(tmp_path, own_database, "k1", "k2")
    try:
        workflow = await create_workflow(cluster.apis[0], SLOW)
        run_id = await start(cluster, 0, workflow)
        await wait_for(lambda: node_started(cluster, run_id), 10, "the delay never started")
        await cluster.nodes[0].kill()
        assert await finished(cluster, run_id, via=1) == "completed"
        events = await cluster.events(run_id, via=1)
        check_driven_once(events)
        # The delay in flight when its node died completed once, on the other node.
        assert len([e for e in events if e["type"] == "NodeCompleted"
                    and e["data"]["nodeId"] == "wait"]) == 1
    finally:
        await cluster.stop()
    assert run_id in claims_logged(cluster.nodes[1])


async def test_a_run_and_its_subworkflow_child_move_together(own_database: str,
                                                            tmp_path: Path) -> None:
    cluster = await cluster_of(tmp_path, own_database, "s1", "s2")
    try:
        await create_workflow(cluster.apis[0], {**SLOW, "name": "slow child"})
        parent = await create_workflow(cluster.apis[0], {"name": "parent", "nodes": [
            {"id": "sub", "type": "subworkflow", "params": {"workflow": "slow child"}}]})
        run_id = await start(cluster, 0, parent)
        await wait_for(lambda: node_started(cluster, run_id), 10, "the parent never started")
        await asyncio.sleep(0.5)  # the child's delay is going
        await cluster.nodes[0].kill()
        assert await finished(cluster, run_id, via=1) == "completed"
        status, body = await cluster.apis[1].request("GET", "/api/v1/events?limit=1000")
        assert status == 200, body
        streams: dict[str, list[dict[str, Any]]] = {}
        for event in body["data"]:
            streams.setdefault(event["stream"], []).append(event)
        runs = {stream: events for stream, events in streams.items()
                if events[0]["type"] == "RunCreated"}
        assert len(runs) == 2  # the parent and its one child
        for events in runs.values():
            check_driven_once(events)
    finally:
        await cluster.stop()
    # The parent's lease carried the child: s2 claimed the root and drove both.
    assert run_id in claims_logged(cluster.nodes[1])


async def node_started(cluster: Cluster, run_id: str) -> bool:
    return any(e["type"] == "NodeStarted" for e in await cluster.events(run_id))


async def test_a_node_frozen_past_its_lease_writes_nothing_for_the_run_it_lost(
        own_database: str, tmp_path: Path) -> None:
    cluster = await cluster_of(tmp_path, own_database, "f1", "f2")
    frozen = cluster.nodes[0]
    try:
        workflow = await create_workflow(cluster.apis[0], SLOW)
        run_id = await start(cluster, 0, workflow)
        await wait_for(lambda: node_started(cluster, run_id), 10, "the delay never started")
        assert frozen.proc is not None
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            assert await finished(cluster, run_id, via=1) == "completed"
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
        before = await cluster.events(run_id, via=1)
        # Awake again, its delay ends and its lease renewal finds the lease gone: it stops
        # the run, and whatever it would still record is refused by the fence.
        await asyncio.sleep(TTL_S * 2)
        await frozen.stop()  # its log is complete once it has exited
        assert run_id in claims_logged(frozen, "run_lease_lost")
        after = await cluster.events(run_id, via=1)
        assert after == before
        check_driven_once(after)
    finally:
        await cluster.stop()


def claims_logged(node: Any, event: str = "run_claimed") -> set[str]:
    """The run ids of the node's log lines of `event` (read once the node has exited)."""
    found = set()
    for line in node.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry.get("event") == event:
                found.add(entry["run_id"])
    return found


async def test_a_full_node_leaves_new_runs_for_a_node_with_room(
        own_database: str, tmp_path: Path) -> None:
    cluster = await cluster_of(tmp_path, own_database, "q1", "q2",
                               engine__max_concurrent_runs=1)
    try:
        workflow = await create_workflow(cluster.apis[0], SLOW)
        runs = [await start(cluster, 0, workflow) for _ in range(3)]
        # q1 runs the first; the second is queued and q2 (room for one) claims it; the third
        # waits for whichever node frees its slot first.
        statuses = [await finished(cluster, run_id, via=1) for run_id in runs]
        assert statuses == ["completed"] * 3
        for run_id in runs:
            check_driven_once(await cluster.events(run_id))
        # A queued run is cancelled from either node: q2 is busy, q1 takes it to cancel it.
        blockers = [await start(cluster, i, workflow) for i in (0, 1)]
        queued = await start(cluster, 0, workflow)
        status, body = await cluster.apis[1].request(
            "POST", "/api/v1/workflow-runs/cancel", json={"runIds": [queued]})
        assert status == 200, body
        assert await finished(cluster, queued, via=0) == "cancelled"
        for run_id in blockers:
            assert await finished(cluster, run_id, via=0) == "completed"
    finally:
        await cluster.stop()
    assert runs[1] in claims_logged(cluster.nodes[1])
    assert runs[0] not in claims_logged(cluster.nodes[1]) | claims_logged(cluster.nodes[0])


async def test_a_clean_stop_hands_the_leases_back_at_once(own_database: str,
                                                          tmp_path: Path) -> None:
    # A long lease: only the hand-back can move the run this fast.
    cluster = Cluster(tmp_path, own_database, ("h1", "h2"), engine__lease_ttl_s=600)
    await cluster.start()
    try:
        workflow = await create_workflow(cluster.apis[0], SLOW)
        run_id = await start(cluster, 0, workflow)
        await wait_for(lambda: node_started(cluster, run_id), 10, "the delay never started")
        await cluster.nodes[0].stop()
        assert await finished(cluster, run_id, via=1, within_s=20) == "completed"
        check_driven_once(await cluster.events(run_id, via=1))
    finally:
        await cluster.stop()


async def test_approvals_and_cancels_reach_the_node_driving_the_run(
        own_database: str, tmp_path: Path) -> None:
    cluster = await cluster_of(tmp_path, own_database, "r1", "r2")
    try:
        gated = await create_workflow(cluster.apis[0], APPROVAL_WORKFLOW)
        run_id = await start(cluster, 0, gated)

        async def waiting() -> bool:
            status, body = await cluster.apis[1].request("GET", f"/api/v1/workflow-runs/{run_id}")
            return status == 200 and body["data"]["status"] == "waiting"

        await wait_for(waiting, 10, "the run never waited")
        # r2 does not drive the run: r1 answers, through r2, as if the request reached it.
        status, body = await cluster.apis[1].request(
            "POST", f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume", json={})
        assert status == 200, body
        status, body = await cluster.apis[1].request(
            "POST", f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume", json={})
        assert status == 409, body  # answered once
        assert await finished(cluster, run_id, via=1) == "completed"
        check_driven_once(await cluster.events(run_id))

        slow = await create_workflow(cluster.apis[0], SLOW)
        running = await start(cluster, 0, slow)
        await wait_for(lambda: node_started(cluster, running), 10, "the delay never started")
        status, body = await cluster.apis[1].request(
            "POST", "/api/v1/workflow-runs/cancel", json={"runIds": [running]})
        assert status == 200, body
        assert await finished(cluster, running, via=1) == "cancelled"
        check_driven_once(await cluster.events(running))
    finally:
        await cluster.stop()
    assert run_id not in claims_logged(cluster.nodes[1])
