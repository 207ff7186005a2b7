"""Where a stream resumes: `Last-Event-ID` (header) or `lastEventId` (query), a log position."""

from __future__ import annotations

from aiohttp import web

from service.errors import ApiError, bad_request

MAX_CURSOR_DIGITS = 18  # positions fit in SQLite's signed 64-bit INTEGER


def parse_cursor(request: web.Request) -> int:
    """The position to resume after (0 = from the start); 400 for anything but a position."""
    raw = request.headers.get("Last-Event-ID")
    source = "Last-Event-ID header"
    if raw is None:
        raw = request.query.get("lastEventId")
        source = "lastEventId parameter"
    if raw is None or raw == "":
        return 0
    raw = raw.strip()
    if not raw.isdigit() or not raw.isascii() or len(raw) > MAX_CURSOR_DIGITS:
        raise bad_request(f"{source} must be a log position (a non-negative integer)")
    return int(raw)


def cursor_beyond_log(cursor: int, head: int) -> ApiError:
    """A cursor this log never produced: a restore lost events, or the id is forged."""
    return ApiError(
        409,
        "cursor_beyond_log",
        f"Last-Event-ID {cursor} is beyond the end of the log ({head}); "
        "reconnect without it to read from the start",
        {"cursor": cursor, "head": head},
    )
