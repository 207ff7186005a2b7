"""The queue of a group-committing writer, shared by every backend's writer: the jobs that
wait when the writer is free go into one transaction, and a stop marker (None) ends it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar


class Job(Protocol):
    @property
    def future(self) -> asyncio.Future[Any]: ...


J = TypeVar("J", bound=Job)


async def batches(queue: asyncio.Queue[J | None], limit: int) -> AsyncIterator[list[J]]:
    """Batches of at most `limit` jobs: the first waited for, then whatever else is queued.
    Ends at the stop marker; jobs queued behind it stay for `refuse_queued`."""
    while True:
        first = await queue.get()
        if first is None:
            return
        batch = [first]
        while len(batch) < limit and not queue.empty():
            job = queue.get_nowait()
            if job is None:
                yield batch
                return
            batch.append(job)
        yield batch


def refuse_queued(queue: asyncio.Queue[J | None], error: BaseException) -> None:
    """Fail every job still queued (behind the stop marker): refused, never silently dropped."""
    while not queue.empty():
        job = queue.get_nowait()
        if job is not None and not job.future.done():
            job.future.set_exception(error)
