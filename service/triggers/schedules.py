"""Schedules of workflows, in a table beside the log: what to run when, and how far the
schedule's fire times have been handled (`handled_until`).

The firings themselves are in the log: each is the RunCreated of a run whose id is derived
from (schedule, fire time) (service/triggers/scheduler.py), so the log is what says a fire
time has started its run, and the cursor here only saves looking again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson

from eventstore.tables import Tables, TableStore
from service.triggers.cron import fire_times, zone

OVERLAP_POLICIES = ("skip", "allow", "cancelPrevious")
CATCH_UP_POLICIES = ("none", "latest", "all")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS schedules (
        id            TEXT PRIMARY KEY,
        workflow_id   TEXT NOT NULL,
        workspace_id  TEXT NOT NULL,
        cron          TEXT NOT NULL,
        timezone      TEXT NOT NULL,
        inputs        TEXT NOT NULL,
        enabled       INTEGER NOT NULL,
        overlap       TEXT NOT NULL,
        catch_up      TEXT NOT NULL,
        start_at      TEXT,
        end_at        TEXT,
        created_by    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        handled_until TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS schedules_workflow ON schedules (workflow_id, created_at)",
)
COLUMNS = ("id", "workflow_id", "workspace_id", "cron", "timezone", "inputs", "enabled",
           "overlap", "catch_up", "start_at", "end_at", "created_by", "created_at",
           "updated_at", "handled_until")


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as every time the API answers."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    workflow_id: str
    workspace_id: str
    cron: str
    timezone: str
    inputs: dict[str, Any]
    enabled: bool
    overlap: str
    catch_up: str
    start_at: str | None
    end_at: str | None
    created_by: str
    created_at: str
    updated_at: str
    handled_until: str

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.workflow_id, self.workspace_id, self.cron, self.timezone,
                orjson.dumps(self.inputs).decode(), int(self.enabled), self.overlap, self.catch_up,
                self.start_at, self.end_at, self.created_by, self.created_at,
                self.updated_at, self.handled_until)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Schedule:
        values = dict(zip(COLUMNS, row, strict=True))
        values["inputs"] = orjson.loads(values["inputs"])
        values["enabled"] = bool(values["enabled"])
        return cls(**values)


def upcoming(schedule: Schedule, now: datetime, count: int) -> list[str]:
    """The next `count` fire times after `now` within the schedule's range, as ISO 8601
    with the zone's offset."""
    tz = zone(schedule.timezone)
    after = max(now, parse_iso(schedule.start_at or schedule.created_at))
    end = parse_iso(schedule.end_at) if schedule.end_at else None
    return [at.astimezone(tz).isoformat()
            for at in islice(fire_times(schedule.cron, schedule.timezone, after), count)
            if end is None or at <= end]


class ScheduleRepository:
    def __init__(self, store: TableStore) -> None:
        self.db = Tables(store)

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables(SCHEMA)

    async def create(self, workflow_id: str, workspace_id: str, created_by: str,
                     fields: dict[str, Any], now: datetime) -> Schedule:
        """A new schedule; its fire times count from `now` (none before its creation)."""
        at = iso(now)
        schedule = Schedule(
            id=str(uuid.uuid4()), workflow_id=workflow_id, workspace_id=workspace_id,
            created_by=created_by, created_at=at, updated_at=at, handled_until=at, **fields)
        marks = ", ".join("?" * len(COLUMNS))
        await self.db.execute(
            f"INSERT INTO schedules ({', '.join(COLUMNS)}) VALUES ({marks})", schedule.row())
        return schedule

    async def get(self, schedule_id: str) -> Schedule | None:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(COLUMNS)} FROM schedules WHERE id = ?", (schedule_id,))
        return Schedule.from_row(rows[0]) if rows else None

    async def of_workflow(self, workflow_id: str) -> list[Schedule]:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(COLUMNS)} FROM schedules WHERE workflow_id = ? "
            "ORDER BY created_at, id", (workflow_id,))
        return [Schedule.from_row(row) for row in rows]

    async def every(self) -> list[Schedule]:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(COLUMNS)} FROM schedules ORDER BY workflow_id, created_at, id")
        return [Schedule.from_row(row) for row in rows]

    async def enabled(self) -> list[Schedule]:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(COLUMNS)} FROM schedules WHERE enabled = 1 ORDER BY id")
        return [Schedule.from_row(row) for row in rows]

    async def update(self, schedule: Schedule, changes: dict[str, Any],
                     now: datetime) -> Schedule:
        """Apply `changes`; a schedule turned on again counts its fire times from `now`
        (a pause is not downtime to catch up on)."""
        updated = replace(schedule, **changes, updated_at=iso(now))
        if updated.enabled and not schedule.enabled:
            updated = replace(updated, handled_until=iso(now))
        sets = ", ".join(f"{column} = ?" for column in COLUMNS[1:])
        await self.db.execute(f"UPDATE schedules SET {sets} WHERE id = ?",
                              (*updated.row()[1:], updated.id))
        return updated

    async def delete(self, schedule_id: str) -> bool:
        return await self.db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)) > 0

    async def handled(self, schedule_id: str, until: datetime) -> None:
        """Fire times up to `until` are handled (never moves the cursor back)."""
        at = iso(until)
        await self.db.execute(
            "UPDATE schedules SET handled_until = ? WHERE id = ? AND handled_until < ?",
            (at, schedule_id, at))

    async def last_runs(self, schedule_id: str, limit: int) -> list[dict[str, Any]]:
        """The schedule's newest runs: id, fire time, status (canonical), creation time."""
        rows = await self.db.fetch_all(
            "SELECT t.run_id, t.fire_time, r.status, r.created_at FROM run_triggers t "
            "JOIN runs r ON r.id = t.run_id WHERE t.trigger_id = ? ORDER BY t.seq DESC "
            "LIMIT ?", (schedule_id, limit))
        return [{"runId": run_id, "fireTime": fire_time, "status": status,
                 "createdAt": created_at} for run_id, fire_time, status, created_at in rows]
