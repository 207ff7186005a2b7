"""Login throttling: a bounded count of recent failed logins per account and per client.

Every login attempt counts as a failure until it succeeds, so a burst of parallel
guesses is limited as well as a sequence of them; a success clears its account's
count from that client and takes only itself off the client's count. Two limits
apply, each over a sliding window:

- per (username, client address): a guesser gets a few tries at one account; the
  owner signing in from elsewhere is not locked out by it;
- per client address: a guesser cycling through usernames is stopped too.

The client address is the peer of the connection (forwarded headers are not trusted:
behind a reverse proxy every client shares its address, and the limits become
service-wide); an IPv6 client counts by its /64. State is in memory: a restart
forgets it, and the number of keys kept is bounded so a flood of distinct usernames
cannot grow it without limit.
"""

from __future__ import annotations

import ipaddress
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
        where = client_network(client)
        return ("account", username.casefold(), where), ("client", where)

    def _limit(self, key: Key) -> int:
        return self.limits.per_account if key[0] == "account" else self.limits.per_client

    def retry_after(self, username: str, client: str) -> int | None:
        """Whole seconds until this client may try this account again; None if it may now."""
        now = self._clock()
        wait = max(self._wait(key, now) for key in self._keys(username, client))
        return None if wait <= 0 else max(1, math.ceil(wait))

    def attempt(self, username: str, client: str) -> None:
        """Count an attempt as failed until `succeeded` says otherwise."""
        now = self._clock()
        for key in self._keys(username, client):
            limit = self._limit(key)
            if limit > 0:
                # Only the last `limit` failures ever matter: older ones are dropped.
                self._failures.setdefault(key, deque(maxlen=limit)).append(now)
        if len(self._failures) > MAX_TRACKED_KEYS:
            self._prune(now)

    def succeeded(self, username: str, client: str) -> None:
        """A correct password: the account's failures from this client are forgotten, and
        this attempt stops counting against the client (its other failures still do, or
        signing in to one's own account would reset a guesser's count)."""
        account_key, client_key = self._keys(username, client)
        self._failures.pop(account_key, None)
        times = self._failures.get(client_key)
        if times:
            times.pop()
        if not times:
            self._failures.pop(client_key, None)  # no empty entries: they would only pile up

    def _wait(self, key: Key, now: float) -> float:
        times = self._failures.get(key)
        if times is None:
            return 0.0
        horizon = now - self.limits.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        limit = self._limit(key)
        if len(times) < limit:
            return 0.0
        # Allowed again when enough failures have left the window to go below the limit.
        return times[len(times) - limit] + self.limits.window_s - now

    def _prune(self, now: float) -> None:
        horizon = now - self.limits.window_s
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= horizon]:
            del self._failures[key]
        # Still too many: forget the oldest keys that are not locked out (a dict keeps
        # insertion order). A lockout is never forgotten early, or flooding the table
        # with new usernames would lift it; locked keys are few, each cost `limit` tries.
        excess = len(self._failures) - MAX_TRACKED_KEYS
        if excess > 0:
            unlocked = [k for k, times in self._failures.items() if len(times) < self._limit(k)]
            for key in unlocked[:excess]:
                del self._failures[key]


def client_network(address: str) -> str:
    """What counts as one client: its IPv4 address, or its IPv6 /64 (one host commonly
    holds a whole /64 and could otherwise change address between guesses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket): the string is all there is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)  # an IPv4 client on a dual-stack socket
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
