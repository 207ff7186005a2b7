"""Which runs retention or erasure removed, when and by what: the 410 `pruned` answers.

Folded from EventsPruned, so a rebuild reproduces it; one row a run, keyed by its id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from eventstore.records import RecordedEvent
from eventstore.rows import Dialect, FoundRows, RowChanges, RowLookup
from projections.vocabulary import EventType

SCHEMA = """
CREATE TABLE IF NOT EXISTS pruned_runs (
    run_id       TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    chat_id      TEXT,
    kind         TEXT NOT NULL,
    pruned_at    TEXT NOT NULL,
    position     {integer} NOT NULL,
    archive      TEXT,
    by_user      TEXT,
    reason       TEXT,
    policy       {blob}
);
"""
TYPES = {"sqlite": {"integer": "INTEGER", "blob": "BLOB"},
         "postgresql": {"integer": "BIGINT", "blob": "BYTEA"}}

# Compared with every event's type: plain strings, not enum lookups.
_EVENTS_PRUNED = EventType.EVENTS_PRUNED.value


class PrunedRunsProjection:
    name = "pruned_runs"

    def schema(self, dialect: Dialect) -> str:
        return SCHEMA.format(**TYPES[dialect])

    def tables(self) -> list[str]:
        return ["pruned_runs"]

    def lookups(self, events: Sequence[RecordedEvent]) -> list[RowLookup]:
        return []

    def fold(self, events: Sequence[RecordedEvent], found: Mapping[str, FoundRows],
             changes: RowChanges) -> None:
        for event in events:
            if event.type != _EVENTS_PRUNED:
                continue
            data = event.payload
            policy = data.get("policy")
            for run_id, counted in zip(data["runs"], data["counted"], strict=True):
                values = {
                    "run_id": run_id, "workspace_id": counted[0], "chat_id": counted[4],
                    "kind": data["kind"], "pruned_at": event.recorded_at,
                    "position": event.position, "archive": data.get("archive"),
                    "by_user": data.get("by"), "reason": data.get("reason"),
                    "policy": None if policy is None else orjson.dumps(policy)}
                changes.upsert("pruned_runs", ("run_id",), values, values)
