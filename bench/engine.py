"""Engine throughput: per-node overhead on 1,000-node graphs, and runs/s with 50 concurrent.

Every transition is durable (synchronous=FULL). noop is a pure node type, run inline
by the engine (NodeStarted + NodeCompleted in one commit); the `_async` figures use
`delay` with ms=0, which goes through a node task and one commit per transition round,
to show the cost of a node with real work.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import note, report, scratch_dir
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import RunStatus
from service.engine.engine import Engine
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository

NODES = 1000
RUNS = 1000
CONCURRENT = 50


def chain(node_type: str, n: int) -> dict[str, Any]:
    params = {"ms": 0} if node_type == "delay" else {}
    return {"name": f"chain {node_type}", "nodes": [
        {"id": f"n{i}", "type": node_type, "params": params,
         "after": [f"n{i - 1}"] if i else []} for i in range(n)]}


def fan_out(node_type: str, n: int) -> dict[str, Any]:
    params = {"ms": 0} if node_type == "delay" else {}
    return {"name": f"fan {node_type}", "nodes": [{"id": "root", "type": "noop"}] + [
        {"id": f"n{i}", "type": node_type, "params": params, "after": ["root"]}
        for i in range(n - 1)]}


TEN_NODES = {"name": "ten", "trigger": {"staticData": {"score": 5}}, "nodes": [
    {"id": "in", "type": "transform", "params": {"value": {"score": "{{inputs.score}}"}}},
    {"id": "check", "type": "condition", "after": ["in"],
     "params": {"left": "{{nodes.in.output.score}}", "op": "gte", "right": 3}},
    {"id": "hi", "type": "transform", "after": [{"node": "check", "branch": True}],
     "params": {"value": "high"}},
    {"id": "lo", "type": "transform", "after": [{"node": "check", "branch": False}],
     "params": {"value": "low"}},
    *[{"id": f"w{i}", "type": "noop", "after": ["hi", "lo"]} for i in range(4)],
    {"id": "join", "type": "noop", "after": [f"w{i}" for i in range(4)]},
    {"id": "out", "type": "transform", "after": ["join"],
     "params": {"value": {"result": "{{nodes.hi.output}}"}}},
]}

TEN_ASYNC = {"name": "ten async", "nodes": [
    {"id": f"d{i}", "type": "delay", "params": {"ms": 0}, "after": [f"d{i - 1}"] if i else []}
    for i in range(10)]}


async def one_run(engine: Engine, repo: WorkflowRepository, definition: dict[str, Any]) -> float:
    workflow = await repo.create("default", definition, "bench")
    started = time.perf_counter()
    run_id = await engine.start_run(workflow.id, "default", {}, {}, "bench")
    status = await engine.wait(run_id)
    assert status == RunStatus.COMPLETED, status
    return time.perf_counter() - started


async def many_runs(engine: Engine, repo: WorkflowRepository,
                    definition: dict[str, Any]) -> float:
    workflow = await repo.create("default", definition, "bench")
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(RUNS):
        queue.put_nowait(i)

    async def client() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            run_id = await engine.start_run(workflow.id, "default", {"score": i % 10}, {},
                                            "bench")
            assert await engine.wait(run_id) == RunStatus.COMPLETED

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENT)))
    return RUNS / (time.perf_counter() - started)


async def main() -> None:
    with scratch_dir("bench-engine-") as directory:
        store = await SQLiteEventStore.open(directory / "runstream.db",
                                            projectors=all_projections())
        repo = WorkflowRepository(store)
        await repo.ensure_schema()
        engine = Engine(store, repo, EngineSettings(max_concurrent_runs=CONCURRENT))
        await engine.start()
        try:
            note("synchronous=FULL, projections applied in the same transactions")
            for name, definition in (
                ("engine_chain_noop_per_node", chain("noop", NODES)),
                ("engine_fanout_noop_per_node", fan_out("noop", NODES)),
                ("engine_chain_async_per_node", chain("delay", NODES)),
                ("engine_fanout_async_per_node", fan_out("delay", NODES)),
            ):
                elapsed = await one_run(engine, repo, definition)
                report(name, elapsed * 1000 / NODES, "ms")
            report("engine_runs_10_nodes_50_concurrent", await many_runs(engine, repo, TEN_NODES),
                   "runs/s")
            report("engine_runs_10_async_nodes_50_concurrent",
                   await many_runs(engine, repo, TEN_ASYNC), "runs/s")
        finally:
            await engine.stop()
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
