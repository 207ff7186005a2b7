"""Run leases: which node drives which run, on a log several nodes share.

A lease is held per *key* (a root run: its subworkflow children go with it) by one owner,
with an epoch that grows by one at every change of owner and an expiry in the database's
clock. Every append may carry the `Fence` it was made under; the store refuses it
(LeaseLost) unless the lease still has that owner and epoch, checked in the append's own
transaction. So a node that was frozen or cut off past its lease cannot write for a run
another node has taken over, whatever it believes.

A backend that serves one node only (SQLite: the data directory is locked by one process)
has no leases: `EventStore.leases` answers None and every run is this node's.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease an append is made under: refused unless `owner` still holds `key` at `epoch`."""

    key: str
    owner: str
    epoch: int


# Told by the renewal thread, after each renewal, what the owner still holds: key -> epoch,
# and the time.monotonic() at which the renewal started (a lease taken after that instant
# is not in it, and is not lost).
Renewed = Callable[[dict[str, int], float], None]


class LeaseBook(abc.ABC):
    """One owner's leases (eventstore/postgres_leases.py)."""

    owner: str
    ttl_s: float

    @abc.abstractmethod
    async def take(self, key: str, run_here: bool) -> Fence | None:
        """Record the lease of a new root run before its first event: held by this owner
        when `run_here` (its fence), else queued for whichever node has room (None)."""

    @abc.abstractmethod
    async def queue(self, keys: Sequence[str]) -> int:
        """Queue a lease for each key that has none (runs from before leases, or moved
        here by `migrate`); how many were added."""

    @abc.abstractmethod
    async def claim(self, limit: int, own_earlier: str | None = None) -> list[Fence]:
        """Take up to `limit` leases that are queued or expired, oldest first, skipping any
        another node is claiming right now; with `own_earlier` (an owner prefix), also
        those of this node's earlier life, expired or not. Only keys with events count."""

    @abc.abstractmethod
    async def claim_key(self, key: str) -> Fence | None:
        """Take the lease of `key` if it is queued or expired (a cancel of a queued run)."""

    @abc.abstractmethod
    async def release(self, fence: Fence) -> None:
        """Drop the lease of a finished run (if still held under `fence`)."""

    @abc.abstractmethod
    async def give_back(self, fence: Fence) -> None:
        """Queue the lease again (if still held under `fence`) for any node to claim."""

    @abc.abstractmethod
    async def forget(self, key: str) -> None:
        """Drop the lease of a run that was never recorded (its first append failed)."""

    @abc.abstractmethod
    async def hand_back(self) -> int:
        """Queue every lease of this owner again, for other nodes to claim at once."""

    # A mailbox per owner: a request about a run (an approval, a cancel) that reaches a
    # node not driving it goes to the lease holder, which answers it.

    @abc.abstractmethod
    async def send(self, key: str, message: bytes) -> int | None:
        """Leave `message` for the live holder of `key`'s lease; its id, or None when no
        node holds it now (queued, or its holder's lease expired)."""

    @abc.abstractmethod
    async def inbox(self) -> list[tuple[int, bytes]]:
        """The messages left for this owner and not answered yet, oldest first."""

    @abc.abstractmethod
    async def reply(self, message_id: int, answer: bytes) -> None:
        """Answer a message of the inbox."""

    @abc.abstractmethod
    async def answer(self, message_id: int) -> bytes | None:
        """The answer to a message sent, once there is one (then the message is gone)."""

    @abc.abstractmethod
    def start_renewing(self, keys: Callable[[], Sequence[str]], renewed: Renewed) -> None:
        """Renew the leases of `keys()` every ttl/3 on a thread of its own (a busy or
        blocked event loop must not cost the leases), telling `renewed` after each one.
        `keys` is called on that thread: it must only read an immutable snapshot."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop renewing (the leases are left to expire or were handed back)."""
