"""Firing schedules: each due fire time becomes the RunCreated of a run whose id is
derived from (schedule, fire time), so a fire time starts at most one run, whatever
restarts (or nodes) come between; the log's `NO_STREAM` check is what refuses a second.

After downtime the missed fire times are chosen by `catchUp`; `overlap` decides what a
fire time does while the schedule's previous run has not finished. The clock is given,
so tests move time themselves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog

from eventstore.interface import EventStore
from projections.vocabulary import TERMINAL_RUN_STATUSES
from service.background import in_background
from service.engine.engine import Engine
from service.triggers.cron import BadCron, fire_times
from service.triggers.schedules import Schedule, ScheduleRepository, iso, parse_iso
from service.workflows.errors import WorkflowNotFound

log = structlog.get_logger(__name__)

FIRING_NAMESPACE = uuid.UUID("5b0f6f55-2a8e-4c47-9a55-2f3f3c6d9e21")
# A fire time this late is missed (downtime), not merely noticed at the next tick.
ON_TIME_S = 60.0
MAX_CATCH_UP = 100
SCHEDULE_USER = "schedule"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def firing_run_id(schedule_id: str, fire_time: datetime) -> str:
    """The id of the run a fire time starts: the same on every node and after any restart."""
    return str(uuid.uuid5(FIRING_NAMESPACE, f"{schedule_id}/{iso(fire_time)}"))


class ScheduleRunner:
    """Fires the due fire times of every enabled schedule, one `tick` at a time."""

    def __init__(self, schedules: ScheduleRepository, engine: Engine,
                 store: EventStore, clock: Clock = utc_now) -> None:
        self.schedules = schedules
        self.engine = engine
        self.store = store
        self.clock = clock

    async def tick(self) -> list[str]:
        """Fire what is due now; the ids of the runs started."""
        now = self.clock()
        started: list[str] = []
        for schedule in await self.schedules.enabled():
            try:
                started += await self._tick_schedule(schedule, now)
            except (BadCron, WorkflowNotFound) as exc:
                log.warning("schedule_unusable", schedule_id=schedule.id, error=str(exc))
        return started

    def due(self, schedule: Schedule, now: datetime) -> tuple[list[datetime], datetime | None]:
        """(the fire times to fire now, the newest fire time handled by doing so)."""
        after = parse_iso(schedule.handled_until)
        if schedule.start_at is not None:
            after = max(after, parse_iso(schedule.start_at) - timedelta(microseconds=1))
        end = parse_iso(schedule.end_at) if schedule.end_at is not None else None
        missed: deque[datetime] = deque(maxlen=MAX_CATCH_UP)
        on_time: list[datetime] = []
        newest = None
        for at in fire_times(schedule.cron, schedule.timezone, after):
            if at > now or (end is not None and at > end):
                break
            newest = at
            (on_time if (now - at).total_seconds() <= ON_TIME_S else missed).append(at)
        chosen = {"none": [], "latest": list(missed)[-1:], "all": list(missed)}[
            schedule.catch_up]
        return chosen + on_time, newest

    async def _tick_schedule(self, schedule: Schedule, now: datetime) -> list[str]:
        chosen, newest = self.due(schedule, now)
        started = []
        for at in chosen:
            run_id = await self.fire(schedule, at)
            if run_id is not None:
                started.append(run_id)
            await self.schedules.handled(schedule.id, at)  # a crash resumes after it
        if newest is not None:
            await self.schedules.handled(schedule.id, newest)
        return started

    async def _previous_unfinished(self, schedule: Schedule) -> str | None:
        rows = await self.schedules.db.fetch_all(
            "SELECT r.id, r.status FROM run_triggers t JOIN runs r ON r.id = t.run_id "
            "WHERE t.trigger_id = ? ORDER BY t.seq DESC LIMIT 1", (schedule.id,))
        if rows and rows[0][1] not in TERMINAL_RUN_STATUSES:
            return str(rows[0][0])
        return None

    async def fire(self, schedule: Schedule, at: datetime) -> str | None:
        """Start the run of fire time `at`, as `overlap` allows; its id, or None when
        nothing was started (skipped, or started before)."""
        run_id = firing_run_id(schedule.id, at)
        if await self.store.stream_version(run_id):
            return None  # fired before a restart
        previous = await self._previous_unfinished(schedule)
        if previous is not None and schedule.overlap == "skip":
            log.info("schedule_fire_skipped", schedule_id=schedule.id, fire_time=iso(at),
                     running=previous)
            return None
        if previous is not None and schedule.overlap == "cancelPrevious":
            await self.engine.cancel(previous, "the schedule fired again", SCHEDULE_USER)
        await self.engine.start_run(
            schedule.workflow_id, schedule.workspace_id, schedule.inputs, {},
            schedule.created_by, run_id=run_id,
            triggered_by={"kind": "schedule", "id": schedule.id, "fireTime": iso(at)})
        return run_id


@asynccontextmanager
async def ticking(runner: ScheduleRunner, every_s: float) -> AsyncIterator[None]:
    """Tick every `every_s` seconds in the background until the block ends (0: never)."""
    async def loop() -> None:
        while True:
            try:
                await runner.tick()
            except Exception:  # a bad tick must not end the schedules; the next one retries
                log.exception("schedule_tick_failed")
            await asyncio.sleep(every_s)

    async with in_background(loop() if every_s > 0 else None, "schedules"):
        yield
