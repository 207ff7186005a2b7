"""Applying retention: choose finished families, archive their events (durably), then prune
them in one transaction with the EventsPruned that records it; and erasure of one run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventstore.archive import write_archive
from eventstore.interface import EventStore
from eventstore.prune import PruneOutcome
from eventstore.records import NewEvent
from eventstore.tables import Tables
from projections.vocabulary import RETENTION_STREAM, EventType
from service.retention.families import Family, choose, event_bytes, families, load_family, load_runs
from service.retention.policy import RetentionPolicy, default_policy
from service.retention.reading import batch_events, event_counts
from service.retention.repository import RetentionPolicies
from service.settings import Settings

# Told the archive's path after it is durable and before anything is removed (progress,
# and the crash test's boundary).
OnArchived = Callable[[Path], None]


class RunNotFinished(Exception):
    """Erasure asked for a run (or a run of its family, or its parent) that is not finished."""


@dataclass(slots=True)
class Batch:
    workspace_id: str
    policy: RetentionPolicy
    source: str  # "workspace" or "default"
    families: list[Family] = field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        return [run_id for family in self.families for run_id in family.ids]


@dataclass(slots=True)
class PruneReport:
    runs: int = 0
    events: int = 0
    bytes: int = 0
    released: int = 0
    archives: list[str] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "events": self.events, "bytes": self.bytes,
                "released": self.released, "archives": self.archives, "batches": self.batches}


def _batches(workspace_id: str, policy: RetentionPolicy, source: str, chosen: list[Family],
             size: int) -> Iterator[Batch]:
    batch = Batch(workspace_id, policy, source)
    count = 0
    for family in chosen:
        if batch.families and count + len(family.members) > size:
            yield batch
            batch, count = Batch(workspace_id, policy, source), 0
        batch.families.append(family)
        count += len(family.members)
    if batch.families:
        yield batch


def _nothing_pruned(pruned: list[str], count: int) -> NewEvent:
    raise AssertionError("pruning no streams records nothing")


class Pruner:
    def __init__(self, store: EventStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.policies = RetentionPolicies(store)
        self._schema_ready = False

    async def ensure_schema(self) -> None:
        if not self._schema_ready:
            await self.policies.ensure_schema()
            self._schema_ready = True

    async def check_supported(self) -> None:
        """PruneUnsupported, before anything is archived, when the store cannot prune: asked
        by pruning no streams, which writes nothing."""
        await self.store.prune([], RETENTION_STREAM, _nothing_pruned)

    async def plan(self, now: datetime | None = None) -> list[Batch]:
        """Every batch the policies prune now (workspace policies over the default)."""
        now = now or datetime.now(UTC)
        await self.ensure_schema()
        own = await self.policies.all()
        fallback = default_policy(self.settings)
        rows = await Tables(self.store).fetch_all("SELECT DISTINCT workspace_id FROM runs")
        planned: list[Batch] = []
        for (workspace_id,) in sorted(rows):
            policy = own.get(workspace_id, fallback)
            source = "workspace" if workspace_id in own else "default"
            if not policy.limits_anything:
                continue
            sizes = (await event_bytes(self.store, workspace_id)
                     if policy.max_bytes is not None else None)
            chosen = choose(families(await load_runs(self.store, workspace_id)), policy, now,
                            sizes)
            planned += _batches(workspace_id, policy, source, chosen,
                                self.settings.prune_batch_runs)
        return planned

    async def prune(self, on_archived: OnArchived | None = None,
                    on_batch: Callable[[int], None] | None = None,
                    on_plan: Callable[[int], None] | None = None) -> PruneReport:
        """Plan, then archive and prune each batch; free pages go back after each. Told the
        events the plan covers (`on_plan`), then each batch's as it is pruned (`on_batch`)."""
        await self.check_supported()
        report = PruneReport()
        planned = await self.plan()
        if on_plan is not None:
            counts = await event_counts(self.store, [run for b in planned for run in b.runs])
            on_plan(sum(counts.values()))
        for batch in planned:
            outcome, archive = await self.prune_batch(batch, on_archived)
            report.runs += len(outcome.streams)
            report.events += outcome.events
            report.bytes += outcome.bytes
            report.archives.append(archive.name)
            report.released += await self.store.release_free_space()
            report.batches.append({"workspaceId": batch.workspace_id,
                                   "runs": len(outcome.streams), "events": outcome.events,
                                   "archive": archive.name})
            if on_batch is not None:
                on_batch(outcome.events)
        return report

    async def prune_batch(self, batch: Batch, on_archived: OnArchived | None = None
                          ) -> tuple[PruneOutcome, Path]:
        runs = {run.id: run for family in batch.families for run in family.members}
        events = await batch_events(self.store, list(runs.values()))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.settings.archive_path / f"prune-{stamp}-{uuid.uuid4().hex[:12]}.ndjson.gz"
        _, digest = await asyncio.to_thread(write_archive, path, events)
        if on_archived is not None:
            on_archived(path)
        policy = {**batch.policy.as_dict(), "workspaceId": batch.workspace_id,
                  "source": batch.source}

        def record(pruned: list[str], count: int) -> NewEvent:
            return NewEvent(EventType.EVENTS_PRUNED, {
                "kind": "retention", "runs": pruned,
                "counted": [runs[run_id].counted() for run_id in pruned], "events": count,
                "archive": path.name, "archiveSha256": digest, "policy": policy,
                "by": None, "reason": None})

        outcome = await self.store.prune(list(runs), RETENTION_STREAM, record)
        return outcome, path

    async def erase(self, run_id: str, by: str, reason: str) -> PruneOutcome | None:
        """Remove one finished run's data (with everything below it) now, without an archive;
        None when there is no such run. RunNotFinished when it, a run below it or its
        parent is not finished."""
        loaded = await load_family(self.store, run_id)
        if loaded is None:
            return None
        await self.check_supported()
        family, parent = loaded
        if not family.finished or (parent is not None and not parent.finished):
            raise RunNotFinished(run_id)
        runs = {run.id: run for run in family.members}

        def record(pruned: list[str], count: int) -> NewEvent:
            return NewEvent(EventType.EVENTS_PRUNED, {
                "kind": "erasure", "runs": pruned,
                "counted": [runs[run_id].counted() for run_id in pruned], "events": count,
                "archive": None, "archiveSha256": None, "policy": None, "by": by,
                "reason": reason})

        outcome = await self.store.prune(list(runs), RETENTION_STREAM, record)
        await self.store.release_free_space()
        return outcome
