"""Pruning: removing finished streams' event data while every chain header stays.

A pruned event keeps its position, stream, version, type, recorded_at, prev_hash and hash;
only its data goes (stored as empty bytes, which no appended event can have). The chain
still verifies link by link (eventstore/verify.py), and the record of the prune is itself
an event, appended in the same transaction, so a gap in the data is always explained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventstore.errors import EventStoreError
from eventstore.records import NewEvent, RecordedEvent

# Given the streams whose data this prune removes and how many events they held, the
# event that records it (appended in the same transaction).
PruneRecord = Callable[[list[str], int], NewEvent]


@dataclass(frozen=True, slots=True)
class PruneOutcome:
    """What one prune removed: streams already pruned are skipped, never pruned twice."""

    streams: list[str] = field(default_factory=list)
    events: int = 0
    bytes: int = 0
    record: RecordedEvent | None = None


class PruneUnsupported(EventStoreError):
    """This backend cannot prune (yet); nothing was changed."""


def check_streams(streams: Sequence[str]) -> list[str]:
    """Each stream once, in the order given."""
    return list(dict.fromkeys(streams))
