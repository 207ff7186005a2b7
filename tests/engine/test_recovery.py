"""Crash recovery: a process driving runs is SIGKILLed; a new engine finishes every run.

A local HTTP server (in this test process) counts the side effects, so we can see
that completed nodes never ran twice and the interrupted node ran once more.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.workflows import WorkflowRepository
from tests.support.engine import CountingServer, make_engine

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4

CHILD = """
import asyncio, sys
import orjson
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from service.engine.engine import Engine
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository

async def main(db, base, runs):
    store = await SQLiteEventStore.open(db, projectors=all_projections())
    repo = WorkflowRepository(store)
    await repo.ensure_schema()
    engine = Engine(store, repo, EngineSettings(http_allow_hosts=("127.0.0.1",)))
    await engine.start()
    work = await repo.create("default", {"name": "side effects", "nodes": [
        {"id": "a", "type": "http_request", "params": {"url": base + "/a-{{inputs.i}}"}},
        {"id": "b", "type": "http_request", "after": ["a"],
         "params": {"url": base + "/b-{{inputs.i}}?sleep_first=30"}},
        {"id": "c", "type": "http_request", "after": ["b"],
         "params": {"url": base + "/c-{{inputs.i}}"}}]}, "child")
    gate = await repo.create("default", {"name": "gate", "nodes": [
        {"id": "ask", "type": "approval", "params": {"prompt": "ok?"}},
        {"id": "after", "type": "http_request", "after": ["ask"],
         "params": {"url": base + "/gate"}}]}, "child")
    ids = [await engine.start_run(work.id, "default", {"i": i}, {}, "child")
           for i in range(runs)]
    ids.append(await engine.start_run(gate.id, "default", {}, {}, "child"))
    print(orjson.dumps(ids).decode(), flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.mark.slow
async def test_a_killed_engine_resumes_every_run_without_repeating_work(
    tmp_path: Path, counting_server: CountingServer,
) -> None:
    db = tmp_path / "runstream.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(db), counting_server.base, str(RUNS),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        run_ids = orjson.loads(line)
        # Mid-flight: every run's slow node "b" has reached the server, none finished.
        await counting_server.until(
            lambda hits: all(hits.get(f"b-{i}") for i in range(RUNS)))
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = await SQLiteEventStore.open(db, projectors=all_projections())
    repo = WorkflowRepository(store)
    engine = make_engine(store, repo)
    try:
        await engine.start()
        *work_runs, gate_run = run_ids
        statuses = await asyncio.wait_for(
            asyncio.gather(*(engine.wait(r) for r in work_runs)), 20)
        assert statuses == [RunStatus.COMPLETED] * RUNS
        for i, run_id in enumerate(work_runs):
            assert counting_server.hits[f"a-{i}"] == 1  # completed before the crash: not re-run
            assert counting_server.hits[f"b-{i}"] == 2  # in flight: run again
            assert counting_server.hits[f"c-{i}"] == 1
            events = [e.payload for e in await store.read(run_id)
                      if e.type == EventType.NODE_STARTED]
            assert [(d["nodeId"], d["attempt"]) for d in events] == [
                ("a", 1), ("b", 1), ("b", 2), ("c", 1)]
        # The waiting node keeps waiting across the restart, then resumes normally.
        state = await engine.run_state(gate_run)
        assert state.status == RunStatus.WAITING
        assert state.nodes["ask"].status == NodeStatus.WAITING
        assert await engine.resume(gate_run, "ask", "ops", {"ok": True}) == "resumed"
        assert await asyncio.wait_for(engine.wait(gate_run), 10) == RunStatus.COMPLETED
        assert counting_server.hits["gate"] == 1
        waits = [e for e in await store.read(gate_run) if e.type == EventType.NODE_WAITING]
        assert len(waits) == 1
        assert (await store.verify()).ok
    finally:
        await engine.stop()
        await store.close()
