"""Deliveries per webhook per minute: a sliding window of the last minute's arrivals.

Kept in memory on each node (a limit against floods, not an account), bounded by the
limit per webhook; a webhook's window is forgotten once it empties.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute  # 0: no limit
        self.clock = clock
        self._arrivals: dict[str, deque[float]] = {}

    def admit(self, key: str) -> int:
        """0 when one more delivery for `key` fits in the last minute (it is counted),
        else the seconds until one will (for Retry-After)."""
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        arrivals = self._arrivals.setdefault(key, deque())
        while arrivals and arrivals[0] <= now - WINDOW_S:
            arrivals.popleft()
        if len(arrivals) >= self.per_minute:
            return max(1, math.ceil(arrivals[0] + WINDOW_S - now))
        arrivals.append(now)
        self._prune(now)
        return 0

    def _prune(self, now: float) -> None:
        # Windows of webhooks that went quiet (each holds only arrivals of the last minute).
        if len(self._arrivals) > 1024:
            for key in [k for k, q in self._arrivals.items() if not q or q[-1] <= now - WINDOW_S]:
                del self._arrivals[key]
