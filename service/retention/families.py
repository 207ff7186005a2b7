"""Which runs a policy prunes: whole families (a run with all its subworkflow children),
only when every member is finished, the oldest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eventstore.tables import Tables, TableStore
from projections.vocabulary import TERMINAL_RUN_STATUSES
from service.retention.policy import RetentionPolicy

RUN_COLUMNS = ("id, seq, parent_run_id, status, finished_at, workspace_id, workflow_id,"
               " workflow_name, chat_id")


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    seq: int
    parent: str | None
    status: str
    finished_at: str | None
    workspace_id: str
    workflow_id: str
    workflow_name: str
    chat_id: str | None

    @property
    def finished(self) -> bool:
        # A waiting run is not finished: it is never pruned.
        return self.status in TERMINAL_RUN_STATUSES

    def counted(self) -> list[str | None]:
        """Its counter's key and its chat, as EventsPruned records them."""
        return [self.workspace_id, self.workflow_id, self.workflow_name, self.status,
                self.chat_id]


@dataclass(slots=True)
class Family:
    """A root run and every run below it (subworkflow children, their children, ...)."""

    root: Run
    members: list[Run] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return all(run.finished for run in self.members)

    @property
    def finished_at(self) -> str:
        return max(run.finished_at or "" for run in self.members)

    @property
    def ids(self) -> list[str]:
        return [run.id for run in self.members]


async def load_runs(store: TableStore, workspace_id: str) -> list[Run]:
    rows = await Tables(store).fetch_all(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE workspace_id = ? ORDER BY seq", (workspace_id,))
    return [Run(*row) for row in rows]


async def load_family(store: TableStore, run_id: str) -> tuple[Family, Run | None] | None:
    """The run with everything below it, and its parent (None for a root); None if no run."""
    tables = Tables(store)
    rows = await tables.fetch_all(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
    if not rows:
        return None
    root = Run(*rows[0])
    family = Family(root, [root])
    frontier = [root.id]
    while frontier:
        marks = ", ".join("?" * len(frontier))
        children = [Run(*row) for row in await tables.fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id IN ({marks})", frontier)]
        family.members += children
        frontier = [child.id for child in children]
    parent = None
    if root.parent is not None:
        found = await tables.fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (root.parent,))
        parent = Run(*found[0]) if found else None
    return family, parent


def families(runs: Iterable[Run]) -> list[Family]:
    """The runs grouped under their roots, oldest root first (a run whose parent is not in
    `runs` is a root of its own)."""
    by_id = {run.id: run for run in runs}
    grouped: dict[str, Family] = {}
    for run in by_id.values():
        root = run
        seen = {root.id}
        while root.parent is not None and root.parent in by_id and root.parent not in seen:
            root = by_id[root.parent]
            seen.add(root.id)
        family = grouped.get(root.id)
        if family is None:
            family = grouped[root.id] = Family(root)
        family.members.append(run)
    return sorted(grouped.values(), key=lambda family: family.root.seq)


def choose(all_families: list[Family], policy: RetentionPolicy, now: datetime,
           sizes: dict[str, int] | None = None) -> list[Family]:
    """The finished families the policy prunes, oldest first: those finished before the age
    limit, then the oldest until the workspace's runs (and their bytes) are within limits.
    Unfinished families are kept and still count."""
    runs = sum(len(family.members) for family in all_families)
    size = sum((sizes or {}).values())
    cutoff = None
    if policy.max_age_days is not None:
        cutoff = (now - timedelta(days=policy.max_age_days)).astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    chosen = []
    for family in all_families:
        if not family.finished:
            continue
        too_old = cutoff is not None and family.finished_at < cutoff
        too_many = policy.max_runs is not None and runs > policy.max_runs
        too_big = policy.max_bytes is not None and size > policy.max_bytes
        if not (too_old or too_many or too_big):
            continue
        chosen.append(family)
        runs -= len(family.members)
        size -= sum((sizes or {}).get(run_id, 0) for run_id in family.ids)
    return chosen


async def event_bytes(store: TableStore, workspace_id: str) -> dict[str, int]:
    """Each run's event data bytes (for maxBytes)."""
    rows = await Tables(store).fetch_all(
        "SELECT e.stream, SUM(length(e.data)) FROM events e JOIN runs r ON r.id = e.stream"
        " WHERE r.workspace_id = ? GROUP BY e.stream", (workspace_id,))
    return {row[0]: int(row[1] or 0) for row in rows}
