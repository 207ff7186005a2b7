"""The PostgreSQL event store: the shared contract, plus what only several connections can show."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from eventstore.errors import StoreUnavailable
from eventstore.interface import EventStore
from eventstore.postgres import PostgresEventStore
from eventstore.records import NewEvent, RecordedEvent
from projections import all_projections
from tests.eventstore.contract import EventStoreContract, StoreOpener
from tests.eventstore.exploding import Exploding
from tests.support.eventstore import TIMEOUT, head_reaches, read_all, take, tick


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def open_store(self, pg_url: str) -> AsyncIterator[StoreOpener]:
        opened: list[EventStore] = []

        async def opener(*, ring_size: int | None = None) -> EventStore:
            options = {} if ring_size is None else {"ring_size": ring_size}
            store = await PostgresEventStore.open(pg_url, projectors=all_projections(), **options)
            opened.append(store)
            return store

        yield opener
        for store in opened:
            await store.close()


@pytest.fixture
async def two_nodes(pg_url: str) -> AsyncIterator[tuple[PostgresEventStore, PostgresEventStore]]:
    """Two stores on one database, as two service nodes hold them."""
    first = await PostgresEventStore.open(pg_url, projectors=all_projections())
    second = await PostgresEventStore.open(pg_url, projectors=all_projections())
    yield first, second
    await first.close()
    await second.close()


async def test_two_nodes_append_to_one_dense_chain_and_follow_each_other(
    two_nodes: tuple[PostgresEventStore, PostgresEventStore],
) -> None:
    first, second = two_nodes

    async def appender(store: PostgresEventStore, n: int) -> None:
        for i in range(15):
            await store.append(f"run-{n % 6}", [tick(n * 100 + i), tick(n * 100 + i)])

    async def follow(store: PostgresEventStore, total: int) -> list[int]:
        seen = []
        async with contextlib.aclosing(store.subscribe(after=0)) as events:
            async for event in events:
                seen.append(event.position)
                if len(seen) == total:
                    return seen
        return seen

    total = 2 * 15 * 10
    followers = [asyncio.create_task(follow(store, total)) for store in (first, second)]
    await asyncio.gather(*(appender(first if n % 2 else second, n) for n in range(10)))
    seen = await asyncio.wait_for(asyncio.gather(*followers), TIMEOUT)
    log = await read_all(first)
    assert [e.position for e in log] == list(range(1, total + 1))
    assert seen == [[e.position for e in log]] * 2
    for stream in {e.stream for e in log}:
        versions = [e.version for e in log if e.stream == stream]
        assert versions == list(range(1, len(versions) + 1))
    assert (await second.verify()).ok


async def test_a_cursor_from_another_node_resumes_at_once(
    two_nodes: tuple[PostgresEventStore, PostgresEventStore],
) -> None:
    first, second = two_nodes
    await first.append("run-a", [tick(1)])
    recorded = await first.append("run-a", [tick(2), tick(3)])
    # The client reconnects to the other node before its feed has heard of the commit.
    async with contextlib.aclosing(second.subscribe("run-a", after=recorded[0].position)) as events:
        assert await take(events, 1) == recorded[1:]


async def test_the_feed_comes_back_after_its_connection_is_killed(
    two_nodes: tuple[PostgresEventStore, PostgresEventStore], pg_url: str,
) -> None:
    first, second = two_nodes
    await first.append("run-a", [tick(1)])
    async with contextlib.aclosing(second.subscribe(after=1)) as events:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN %' AND pid != pg_backend_pid()"
                " AND datname = current_database()").fetchone()
        assert killed is not None
        assert killed[0] >= 1
        # Written while the node's listener is gone: found by its poll or after it listens again.
        recorded = await first.append("run-a", [tick(2)])
        assert await take(events, 1) == recorded


async def test_a_projection_failure_fails_only_its_own_append(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url, projectors=[*all_projections(), Exploding()])
    try:
        await store.append("run-a", [tick(1)])
        others = [asyncio.ensure_future(store.append(f"run-{i}", [tick(i)])) for i in range(5)]
        with pytest.raises(RuntimeError, match="projection failed"):
            await store.append("run-a", [tick(2), NewEvent("Boom")])
        await asyncio.gather(*others)
        log = await read_all(store)
        assert [e.position for e in log] == list(range(1, 7))
        assert (await store.verify()).ok
        seen = await store.fetch_all("SELECT position FROM exploding_seen ORDER BY position")
        assert [row[0] for row in seen] == list(range(1, 7))
        checkpoint = await store.fetch_all(
            "SELECT position FROM projection_checkpoints WHERE name = 'exploding'")
        assert checkpoint == [(6,)]
    finally:
        await store.close()


async def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await PostgresEventStore.open("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")


CHILD = Path(__file__).with_name("pg_appender.py")


async def test_two_processes_appending_give_every_subscriber_the_final_log_order(
    pg_url: str,
) -> None:
    # 25 appenders here and 25 in another process, on two stores of one log; five
    # subscribers, some joining mid-write, on two stores of this process.
    appenders, appends_each = 25, 20
    here = await PostgresEventStore.open(pg_url, projectors=all_projections())
    other = await PostgresEventStore.open(pg_url, projectors=all_projections())
    expected_total = 2 * sum(1 + (n + i) % 3 for n in range(appenders)
                             for i in range(appends_each))
    received: dict[int, list[RecordedEvent]] = {}
    starts: dict[int, int] = {}
    last: dict[int, int] = {}  # the last position each must get, once the log is known
    done = [asyncio.Event() for _ in range(5)]

    async def subscriber(index: int, store: PostgresEventStore, join_at: int,
                         stream: str | None) -> None:
        await head_reaches(store, join_at)
        starts[index] = after = join_at // 2 if index % 2 else join_at
        got = received.setdefault(index, [])
        async with contextlib.aclosing(store.subscribe(stream, after=after)) as events:
            async for event in events:
                got.append(event)
                if index in last and event.position >= last[index]:
                    done[index].set()

    async def appender(n: int) -> None:
        for i in range(appends_each):
            size = 1 + (n + i) % 3
            await here.append(f"run-{(n + i) % 12}",
                              [tick(n * 1000 + i, k=k, by="here") for k in range(size)])

    plan = [(here, 0, None), (other, 150, None), (here, 400, None), (other, 100, "run-3"),
            (here, 600, "run-7")]
    readers = [asyncio.create_task(subscriber(i, store, join_at, stream))
               for i, (store, join_at, stream) in enumerate(plan)]
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), pg_url, str(appenders), str(appends_each), "there",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await asyncio.gather(*(appender(n) for n in range(appenders)))
        _, stderr = await asyncio.wait_for(child.communicate(), 60)
        assert child.returncode == 0, stderr.decode()
        log = await read_all(here)
        assert [e.position for e in log] == list(range(1, expected_total + 1))
        assert {e.payload["by"] for e in log} == {"here", "there"}
        wanted = [[e for e in log if e.position > starts[i]
                   and (stream is None or e.stream == stream)]
                  for i, (_, _, stream) in enumerate(plan)]
        for i, events in enumerate(wanted):
            last[i] = events[-1].position
            if received[i] and received[i][-1].position >= last[i]:
                done[i].set()
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in done)), TIMEOUT)
        await asyncio.sleep(0.05)  # room for a wrong extra delivery to show up
        for i, events in enumerate(wanted):
            assert received[i] == events, (i, plan[i][2], starts[i])
        assert 0 < starts[1] < expected_total
        assert 0 < starts[4] < expected_total
        assert (await other.verify()).ok
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await here.close()
        await other.close()


async def test_connections_killed_mid_load_lose_nothing_acknowledged(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url, projectors=all_projections())
    acknowledged: list[RecordedEvent] = []
    refused = 0
    stop = asyncio.Event()

    async def appender(n: int) -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            try:
                acknowledged.extend(await store.append(f"run-{n}", [tick(i)]))
            except StoreUnavailable:
                refused += 1
                await asyncio.sleep(0.01)
            i += 1

    received: list[RecordedEvent] = []
    last: list[int] = []  # the head once the writers stopped
    caught_up = asyncio.Event()

    async def follow() -> None:
        async with contextlib.aclosing(store.subscribe(after=0)) as events:
            async for event in events:
                received.append(event)
                if last and event.position >= last[0]:
                    caught_up.set()

    follower = asyncio.create_task(follow())
    writers = [asyncio.create_task(appender(n)) for n in range(10)]
    try:
        await head_reaches(store, 200)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for _ in range(3):  # every connection of the store, three times over
                # Only this test's database: other test runs may share the server.
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE application_name = 'runstream'"
                              " AND datname = current_database()")
                await asyncio.sleep(0.2)
        # The store comes back by itself: appends succeed again.
        after = await store.head()
        await head_reaches(store, after + 200)
        stop.set()
        await asyncio.gather(*writers)
        log = await read_all(store)
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        on_disk = {e.position: e for e in log}
        assert all(on_disk[e.position] == e for e in acknowledged)
        assert (await store.verify()).ok
        last.append(log[-1].position)
        if received and received[-1].position >= last[0]:
            caught_up.set()
        # The live subscriber lived through it: everything, in order, once.
        await asyncio.wait_for(caught_up.wait(), TIMEOUT)
        assert received == log
    finally:
        stop.set()
        follower.cancel()
        await asyncio.gather(follower, *writers, return_exceptions=True)
        await store.close()
