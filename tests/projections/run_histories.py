"""Run histories as the engine would write them, for projection and rebuild tests."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from eventstore.interface import NO_STREAM, EventStore
from eventstore.records import NewEvent
from projections.vocabulary import EventType as E
from projections.vocabulary import RunStatus

OUTCOMES = {
    RunStatus.COMPLETED: 50, RunStatus.FAILED: 15, RunStatus.CANCELLED: 8,
    RunStatus.RUNNING: 12, RunStatus.WAITING: 5, RunStatus.PENDING: 10,
}


def created(workflow_id: str, name: str, workspace: str = "ws-1", **extra: Any) -> NewEvent:
    data = {"workflowId": workflow_id, "workflowVersion": 1, "workflowName": name,
            "workspaceId": workspace, "inputs": {}, "envNames": [], "createdBy": "user-1"}
    return NewEvent(E.RUN_CREATED, {**data, **extra})


def node(type_: str, node_id: str, **data: Any) -> NewEvent:
    return NewEvent(type_, {"nodeId": node_id, **data})


@dataclass
class PlannedRun:
    run_id: str
    workflow_id: str
    outcome: RunStatus
    appends: list[list[NewEvent]] = field(default_factory=list)


def random_run(
    rng: random.Random, run_id: str, workflow: tuple[str, str], parent: str | None,
    rerun_of: str | None = None,
) -> PlannedRun:
    """A run that ends in a weighted-random status, with retries, skips and waits on the way
    (a rerun of `rerun_of` when given)."""
    outcome = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
    rerun = {"runId": rerun_of, "fromNode": "node-0" if rng.random() < 0.5 else None,
             "reused": {}} if rerun_of else None
    events = [created(workflow[0], workflow[1], workspace=f"ws-{rng.randint(1, 2)}",
                      chatId=f"chat-{rng.randint(1, 5)}" if rng.random() < 0.3 else None,
                      parentRunId=parent, parentNodeId="spawn" if parent else None,
                      inputs={"n": rng.randint(0, 99)}, trigger={"type": "api", "data": {}},
                      rerunOf=rerun)]
    if outcome != RunStatus.PENDING:
        events.append(NewEvent(E.RUN_STARTED))
        nodes = rng.randint(1, 4)
        for k in range(nodes):
            node_id = f"node-{k}"
            last = k == nodes - 1
            attempts = 1 + (rng.randint(1, 2) if rng.random() < 0.25 else 0)
            for attempt in range(1, attempts + 1):
                events.append(node(E.NODE_STARTED, node_id, nodeName=f"Step {k}",
                                   nodeType=rng.choice(["http", "code", "llm"]),
                                   attempt=attempt, input={"k": k}))
                if rng.random() < 0.4:
                    events.append(node(E.NODE_PROGRESS, node_id, progress=rng.randint(1, 99),
                                       message="working"))
                if rng.random() < 0.2:
                    events.append(node(E.NODE_THINKING, node_id, text="hmm"))
                if attempt < attempts:
                    events.append(node(E.NODE_FAILED, node_id, attempt=attempt,
                                       error={"message": "flaky"}, willRetry=True))
            if last and outcome == RunStatus.RUNNING:
                break
            if last and outcome == RunStatus.WAITING:
                events += [node(E.NODE_WAITING, node_id, prompt="approve?"),
                           NewEvent(E.RUN_WAITING)]
                break
            if last and outcome == RunStatus.FAILED:
                events.append(node(E.NODE_FAILED, node_id, attempt=attempts,
                                   error="hard failure", willRetry=False))
                break
            if last and outcome == RunStatus.CANCELLED:
                events += [NewEvent(E.RUN_CANCEL_REQUESTED, {"reason": "user", "by": "user-1"}),
                           node(E.NODE_CANCELLED, node_id)]
                break
            if rng.random() < 0.15:
                events += [node(E.NODE_WAITING, node_id, prompt="ok?"), NewEvent(E.RUN_WAITING),
                           node(E.NODE_RESUMED, node_id, by="user-2", data={"ok": True}),
                           NewEvent(E.RUN_RESUMED)]
            events.append(node(E.NODE_COMPLETED, node_id, attempt=attempts,
                               output={"k": k}, durationMs=rng.randint(1, 5000)))
            if rng.random() < 0.1:
                events.append(node(E.NODE_SKIPPED, f"skipped-{k}", nodeName="Branch",
                                   nodeType="if"))
        terminal = {RunStatus.COMPLETED: NewEvent(E.RUN_COMPLETED, {"output": {"ok": True}}),
                    RunStatus.FAILED: NewEvent(E.RUN_FAILED, {"error": {"message": "boom"}}),
                    RunStatus.CANCELLED: NewEvent(E.RUN_CANCELLED, {"reason": None})}
        if outcome in terminal:
            events.append(terminal[outcome])
    planned = PlannedRun(run_id, workflow[0], outcome)
    # The engine appends one to three events at a time.
    while events:
        size = rng.randint(1, 3)
        planned.appends.append(events[:size])
        events = events[size:]
    return planned


def random_runs(seed: int, runs: int, workflows: int) -> list[PlannedRun]:
    rng = random.Random(seed)
    names = [(f"wf-{w}", f"Workflow {w} {rng.choice(['sync', 'report', 'ingest'])}")
             for w in range(workflows)]
    planned: list[PlannedRun] = []
    for r in range(runs):
        parent = planned[rng.randrange(len(planned))].run_id if planned and rng.random() < 0.1 else None
        rerun_of = (planned[rng.randrange(len(planned))].run_id
                    if planned and not parent and rng.random() < 0.1 else None)
        planned.append(random_run(rng, f"run-{seed}-{r:04d}", rng.choice(names), parent,
                                  rerun_of))
    return planned


async def append_concurrently(store: EventStore, runs: list[PlannedRun], width: int = 20) -> None:
    """Append every run's history, `width` runs at a time, interleaved as a live engine would."""
    gate = asyncio.Semaphore(width)

    async def play(run: PlannedRun) -> None:
        async with gate:
            version = NO_STREAM
            for events in run.appends:
                version = (await store.append(run.run_id, events, version))[-1].version
                await asyncio.sleep(0)

    await asyncio.gather(*(play(run) for run in runs))
