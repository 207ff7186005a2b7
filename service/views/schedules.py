"""/api/v1/workflows/{id}/schedules: cron schedules of a workflow; editors manage them,
viewers read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from service import keys
from service.auth.access import require_principal
from service.auth.roles import Role
from service.dialects import v1
from service.errors import bad_request, not_found
from service.ids import path_uuid
from service.routing import (
    BAD_REQUEST,
    NOT_FOUND,
    Content,
    PathParam,
    Reply,
    RouteTable,
    Shape,
    data,
)
from service.triggers.cron import BadCron, fire_times
from service.triggers.schedules import Schedule, upcoming
from service.views.body import parse_body
from service.views.lookup import load_workflow
from service.views.models.schedules import Schedule as ScheduleModel
from service.views.models.schedules import ScheduleDeleted
from service.views.responses import data_response
from service.views.schedule_requests import ScheduleCreate, ScheduleUpdate

API = "/api/v1/workflows/{workflowId}/schedules"
NEXT_FIRE_TIMES = 5
LAST_RUNS = 5


def _now(request: web.Request) -> datetime:
    return request.app[keys.SCHEDULE_RUNNER].clock()


def _check(fields: dict[str, Any]) -> None:
    """400 for what the body's model cannot check: the expression, the zone, the range."""
    try:
        next(fire_times(fields["cron"], fields["timezone"], datetime.now(UTC)), None)
    except BadCron as exc:
        raise bad_request(str(exc)) from None
    if fields["start_at"] and fields["end_at"] and fields["end_at"] <= fields["start_at"]:
        raise bad_request("endAt must come after startAt")


async def _json(request: web.Request, schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.id, "workflowId": schedule.workflow_id,
        "workspaceId": schedule.workspace_id, "cron": schedule.cron,
        "timezone": schedule.timezone, "inputs": schedule.inputs,
        "enabled": schedule.enabled, "overlap": schedule.overlap,
        "catchUp": schedule.catch_up, "startAt": schedule.start_at, "endAt": schedule.end_at,
        "createdAt": schedule.created_at, "updatedAt": schedule.updated_at,
        "nextFireTimes": upcoming(schedule, _now(request), NEXT_FIRE_TIMES),
        "lastRuns": [{**run, "status": v1.RUN_STATUS_WORDS[run["status"]]} for run in
                     await request.app[keys.SCHEDULES].last_runs(schedule.id, LAST_RUNS)],
    }


async def _schedule(request: web.Request, role: Role) -> tuple[dict[str, Any], Schedule]:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), role)
    schedule = await request.app[keys.SCHEDULES].get(path_uuid(request, "scheduleId"))
    if schedule is None or schedule.workflow_id != workflow["id"]:
        raise not_found("schedule not found")
    return workflow, schedule


async def create_schedule(request: web.Request) -> web.Response:
    principal = require_principal(request)
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.EDITOR)
    body = await parse_body(request, ScheduleCreate)
    fields = body.changes()
    _check(fields)
    schedule = await request.app[keys.SCHEDULES].create(
        workflow["id"], workflow["workspaceId"], principal.user_id, fields, _now(request))
    return data_response(await _json(request, schedule), status=201)


async def list_schedules(request: web.Request) -> web.Response:
    workflow = await load_workflow(request, path_uuid(request, "workflowId"), Role.VIEWER)
    schedules = await request.app[keys.SCHEDULES].of_workflow(workflow["id"])
    return data_response([await _json(request, schedule) for schedule in schedules])


async def get_schedule(request: web.Request) -> web.Response:
    _, schedule = await _schedule(request, Role.VIEWER)
    return data_response(await _json(request, schedule))


async def update_schedule(request: web.Request) -> web.Response:
    _, schedule = await _schedule(request, Role.EDITOR)
    body = await parse_body(request, ScheduleUpdate)
    changes = body.changes()
    _check({"cron": schedule.cron, "timezone": schedule.timezone,
            "start_at": schedule.start_at, "end_at": schedule.end_at, **changes})
    updated = await request.app[keys.SCHEDULES].update(schedule, changes, _now(request))
    return data_response(await _json(request, updated))


async def delete_schedule(request: web.Request) -> web.Response:
    _, schedule = await _schedule(request, Role.EDITOR)
    await request.app[keys.SCHEDULES].delete(schedule.id)
    return data_response({"id": schedule.id, "deleted": True})


def register_routes(table: RouteTable) -> None:
    tag = "schedules"
    workflow = {"workflowId": PathParam("Workflow id.")}
    one = {**workflow, "scheduleId": PathParam("Schedule id.")}
    missing = NOT_FOUND.saying("Workflow not found (or not the caller's).")
    missing_one = NOT_FOUND.saying("Workflow or schedule not found (or not the caller's).")
    invalid = BAD_REQUEST.saying("A bad body, cron expression, time zone or time range.")
    table.register(
        "POST", API, create_schedule, operation_id="createSchedule", tag=tag,
        summary="Schedule runs of the workflow's latest version (workflow editors)",
        description="Fire times count from now. Each firing is the RunCreated of a run "
                    "whose id the schedule and fire time decide, so a fire time starts at "
                    "most one run; the run's `triggeredBy` names the schedule.",
        path_params=workflow, body=ScheduleCreate,
        replies=(data(ScheduleModel, "Created, with its next fire times.", status=201),),
        errors=(invalid, missing))
    table.register(
        "GET", API, list_schedules, operation_id="listSchedules", tag=tag,
        summary="The workflow's schedules (viewers)", path_params=workflow,
        replies=(Reply(200, "Oldest first.", {
            "application/json": Content(Shape.DATA_LIST, ScheduleModel)}),),
        errors=(BAD_REQUEST, missing))
    table.register(
        "GET", f"{API}/{{scheduleId}}", get_schedule, operation_id="getSchedule", tag=tag,
        summary="A schedule with its next fire times and last runs (viewers)",
        path_params=one, replies=(data(ScheduleModel, "The schedule."),),
        errors=(BAD_REQUEST, missing_one))
    table.register(
        "PATCH", f"{API}/{{scheduleId}}", update_schedule, operation_id="updateSchedule",
        tag=tag, summary="Change a schedule; pause and resume with `enabled` (editors)",
        description="A schedule enabled again counts its fire times from then on: a pause "
                    "is not downtime to catch up on.",
        path_params=one, body=ScheduleUpdate, replies=(data(ScheduleModel, "Changed."),),
        errors=(invalid, missing_one))
    table.register(
        "DELETE", f"{API}/{{scheduleId}}", delete_schedule, operation_id="deleteSchedule",
        tag=tag, summary="Delete a schedule (editors); its runs stay",
        path_params=one, replies=(data(ScheduleDeleted, "Deleted."),),
        errors=(BAD_REQUEST, missing_one))
