"""Login throttling: a bounded count of recent failed logins per account and per client,
kept in the database so that every node of a cluster counts the same failures.

Every login attempt counts as a failure until it succeeds, so a burst of parallel
guesses is limited as well as a sequence of them; a success clears its account's
count from that client and takes only itself off the client's count. Two limits
apply, each over a sliding window:

- per (username, client address): a guesser gets a few tries at one account; the
  owner signing in from elsewhere is not locked out by it;
- per client address: a guesser cycling through usernames is stopped too.

The client address is the peer of the connection (forwarded headers are not trusted:
behind a reverse proxy every client shares its address, and the limits become
service-wide); an IPv6 client counts by its /64.

One row per account or client holds the times of its last `limit` failures (the only
ones that can matter), and goes once they have all left the window. Checking and
counting an attempt is one transaction that locks the rows it reads (an upsert, on
both backends), so parallel guesses on several nodes take turns rather than all
passing the check before any of them is counted. Times are the nodes' wall clocks.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from eventstore.tables import SECONDS_COLUMN, Tables, TableStore, Transaction

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS login_failures (
        key        TEXT PRIMARY KEY,
        times      TEXT NOT NULL,
        expires_at {seconds} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS login_failures_expiry ON login_failures (expires_at)",
)


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int  # failures per (username, client) within the window; 0: no limit
    per_client: int  # failures per client within the window; 0: no limit
    window_s: float


class LoginThrottle:
    def __init__(self, store: TableStore, limits: ThrottleLimits,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = Tables(store)
        self.limits = limits
        self._clock = clock

    async def ensure_schema(self) -> None:
        seconds = SECONDS_COLUMN[self.db.dialect]
        await self.db.ensure_tables([s.format(seconds=seconds) for s in _SCHEMA])

    @staticmethod
    def _keys(username: str, client: str) -> tuple[str, str]:
        where = client_network(client)
        # The client first: a guesser it stops leaves no row for each username it tries.
        return f"client\n{where}", f"account\n{username.casefold()}\n{where}"

    def _limit(self, key: str) -> int:
        return self.limits.per_client if key.startswith("client") else self.limits.per_account

    async def tracked(self) -> int:
        """How many accounts and clients it is keeping failures of."""
        rows = await self.db.fetch_all("SELECT count(*) FROM login_failures")
        return int(rows[0][0])

    async def attempt(self, username: str, client: str) -> int | None:
        """Count an attempt as failed until `succeeded` says otherwise, and return None;
        or, if this client may not try this account now, count nothing and return the
        whole seconds until it may."""
        now = self._clock()
        window = self.limits.window_s

        async def unit(tx: Transaction) -> int | None:
            await tx.execute("DELETE FROM login_failures WHERE expires_at <= ?", (now,))
            counted: list[tuple[str, list[float]]] = []
            for key in self._keys(username, client):
                limit = self._limit(key)
                if limit <= 0:
                    continue
                times = [t for t in await _locked_times(tx, key, now + window)
                         if t > now - window]
                if len(times) >= limit:
                    # Allowed again when enough failures have left the window.
                    wait = times[len(times) - limit] + window - now
                    await _drop_if_empty(tx, key)
                    for earlier, _ in counted:
                        await _drop_if_empty(tx, earlier)
                    return max(1, math.ceil(wait))
                counted.append((key, times))
            for key, times in counted:
                kept = [*times, now][-self._limit(key):]
                await tx.execute(
                    "UPDATE login_failures SET times = ?, expires_at = ? WHERE key = ?",
                    (orjson.dumps(kept).decode(), kept[-1] + window, key))
            return None

        return await self.db.write(unit)

    async def succeeded(self, username: str, client: str) -> None:
        """A correct password: the account's failures from this client are forgotten, and
        this attempt stops counting against the client (its other failures still do, or
        signing in to one's own account would reset a guesser's count)."""
        client_key, account_key = self._keys(username, client)
        window = self.limits.window_s

        async def unit(tx: Transaction) -> None:
            await tx.execute("DELETE FROM login_failures WHERE key = ?", (account_key,))
            times = await _locked_times(tx, client_key, self._clock() + window)
            if times[:-1]:
                await tx.execute(
                    "UPDATE login_failures SET times = ?, expires_at = ? WHERE key = ?",
                    (orjson.dumps(times[:-1]).decode(), times[-2] + window, client_key))
            else:  # no empty rows: they would only pile up
                await tx.execute("DELETE FROM login_failures WHERE key = ?", (client_key,))

        await self.db.write(unit)


async def _locked_times(tx: Transaction, key: str, expires_at: float) -> list[float]:
    """The key's failure times, its row created if need be and locked to the commit."""
    # An upsert locks the row on PostgreSQL (SQLite has one writer at a time anyway) and
    # returns its latest committed value, even one committed after this transaction began.
    row = (await tx.execute(
        "INSERT INTO login_failures (key, times, expires_at) VALUES (?, '[]', ?)"
        " ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING times",
        (key, expires_at))).first()
    return [float(t) for t in orjson.loads(row[0])] if row is not None else []


async def _drop_if_empty(tx: Transaction, key: str) -> None:
    await tx.execute("DELETE FROM login_failures WHERE key = ? AND times = '[]'", (key,))


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
