"""A task that lives as long as a block of the app's lifetime: started on entry, cancelled
and awaited on exit. The schedules, heartbeats, checkpoints and retention use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None] | None,
                        name: str) -> AsyncIterator[None]:
    """Run `work` as a task named `name` until the block ends (None: nothing to run)."""
    if work is None:
        yield
        return
    task = asyncio.get_running_loop().create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
