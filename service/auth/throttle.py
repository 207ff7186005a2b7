"""Login throttling: a bounded count of recent failed logins per account and per client.

Every login attempt counts as a failure until it succeeds, so a burst of parallel
guesses is limited as well as a sequence of them; a success clears the count of its
account and client. Two limits apply, each over a sliding window:

- per (username, client address): a guesser gets a few tries at one account; the
  owner signing in from elsewhere is not locked out by it;
- per client address: a guesser cycling through usernames is stopped too.

The client address is the peer of the connection (forwarded headers are not trusted:
behind a reverse proxy every client shares its address, and the limits become
service-wide). State is in memory: a restart forgets it, and the number of keys kept
is bounded so a flood of distinct usernames cannot grow it without limit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED_KEYS = 10_000

Key = tuple[str, ...]


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int  # failures per (username, client) within the window; 0: no limit
    per_client: int  # failures per client within the window; 0: no limit
    window_s: float


class LoginThrottle:
    def __init__(self, limits: ThrottleLimits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._failures: dict[Key, deque[float]] = {}

    def __len__(self) -> int:
        """How many accounts and clients it is tracking."""
        return len(self._failures)

    @staticmethod
    def _keys(username: str, client: str) -> tuple[Key, Key]:
        return ("account", username.casefold(), client), ("client", client)

    def retry_after(self, username: str, client: str) -> int | None:
        """Whole seconds until this client may try this account again; None if it may now."""
        now = self._clock()
        account_key, client_key = self._keys(username, client)
        waits = [
            self._wait(key, limit, now)
            for key, limit in ((account_key, self.limits.per_account),
                               (client_key, self.limits.per_client))
        ]
        wait = max(waits)
        return None if wait <= 0 else max(1, math.ceil(wait))

    def attempt(self, username: str, client: str) -> None:
        """Count an attempt as failed until `succeeded` says otherwise."""
        now = self._clock()
        for key in self._keys(username, client):
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > MAX_TRACKED_KEYS:
            self._prune(now)

    def succeeded(self, username: str, client: str) -> None:
        """Forget the failures of this account and this client (a correct password)."""
        for key in self._keys(username, client):
            self._failures.pop(key, None)

    def _wait(self, key: Key, limit: int, now: float) -> float:
        times = self._failures.get(key)
        if times is None or limit <= 0:
            return 0.0
        horizon = now - self.limits.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < limit:
            return 0.0
        # Allowed again when enough failures have left the window to go below the limit.
        return times[len(times) - limit] + self.limits.window_s - now

    def _prune(self, now: float) -> None:
        horizon = now - self.limits.window_s
        for key in [k for k, times in self._failures.items() if times[-1] <= horizon]:
            del self._failures[key]
        # Still too many live keys: forget the oldest ones (a dict keeps insertion order).
        excess = len(self._failures) - MAX_TRACKED_KEYS
        for key in list(self._failures)[:max(0, excess)]:
            del self._failures[key]
