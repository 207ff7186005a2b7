"""Cron expressions in a time zone, read by cronsim (which follows Debian's cron, daylight
saving changes included: a fixed time that does not exist fires when the clock jumps past
it, a fixed time that occurs twice fires once, `*` hours fire in both copies of an hour)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

# The @-names of Vixie cron, as five fields (cronsim reads five fields only).
NAMED = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_CRON_CHARS = 200


class BadCron(ValueError):
    """An expression or a time zone that cannot be read."""


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the zone files: once


def zone(name: str) -> ZoneInfo:
    if name not in _zone_names():  # also refuses paths ZoneInfo would try to open
        raise BadCron(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise BadCron(f"unknown time zone {name!r}") from None


def check(expression: str, timezone: str) -> None:
    """Raise BadCron unless `expression` is a five-field cron (or an @-name) in `timezone`."""
    fire_times(expression, timezone, datetime.now(UTC))


def fire_times(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after `after` (aware), in order, as aware UTC datetimes."""
    if len(expression) > MAX_CRON_CHARS:
        raise BadCron(f"a cron expression has at most {MAX_CRON_CHARS} characters")
    fields = NAMED.get(expression.strip().lower(), expression)
    if len(fields.split()) != 5:
        raise BadCron("a cron expression has five fields (minute hour day month weekday) "
                      f"or is one of {', '.join(NAMED)}")
    tz = zone(timezone)
    # cronsim may yield its start itself when it matches: `after` is left out below.
    try:
        times = CronSim(fields, after.astimezone(tz))
    except CronSimError as exc:
        raise BadCron(f"bad cron expression: {exc}") from None
    for at in times:
        at_utc = at.astimezone(UTC)
        if at_utc > after:
            yield at_utc
