"""The mark a restore leaves in the log, so that no position is ever used twice.

A restore puts back a log that ends at `restored head` r, while clients may hold cursors
(SSE ids: plain log positions in every dialect) up to the head the replaced log reached,
L. If the restored log went on at r + 1, new events would take positions r + 1 .. L again,
and a client resuming from a lost position would be served the rest of a different history
as if nothing had happened. So the restore appends one `LogRestored` event at L + 1,
chained to the event at r, and the log continues after it: positions r + 1 .. L are a hole
that this log never fills. Every position ever handed out then names one event in every
history that holds it, and a cursor is good exactly when the log holds an event at that
position (the streams check that, service/streams/cursor.py) — on any backend, with no
change to what a client parses.

`verify` accepts the hole only where such a marker states it exactly (it starts right
after the event before the marker and ends right before the marker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from eventstore.hashchain import canonical_bytes, chain_hash
from eventstore.records import RecordedEvent, utc_now

# The stream of events about the log itself (no run id looks like this).
LOG_STREAM = "$log"
LOG_RESTORED = "LogRestored"


@dataclass(frozen=True)
class LogEnd:
    """The last event of a log: its position and hash (0 and None for an empty log)."""

    position: int
    hash: str | None


@dataclass(frozen=True)
class RestoreMark:
    """What a restore put in the log: the end it restored, and the positions it skipped."""

    restored: LogEnd
    lost_from: int
    lost_through: int
    marker_position: int


def restore_marker(
    *, restored_head: int, restored_hash: str, lost_through: int, log_version: int,
    source: str, replaced_hash: str | None,
) -> RecordedEvent:
    """The `LogRestored` event at `max(lost_through, restored_head) + 1`.

    `lost_through`: the highest position a client may have seen of the replaced log;
    `log_version`: the LOG_STREAM's version in the restored log; `replaced_hash`: the
    replaced log's hash at `lost_through`, when it was there to read.
    """
    lost_through = max(lost_through, restored_head)
    position = lost_through + 1
    recorded_at = utc_now()
    data = orjson.dumps({
        "restoredHead": restored_head, "restoredHash": restored_hash,
        "lostFrom": restored_head + 1, "lostThrough": lost_through,
        "replacedHash": replaced_hash, "source": source,
    })
    version = log_version + 1
    digest = chain_hash(restored_hash, canonical_bytes(
        position, LOG_STREAM, version, LOG_RESTORED, data, recorded_at))
    return RecordedEvent(position, LOG_STREAM, version, LOG_RESTORED, data, recorded_at,
                         restored_hash, digest)


def stated_hole(event: RecordedEvent) -> tuple[int, int] | None:
    """The positions (first, last) a restore marker says it skipped; None for other events."""
    if event.stream != LOG_STREAM or event.type != LOG_RESTORED:
        return None
    try:
        data: dict[str, Any] = orjson.loads(event.data)
        first, last = int(data["lostFrom"]), int(data["lostThrough"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return first, last
