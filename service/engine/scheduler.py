"""`max_concurrent_runs`: runs beyond the limit wait as `pending`, first come first served.

A run with nothing to do but wait for a person (every node it has going waits for an
answer) is *parked*: it keeps its driver but not its slot, so runs waiting for approval
can never hold the service still. Answered, it takes a slot again at once, over the
limit if need be (it was admitted once; making it queue would hold the person's answer).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class Scheduler:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.active: set[str] = set()
        self.parked: set[str] = set()
        self._queue: OrderedDict[str, Callable[[], None]] = OrderedDict()

    def submit(self, run_id: str, start: Callable[[], None], bypass: bool = False) -> None:
        """Start now if a slot is free (or `bypass`: child runs, whose parents hold a slot)."""
        if bypass or (len(self.active) < self.limit and not self._queue):
            self.active.add(run_id)
            start()
        else:
            self._queue[run_id] = start

    def park(self, run_id: str, parked: bool, start_next: bool = True) -> None:
        """Mark the run as only waiting for answers (its slot goes to the queue) or busy."""
        if parked and run_id in self.active:
            self.active.discard(run_id)
            self.parked.add(run_id)
            self._start_queued(start_next)
        elif not parked and run_id in self.parked:
            self.parked.discard(run_id)
            self.active.add(run_id)

    def release(self, run_id: str, start_next: bool = True) -> None:
        self.active.discard(run_id)
        self.parked.discard(run_id)
        self._start_queued(start_next)

    def _start_queued(self, start_next: bool) -> None:
        while start_next and self._queue and len(self.active) < self.limit:
            next_id, start = self._queue.popitem(last=False)
            self.active.add(next_id)
            start()

    def withdraw(self, run_id: str) -> bool:
        """Take a queued run out of the queue; False when it is not queued."""
        return self._queue.pop(run_id, None) is not None

    def queued(self) -> list[str]:
        return list(self._queue)

    def clear(self) -> None:
        self.active.clear()
        self.parked.clear()
        self._queue.clear()
