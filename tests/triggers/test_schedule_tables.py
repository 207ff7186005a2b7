"""The schedules' table on either backend of the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from eventstore.interface import NO_STREAM
from eventstore.records import NewEvent
from eventstore.tables import TableStore
from projections.vocabulary import EventType
from service.triggers.schedules import ScheduleRepository, iso
from tests.support.backends import Backend

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FIELDS: dict[str, Any] = {
    "cron": "* * * * *", "timezone": "Europe/Berlin", "inputs": {"n": 1}, "enabled": True,
    "overlap": "skip", "catch_up": "none", "start_at": None, "end_at": None}


async def test_schedules_are_stored_changed_and_deleted(backend: Backend) -> None:
    store = await backend.open()
    schedules = ScheduleRepository(cast(TableStore, store))
    await schedules.ensure_schema()
    made = await schedules.create(str(uuid.uuid4()), "default", "ada", dict(FIELDS), NOW)
    assert await schedules.get(made.id) == made
    assert await schedules.of_workflow(made.workflow_id) == [made]
    later = NOW + timedelta(minutes=5)
    await schedules.handled(made.id, later)
    await schedules.handled(made.id, NOW)  # never back
    stored = await schedules.get(made.id)
    assert stored is not None
    assert stored.handled_until == iso(later)
    paused = await schedules.update(stored, {"enabled": False}, later)
    assert await schedules.enabled() == []
    resumed = await schedules.update(paused, {"enabled": True}, NOW + timedelta(hours=1))
    assert resumed.handled_until == iso(NOW + timedelta(hours=1))  # a pause is no downtime
    assert [s.id for s in await schedules.enabled()] == [made.id]
    assert await schedules.delete(made.id)
    assert await schedules.get(made.id) is None
    assert not await schedules.delete(made.id)


async def test_a_schedule_lists_its_runs_from_the_log(backend: Backend) -> None:
    store = await backend.open()
    schedules = ScheduleRepository(cast(TableStore, store))
    await schedules.ensure_schema()
    made = await schedules.create(str(uuid.uuid4()), "default", "ada", dict(FIELDS), NOW)
    run_id = str(uuid.uuid4())
    await store.append(run_id, [NewEvent(EventType.RUN_CREATED, {
        "workflowId": made.workflow_id, "workflowVersion": 1, "workflowName": "w",
        "workspaceId": "default", "chatId": None, "parentRunId": None, "parentNodeId": None,
        "inputs": {}, "envNames": [], "trigger": {"data": {}}, "createdBy": "ada",
        "triggeredBy": {"kind": "schedule", "id": made.id, "fireTime": iso(NOW)},
        "idempotencyKey": None})], NO_STREAM)
    runs = await schedules.last_runs(made.id, 5)
    assert [(run["runId"], run["fireTime"], run["status"]) for run in runs] == [
        (run_id, iso(NOW), "pending")]
