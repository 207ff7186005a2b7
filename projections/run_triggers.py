"""What started each run that a caller did not start directly (a schedule or a webhook):
the run list's `triggeredBy`, its filter, and a schedule's last runs.

Its own small table, so that a log from before it only needs a rebuild to fill it and the
runs table keeps its shape; runs started through the API have no row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eventstore.records import RecordedEvent
from eventstore.rows import Dialect, FoundRows, RowChanges, RowLookup
from projections.vocabulary import EventType

SCHEMA = """
CREATE TABLE IF NOT EXISTS run_triggers (
    run_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    fire_time  TEXT,
    seq        {integer} NOT NULL
);
CREATE INDEX IF NOT EXISTS run_triggers_by_trigger ON run_triggers (trigger_id, seq);
"""
INTEGER = {"sqlite": "INTEGER", "postgresql": "BIGINT"}

# Compared with every event's type: plain strings, not enum lookups.
_EVENTS_PRUNED = EventType.EVENTS_PRUNED.value
_RUN_CREATED = EventType.RUN_CREATED.value


class RunTriggersProjection:
    name = "run_triggers"

    def schema(self, dialect: Dialect) -> str:
        return SCHEMA.format(integer=INTEGER[dialect])

    def tables(self) -> list[str]:
        return ["run_triggers"]

    def lookups(self, events: Sequence[RecordedEvent]) -> list[RowLookup]:
        return []

    def fold(self, events: Sequence[RecordedEvent], found: Mapping[str, FoundRows],
             changes: RowChanges) -> None:
        for event in events:
            if event.type == _EVENTS_PRUNED:
                for run_id in event.payload.get("runs", []):
                    changes.delete("run_triggers", {"run_id": run_id})
                continue
            if event.type != _RUN_CREATED:
                continue
            by = event.payload.get("triggeredBy") or {}
            if by.get("kind") in (None, "api") or not by.get("id"):
                continue
            values = {"run_id": event.stream, "kind": by["kind"], "trigger_id": by["id"],
                      "fire_time": by.get("fireTime"), "seq": event.position}
            # A second RunCreated of a run changes nothing (as in the runs projection).
            changes.upsert("run_triggers", ("run_id",), values, {"run_id": event.stream})
