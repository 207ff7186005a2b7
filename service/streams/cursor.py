"""Where a stream resumes: `Last-Event-ID` (header) or `lastEventId` (query), a log position.

A cursor is good when it is 0 or the position of an event the log holds. Every id a stream
sends is one, and positions are never reused: a restore leaves the positions of the history
it lost as a hole the log never fills (eventstore/lost_history.py). So a cursor from that
lost history, or one beyond the head, names no event here and gets 409, however far new
events have since taken the head past it, and with no change to the ids clients parse.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from aiohttp import web

from eventstore.interface import EventStore
from eventstore.lost_history import LOG_STREAM, stated_hole
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
    where = (f"is beyond the end of the log ({head})" if cursor > head else
             "names no event of this log (a restore replaced the history it came from)")
    return ApiError(
        409,
        "cursor_beyond_log",
        f"Last-Event-ID {cursor} {where}; reconnect without it to read from the start",
        {"cursor": cursor, "head": head},
    )


# The holes each open store's log has, read once: markers are written only by a restore,
# which runs while no server has the log open (service/backup/), so they never change
# under a running store. Kept beside the store rather than asked of the database, so a
# resume costs no query more than it did before restores existed.
_HOLES: WeakKeyDictionary[EventStore, tuple[tuple[int, int], ...]] = WeakKeyDictionary()
MAX_MARKERS = 10_000  # restores of one log: far more than any deployment makes


async def holes_in(store: EventStore) -> tuple[tuple[int, int], ...]:
    """The positions (first, last) that restores left out of this log."""
    holes = _HOLES.get(store)
    if holes is None:
        markers = await store.read(LOG_STREAM, 0, MAX_MARKERS)
        holes = tuple(hole for event in markers
                      if (hole := stated_hole(event)) is not None and hole[0] <= hole[1])
        _HOLES[store] = holes
    return holes


async def check_cursor(store: EventStore, after: int) -> None:
    """409 `cursor_beyond_log` unless `after` is 0 or the position of an event in the log:
    at most the head, and in no hole a restore left (`verify` holds the log to exactly
    that: every other position up to the head is there)."""
    if after == 0:
        return
    head = await store.head()
    if after > head or any(first <= after <= last for first, last in await holes_in(store)):
        raise cursor_beyond_log(after, head)
