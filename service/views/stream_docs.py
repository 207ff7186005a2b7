"""What every resumable run stream answers besides its frames, described once."""

from __future__ import annotations

from service.routing import (
    BAD_REQUEST,
    CURSOR_BEYOND_LOG,
    NOT_FOUND,
    PRUNED,
    TOO_MANY_STREAMS,
    empty,
)

STREAM_RULES = (
    "Every frame rendering a log event carries `id:` = that event's global log position "
    "(keepalives carry none). Reconnecting with `Last-Event-ID` (header) or `lastEventId` "
    "(query) resumes right after that position, with no gap and no duplicate. A malformed "
    "cursor is 400; a cursor beyond the end of the log, or from a history a restore "
    "replaced, is 409 `cursor_beyond_log`; "
    "reconnecting after the run's terminal event is 204. A client that stops reading is "
    "dropped after a bounded buffer or write deadline and resumes with no loss. Access is "
    "checked on every (re)connect."
)
STREAM_ENDED = empty(204, (
    "The run ended and the cursor is at or after its terminal event: nothing more to send "
    "(an EventSource stops reconnecting)."))
RUN_STREAM_ERRORS = (BAD_REQUEST, NOT_FOUND, CURSOR_BEYOND_LOG, TOO_MANY_STREAMS, PRUNED)
