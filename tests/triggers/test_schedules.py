"""Cron schedules with an injected clock: fire times, daylight saving, downtime and
catchUp, overlap, a crash between a firing's record and its run, the API around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from eventstore.interface import NO_STREAM
from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import EventType
from service import keys
from service.app import create_app
from service.triggers.scheduler import ScheduleRunner, firing_run_id
from service.triggers.schedules import iso
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW, create_workflow
from tests.support.auth import ADMIN_PASSWORD, login, make_settings

T0 = datetime(2026, 1, 5, 9, 0, 20, tzinfo=UTC)  # 20 s past a whole minute


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _runner(client: TestClient, clock: Clock) -> ScheduleRunner:
    runner = client.server.app[keys.SCHEDULE_RUNNER]  # type: ignore[index]
    runner.clock = clock
    return runner


async def _schedule(client: TestClient, workflow_id: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/workflows/{workflow_id}/schedules", json=fields)
    body = await resp.json()
    assert resp.status == 201, body
    return dict(body["data"])


async def _scheduled_runs(client: TestClient, schedule_id: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/workflow-runs", params={
        "triggeredBy": "schedule", "triggerId": schedule_id, "limit": "100"})
    body = await resp.json()
    assert resp.status == 200, body
    return list(reversed(body["data"]))  # oldest first


async def _fire_times(client: TestClient, schedule_id: str) -> list[str]:
    runs = await _scheduled_runs(client, schedule_id)
    events = []
    for run in runs:
        resp = await client.get(f"/api/v1/workflow-runs/{run['id']}/events")
        created = (await resp.json())["data"][0]
        events.append(created["data"]["triggeredBy"]["fireTime"])
    return events


async def test_a_schedule_answers_with_its_next_fire_times_and_is_managed(
        admin: TestClient) -> None:
    clock = Clock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    _runner(admin, clock)
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await _schedule(admin, workflow_id, cron="30 2 * * *", timezone="Europe/Berlin")
    # Spring forward on 29 March: 02:30 does not exist and cronsim fires at 03:00.
    assert made["nextFireTimes"] == [
        "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00", "2026-04-01T02:30:00+02:00",
        "2026-04-02T02:30:00+02:00"]
    assert (made["overlap"], made["catchUp"], made["enabled"]) == ("skip", "none", True)
    url = f"/api/v1/workflows/{workflow_id}/schedules/{made['id']}"
    resp = await admin.patch(url, json={"enabled": False, "cron": "@hourly"})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["data"]["enabled"], body["data"]["cron"]) == (False, "@hourly")
    listed = await (await admin.get(f"/api/v1/workflows/{workflow_id}/schedules")).json()
    assert [s["id"] for s in listed["data"]] == [made["id"]]
    assert (await admin.delete(url, json={})).status == 200
    assert (await admin.get(url)).status == 404


@pytest.mark.parametrize("fields", [
    {"cron": "61 * * * *"}, {"cron": "* * * *"}, {"cron": "@sometimes"},
    {"cron": "* * * * *", "timezone": "Mars/Olympus"},
    {"cron": "* * * * *", "timezone": "../../etc/passwd"},
    {"cron": "* * * * *", "overlap": "queue"}, {"cron": "* * * * *", "catchUp": 3},
    {"cron": "* * * * *", "startAt": "2026-01-02T00:00:00Z",
     "endAt": "2026-01-01T00:00:00Z"},
    {"cron": "* * * * *", "startAt": "2026-01-02T00:00:00"},  # no offset
])
async def test_a_bad_schedule_is_400_and_nothing_is_stored(
        admin: TestClient, fields: dict[str, Any]) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    resp = await admin.post(f"/api/v1/workflows/{workflow_id}/schedules", json=fields)
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()
    listed = await (await admin.get(f"/api/v1/workflows/{workflow_id}/schedules")).json()
    assert listed["data"] == []


async def test_a_minute_cron_fires_once_per_minute(admin: TestClient) -> None:
    clock = Clock(T0)
    runner = _runner(admin, clock)
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await _schedule(admin, workflow_id, cron="* * * * *", inputs={"n": 5},
                           overlap="allow")
    started = []
    for seconds in range(0, 181, 10):  # a tick every 10 s for three minutes
        clock.at = T0 + timedelta(seconds=seconds)
        started += await runner.tick()
    assert await _fire_times(admin, made["id"]) == [
        "2026-01-05T09:01:00.000Z", "2026-01-05T09:02:00.000Z", "2026-01-05T09:03:00.000Z"]
    runs = await _scheduled_runs(admin, made["id"])
    assert [run["id"] for run in runs] == started
    assert all(run["triggeredBy"] == {"kind": "schedule", "id": made["id"]} for run in runs)
    assert runs[0]["inputs"] == [{"name": "n", "value": 5}]
    everything = await (await admin.get("/api/v1/workflow-runs?triggeredBy=api")).json()
    assert everything["data"] == []
    detail = await (await admin.get(
        f"/api/v1/workflows/{workflow_id}/schedules/{made['id']}")).json()
    assert [run["runId"] for run in detail["data"]["lastRuns"]] == started[::-1]


# Fire-time tests allow overlap: under load a quick run may still be going when the
# injected clock reaches the next fire time, milliseconds later in real time.
async def _tick_through(runner: ScheduleRunner, clock: Clock, start: datetime,
                        end: datetime, step: timedelta) -> None:
    clock.at = start
    while clock.at <= end:
        await runner.tick()
        clock.at += step


async def test_europe_berlin_across_spring_forward(admin: TestClient) -> None:
    clock = Clock(datetime(2026, 3, 28, 22, 0, tzinfo=UTC))
    runner = _runner(admin, clock)
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    daily = await _schedule(admin, workflow_id, cron="30 2 * * *", timezone="Europe/Berlin",
                            overlap="allow")
    half_hourly = await _schedule(admin, workflow_id, cron="*/30 1-3 * * *",
                                  timezone="Europe/Berlin", overlap="allow")
    await _tick_through(runner, clock, clock.at, datetime(2026, 3, 30, 1, 0, tzinfo=UTC),
                        timedelta(minutes=5))
    # 02:30 does not exist on 29 March: fired at 03:00 CEST (01:00 UTC), once.
    assert await _fire_times(admin, daily["id"]) == [
        "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]
    # 01:00, 01:30 CET, then the clock jumps to 03:00 CEST: 02:xx are skipped.
    assert await _fire_times(admin, half_hourly["id"]) == [
        "2026-03-29T00:00:00.000Z", "2026-03-29T00:30:00.000Z",
        "2026-03-29T01:00:00.000Z", "2026-03-29T01:30:00.000Z",
        "2026-03-29T23:00:00.000Z", "2026-03-29T23:30:00.000Z",
        "2026-03-30T00:00:00.000Z", "2026-03-30T00:30:00.000Z", "2026-03-30T01:00:00.000Z"]


async def test_europe_berlin_across_fall_back(admin: TestClient) -> None:
    clock = Clock(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    runner = _runner(admin, clock)
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    daily = await _schedule(admin, workflow_id, cron="30 2 * * *", timezone="Europe/Berlin",
                            overlap="allow")
    await _tick_through(runner, clock, clock.at, datetime(2026, 10, 26, 2, 0, tzinfo=UTC),
                        timedelta(minutes=5))
    # 02:30 happens twice on 25 October: fired once, at the first (CEST); then CET.
    assert await _fire_times(admin, daily["id"]) == [
        "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]


@pytest.mark.parametrize(("catch_up", "expected"), [
    ("none", []), ("latest", [10]), ("all", list(range(1, 11)))])
async def test_downtime_of_ten_fire_times(admin: TestClient, catch_up: str,
                                          expected: list[int]) -> None:
    clock = Clock(T0)
    runner = _runner(admin, clock)
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    # Overlap allowed: quick runs of a catch-up are fired together in one tick.
    made = await _schedule(admin, workflow_id, cron="* * * * *", catchUp=catch_up,
                           overlap="allow")
    # Back at 09:11:35: 09:01 .. 09:10 were missed, 09:11 is on time (35 s ago).
    clock.at = T0 + timedelta(minutes=10, seconds=75)
    await runner.tick()
    clock.at += timedelta(seconds=20)
    await runner.tick()
    minutes = [*expected, 11]
    assert await _fire_times(admin, made["id"]) == [
        iso(datetime(2026, 1, 5, 9, minute, tzinfo=UTC)) for minute in minutes]


async def _approve_all(client: TestClient, runs: list[dict[str, Any]]) -> None:
    for run in runs:
        if run["status"] == "waiting":
            resp = await client.post(f"/api/v1/workflow-runs/{run['id']}/nodes/approve/resume",
                                     json={"approved": True})
            assert resp.status == 200


async def _wait_waiting(client: TestClient, run_ids: list[str]) -> None:
    from tests.support.api import wait_for_status
    for run_id in run_ids:
        await wait_for_status(client, run_id, "waiting")


@pytest.mark.parametrize("overlap", ["skip", "allow", "cancelPrevious"])
async def test_each_overlap_policy(admin: TestClient, overlap: str) -> None:
    clock = Clock(T0)
    runner = _runner(admin, clock)
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)  # waits for approval
    made = await _schedule(admin, workflow_id, cron="* * * * *", overlap=overlap)
    clock.at = T0 + timedelta(minutes=1)
    first = await runner.tick()
    await _wait_waiting(admin, first)
    clock.at += timedelta(minutes=1)
    second = await runner.tick()
    runs = {run["id"]: run["status"] for run in await _scheduled_runs(admin, made["id"])}
    if overlap == "skip":
        assert second == []
        assert list(runs) == first
    elif overlap == "allow":
        await _wait_waiting(admin, second)
        assert len(second) == 1
        assert set(runs) == {*first, *second}
    else:
        await _wait_waiting(admin, second)
        from tests.support.api import wait_for_status
        await wait_for_status(admin, first[0], "cancelled")
        assert len(second) == 1
    if overlap == "skip":  # once the run has finished, the next fire time runs
        await _approve_all(admin, await _scheduled_runs(admin, made["id"]))
        from tests.support.api import wait_for_status
        await wait_for_status(admin, first[0], "completed")
        clock.at += timedelta(minutes=1)
        assert len(await runner.tick()) == 1


async def _serve(aiohttp_client: Any, settings: Any) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD)
    return client


async def test_a_kill_between_the_firing_record_and_the_run_start_neither_loses_nor_doubles(
        aiohttp_client: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, schedule_tick_s=0)
    client = await _serve(aiohttp_client, settings)
    clock = Clock(T0)
    runner = _runner(client, clock)
    workflow_id = await create_workflow(client, QUICK_WORKFLOW)
    made = await _schedule(client, workflow_id, cron="* * * * *", overlap="allow")
    clock.at = T0 + timedelta(minutes=1)
    (first,) = await runner.tick()
    created = (await (await client.get(f"/api/v1/workflow-runs/{first}/events")).json())[
        "data"][0]["data"]
    await client.close()
    # What a process killed right after recording the 09:02 firing leaves: its RunCreated
    # in the log, the run never started, the schedule's cursor still at 09:01.
    second_at = datetime(2026, 1, 5, 9, 2, tzinfo=UTC)
    second = firing_run_id(made["id"], second_at)
    store = await SQLiteEventStore.open(settings.database_path, all_projections())
    await store.append(second, [NewEvent(EventType.RUN_CREATED, {
        **created, "triggeredBy": {**created["triggeredBy"], "fireTime": iso(second_at)}})],
        NO_STREAM)
    await store.close()
    client = await _serve(aiohttp_client, settings)  # recovery continues the run
    runner = _runner(client, clock)
    clock.at = second_at + timedelta(seconds=5)
    assert await runner.tick() == []  # the log already has this fire time's run
    from tests.support.api import wait_for_status
    await wait_for_status(client, second, "completed")
    clock.at = second_at + timedelta(minutes=1, seconds=5)
    assert len(await runner.tick()) == 1
    assert await _fire_times(client, made["id"]) == [
        iso(datetime(2026, 1, 5, 9, minute, tzinfo=UTC)) for minute in (1, 2, 3)]
    await client.close()


async def test_fire_times_handled_before_a_restart_are_not_fired_again(
        aiohttp_client: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, schedule_tick_s=0)
    client = await _serve(aiohttp_client, settings)
    clock = Clock(T0)
    runner = _runner(client, clock)
    workflow_id = await create_workflow(client, QUICK_WORKFLOW)
    made = await _schedule(client, workflow_id, cron="* * * * *", catchUp="all",
                           overlap="allow")
    clock.at = T0 + timedelta(minutes=2)
    assert len(await runner.tick()) == 2
    await client.close()
    client = await _serve(aiohttp_client, settings)
    runner = _runner(client, clock)
    assert await runner.tick() == []
    assert len(await _fire_times(client, made["id"])) == 2
    await client.close()
