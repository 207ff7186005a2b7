"""`max_concurrent_runs`: runs beyond the limit wait as `pending`, first come first served."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class Scheduler:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.active: set[str] = set()
        self._queue: OrderedDict[str, Callable[[], None]] = OrderedDict()

    def submit(self, run_id: str, start: Callable[[], None], bypass: bool = False) -> None:
        """Start now if a slot is free (or `bypass`: child runs, whose parents hold a slot)."""
        if bypass or (len(self.active) < self.limit and not self._queue):
            self.active.add(run_id)
            start()
        else:
            self._queue[run_id] = start

    def release(self, run_id: str, start_next: bool = True) -> None:
        self.active.discard(run_id)
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
        self._queue.clear()
