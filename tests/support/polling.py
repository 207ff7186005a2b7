"""One way for a test to wait for what nothing announces (a status another process writes, a
log line written after the answer, a page's state): poll a condition until it holds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(condition: Callable[[], T | Awaitable[T]], within_s: float,
                   message: str | Callable[[], str], *, every_s: float = 0.02) -> T:
    """The first truthy value of `condition()` (sync or async), tried every `every_s`.

    After `within_s` it fails the test with `message` (a callable is asked only then, so it
    can say what was last seen). The condition is always tried at least once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        value = condition()
        result: T = await value if inspect.isawaitable(value) else value  # type: ignore[assignment]
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"after {within_s} s: "
                                 f"{message() if callable(message) else message}")
        await asyncio.sleep(every_s)
