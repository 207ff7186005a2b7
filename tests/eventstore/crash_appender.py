"""Child process for test_eventstore_crash: append run histories until killed.

Prints `position stream version` for every event whose append was acknowledged,
flushed at once, so the parent knows exactly what the store promised.
Usage: python crash_appender.py DB_PATH WRITERS RUN_PREFIX
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from eventstore.interface import NO_STREAM
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections


def run_history(run_id: str) -> list[list[NewEvent]]:
    """A run's appends, one list per append call (some calls append several events)."""
    return [
        [NewEvent("RunCreated", {"workflowId": "wf-crash", "workflowName": "Crash",
                                 "workspaceId": "ws-1", "inputs": {"run": run_id}})],
        [NewEvent("RunStarted"),
         NewEvent("NodeStarted", {"nodeId": "a", "nodeName": "A", "nodeType": "code",
                                  "attempt": 1})],
        [NewEvent("NodeCompleted", {"nodeId": "a", "attempt": 1, "output": {"ok": True},
                                    "durationMs": 3})],
        [NewEvent("RunCompleted", {"output": {"ok": True}})],
    ]


async def writer(store: SQLiteEventStore, prefix: str, number: int) -> None:
    out = sys.stdout
    for run in range(1_000_000):
        run_id = f"{prefix}-{number}-{run}"
        version = NO_STREAM
        for events in run_history(run_id):
            recorded = await store.append(run_id, events, version)
            version = recorded[-1].version
            out.write("".join(f"{e.position} {e.stream} {e.version}\n" for e in recorded))
            out.flush()


async def main(path: Path, writers: int, prefix: str) -> None:
    store = await SQLiteEventStore.open(path, projectors=all_projections(), synchronous="FULL")
    await asyncio.gather(*(writer(store, prefix, n) for n in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
