"""Reading what a prune batch archives: every event of its runs, in log order.

A batch is mostly the oldest runs, whose events lie together in the log, so that stretch
of the log is read page by page and the batch's events kept: a few large reads instead of
one per run. A run whose events lie further on (a parent that ran long while others came
and went) is not waited for: the stretch read stops once it has read SCAN_FACTOR times the
batch's events, and the runs it did not complete are read one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from eventstore.interface import EventStore
from eventstore.records import RecordedEvent
from eventstore.tables import Tables
from service.retention.families import Run

READ_PAGE = 5000
COUNT_CHUNK = 500  # run ids per count query (SQLite allows 32,766 parameters)
SCAN_FACTOR = 2


async def event_counts(store: EventStore, run_ids: Sequence[str]) -> dict[str, int]:
    """Each run's events (a run in the runs table has none pruned yet)."""
    tables = Tables(store)
    counts: dict[str, int] = {}
    for i in range(0, len(run_ids), COUNT_CHUNK):
        chunk = list(run_ids[i:i + COUNT_CHUNK])
        rows = await tables.fetch_all(
            f"SELECT stream, COUNT(*) FROM events WHERE stream IN ({', '.join('?' * len(chunk))})"
            " GROUP BY stream", chunk)
        counts.update({row[0]: int(row[1]) for row in rows})
    return counts


async def batch_events(store: EventStore, runs: Sequence[Run]) -> list[RecordedEvent]:
    """Every event of `runs`, in log order."""
    if not runs:
        return []
    expected = await event_counts(store, [run.id for run in runs])
    found: dict[str, list[RecordedEvent]] = {run.id: [] for run in runs}
    total = sum(expected.values())
    got = scanned = 0
    # A run's first event is its RunCreated, at its seq: nothing of the batch lies before.
    after = min(run.seq for run in runs) - 1
    while got < total and scanned < SCAN_FACTOR * total:
        page = await store.read(None, after, READ_PAGE)
        if not page:
            break
        for event in page:
            kept = found.get(event.stream)
            if kept is not None:
                kept.append(event)
                got += 1
        scanned += len(page)
        after = page[-1].position
    short = [run_id for run_id, events in found.items()
             if len(events) < expected.get(run_id, 0)]
    for run_id, events in zip(short, await asyncio.gather(*(run_events(store, run_id)
                                                             for run_id in short)), strict=True):
        found[run_id] = events
    return sorted((event for events in found.values() for event in events),
                  key=lambda event: event.position)


async def run_events(store: EventStore, run_id: str) -> list[RecordedEvent]:
    """One run's events, read on their own."""
    events: list[RecordedEvent] = []
    after = 0
    while True:
        page = await store.read(run_id, after, READ_PAGE)
        events += page
        if len(page) < READ_PAGE:  # a short page is the stream's end: no empty read
            return events
        after = page[-1].position
