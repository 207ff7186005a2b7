"""Which runs this engine drives, on a log several nodes may share (eventstore/leases.py).

A root run is leased; its subworkflow children are driven by the same node under the
root's fence. On a store without leases (SQLite) every run is this node's and no fence
is needed. The family queries use the runs projection's parent links (runs_parent index).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from eventstore.interface import EventStore
from eventstore.leases import Fence, LeaseBook
from eventstore.tables import native
from projections.vocabulary import TERMINAL_RUN_STATUSES

log = structlog.get_logger(__name__)

_TERMINAL = sorted(TERMINAL_RUN_STATUSES)
_UNFINISHED = f"status NOT IN ({','.join('?' * len(_TERMINAL))})"
# Unfinished runs of one family (a root and its descendants), parents first.
_FAMILY = f"""
WITH RECURSIVE family(id) AS (
    SELECT id FROM runs WHERE id = ?
    UNION ALL
    SELECT runs.id FROM runs JOIN family ON runs.parent_run_id = family.id)
SELECT runs.id FROM runs JOIN family ON runs.id = family.id
WHERE {_UNFINISHED} ORDER BY runs.seq"""


# The root of a run's family: up the parent links.
_ROOT = """
WITH RECURSIVE up(id, parent) AS (
    SELECT id, parent_run_id FROM runs WHERE id = ?
    UNION ALL
    SELECT runs.id, runs.parent_run_id FROM runs JOIN up ON runs.id = up.parent)
SELECT id FROM up WHERE parent IS NULL"""


class Ownership:
    """The fences of the roots this engine drives, and the root of every run it drives."""

    def __init__(self, store: EventStore, book: LeaseBook | None) -> None:
        self.store = store
        self.book = book
        self._fences: dict[str, tuple[Fence, float]] = {}  # root -> fence, when taken
        self._roots: dict[str, str] = {}  # run -> its root (roots map to themselves)
        # The held roots, replaced whole at each change: the renewal thread reads it.
        self.keys: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        """True when other nodes may drive runs of this log (runs are leased)."""
        return self.book is not None

    def hold(self, fence: Fence) -> None:
        self._fences[fence.key] = (fence, time.monotonic())
        self._roots[fence.key] = fence.key
        self.keys = tuple(self._fences)

    def join(self, run_id: str, root: str) -> None:
        """`run_id` is driven with `root`'s family (under its fence)."""
        self._roots[run_id] = self._roots.get(root, root)

    def root_of(self, run_id: str) -> str:
        return self._roots.get(run_id, run_id)

    def fence_of(self, run_id: str) -> Fence | None:
        held = self._fences.get(self.root_of(run_id))
        return held[0] if held is not None else None

    def forget(self, run_id: str) -> Fence | None:
        """The run is no longer driven here; the root's fence when `run_id` is a root."""
        root = self._roots.pop(run_id, run_id)
        if root != run_id:
            return None
        held = self._fences.pop(run_id, None)
        self.keys = tuple(self._fences)
        return held[0] if held is not None else None

    def family_here(self, root: str) -> list[str]:
        return [run for run, its_root in self._roots.items() if its_root == root]

    def lost(self, held: dict[str, int], renewed_at: float) -> list[str]:
        """Roots whose lease a renewal did not find under our epoch (taken before it)."""
        return [root for root, (fence, taken) in self._fences.items()
                if taken < renewed_at and held.get(root) != fence.epoch]

    async def unfinished(self, roots_only: bool) -> list[str]:
        """Every unfinished run (or root run) in the log, oldest first."""
        where = _UNFINISHED + (" AND parent_run_id IS NULL" if roots_only else "")
        rows = await self.store.fetch_all(native(
            f"SELECT id FROM runs WHERE {where} ORDER BY seq", self.store.dialect), _TERMINAL)
        return [str(run_id) for (run_id,) in rows]

    async def family(self, root: str) -> list[str]:
        """The unfinished runs of `root`'s family, parents first."""
        rows = await self.store.fetch_all(native(_FAMILY, self.store.dialect),
                                          (root, *_TERMINAL))
        return [str(run_id) for (run_id,) in rows]

    async def root_in_log(self, run_id: str) -> str:
        """The root of `run_id`'s family as the runs projection has it (itself if unknown)."""
        rows = await self.store.fetch_all(native(_ROOT, self.store.dialect), (run_id,))
        return str(rows[0][0]) if rows else run_id

    async def release(self, fence: Fence) -> None:
        assert self.book is not None
        try:
            await self.book.release(fence)
        except Exception as exc:  # noqa: BLE001 - a node claiming it finds it finished
            log.warning("lease_release_failed", run_id=fence.key, error=str(exc))

    def watch(self, on_lost: Callable[[list[str]], None]) -> None:
        """Renew the leases; `on_lost(roots)` when a renewal shows roots taken over."""
        if self.book is None:
            return

        def renewed(held: dict[str, int], renewed_at: float) -> None:
            gone = self.lost(held, renewed_at)
            if gone:
                on_lost(gone)

        self.book.start_renewing(lambda: self.keys, renewed)
