"""The schedule bodies: creating one, and changing some of its fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StrictBool, StringConstraints, field_validator

from service.triggers.cron import MAX_CRON_CHARS
from service.triggers.schedules import iso
from service.views.body import RequestModel
from service.views.requests import JsonObject

Cron = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CRON_CHARS)]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Overlap = Literal["skip", "allow", "cancelPrevious"]
CatchUp = Literal["none", "latest", "all"]
CRON_HELP = ("Five fields (minute hour day-of-month month day-of-week) or @yearly, "
             "@monthly, @weekly, @daily, @hourly; read in `timezone`.")


def _utc(value: datetime | None) -> str | None:
    return None if value is None else iso(value.astimezone(UTC))


class ScheduleFields(RequestModel):
    requires_json_type = True

    def changes(self) -> dict[str, Any]:
        """The fields sent, by the repository's names (times as UTC ISO text)."""
        names = {"catchUp": "catch_up", "startAt": "start_at", "endAt": "end_at"}
        changes: dict[str, Any] = {}
        for field in self.model_fields_set:
            value = getattr(self, field)
            if field in ("startAt", "endAt"):
                value = _utc(value)
            changes[names.get(field, field)] = value
        return changes


class ScheduleCreate(ScheduleFields):
    """A schedule of the workflow: when to start a run of its latest version, with what."""

    cron: Cron = Field(description=CRON_HELP)
    timezone: TimeZone = Field("UTC", description="An IANA time zone, e.g. Europe/Berlin.")
    inputs: JsonObject = Field(default_factory=dict, description="The runs' inputs.")
    enabled: StrictBool = True
    overlap: Overlap = Field("skip", description=(
        "A fire time while the previous run has not finished: `skip` it, `allow` both, or "
        "`cancelPrevious` and start."))
    catchUp: CatchUp = Field("none", description=(
        "Fire times missed while the service was down: `none`, the `latest`, or `all` "
        "(at most 100)."))
    startAt: AwareDatetime | None = Field(None, description="No fire time before it.")
    endAt: AwareDatetime | None = Field(None, description="No fire time after it.")

    def changes(self) -> dict[str, Any]:
        return {**{name: None for name in ("start_at", "end_at")},
                "timezone": "UTC", "inputs": {}, "enabled": True, "overlap": "skip",
                "catch_up": "none", **super().changes()}


class ScheduleUpdate(ScheduleFields):
    """The fields to change; those left out keep their value."""

    cron: Cron | None = Field(None, description=CRON_HELP)
    timezone: TimeZone | None = None
    inputs: JsonObject | None = None
    enabled: StrictBool | None = None
    overlap: Overlap | None = None
    catchUp: CatchUp | None = None
    startAt: AwareDatetime | None = None
    endAt: AwareDatetime | None = None

    @field_validator("cron", "timezone", "enabled", "overlap", "catchUp", "inputs")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not null")
        return value
