"""Child process for the PostgreSQL ordering test: a second node appending to the same log.

Usage: python pg_appender.py URL APPENDERS APPENDS_EACH PREFIX. Exits 0 once every
append was acknowledged.
"""

from __future__ import annotations

import asyncio
import sys

from eventstore.postgres import PostgresEventStore
from eventstore.records import NewEvent
from projections import all_projections


async def main(url: str, appenders: int, appends_each: int, prefix: str) -> None:
    store = await PostgresEventStore.open(url, projectors=all_projections())

    async def appender(n: int) -> None:
        for i in range(appends_each):
            size = 1 + (n + i) % 3
            await store.append(f"run-{(n + i) % 12}",
                               [NewEvent("Tick", {"n": n * 1000 + i, "k": k, "by": prefix})
                                for k in range(size)])

    try:
        await asyncio.gather(*(appender(n) for n in range(appenders)))
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
