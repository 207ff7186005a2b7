"""The contract every `EventStore` implementation must pass.

A backend's test module subclasses `EventStoreContract` and provides one fixture,
`open_store`: an async callable that opens the *same* fresh log each time it is
called within a test (so calling it again after `close()` is a reopen), taking
one keyword option, `ring_size`, the size of the in-memory buffer of recent
events live subscribers are fed from (a backend without one may ignore it).
The fixture closes every store it opened when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable
from contextlib import aclosing
from typing import Protocol

import pytest

from eventstore.errors import (
    ConcurrencyConflict,
    CursorBeyondLog,
    StoreUnavailable,
    SubscriptionLagged,
)
from eventstore.hashchain import GENESIS_HASH, canonical_bytes, chain_hash
from eventstore.interface import ANY_VERSION, NO_STREAM, EventStore
from eventstore.records import NewEvent, RecordedEvent
from tests.support.eventstore import TIMEOUT, positions, read_all, take, take_until, tick

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class StoreOpener(Protocol):
    def __call__(self, *, ring_size: int | None = None) -> Awaitable[EventStore]: ...


class EventStoreContract:
    """Behaviour of the event log that callers (engine, projections, SSE) rely on."""

    @pytest.fixture
    def open_store(self) -> StoreOpener:
        raise NotImplementedError("a backend's test class provides `open_store`")

    @pytest.fixture
    async def store(self, open_store: StoreOpener) -> EventStore:
        return await open_store()

    # -- append ----------------------------------------------------------------

    async def test_append_returns_positions_versions_and_chained_hashes(
        self, store: EventStore
    ) -> None:
        first = await store.append("run-a", [tick(1), tick(2)], NO_STREAM)
        second = await store.append("run-b", [tick(3, text="é ✓")], NO_STREAM)
        third = await store.append("run-a", [tick(4)], 2)

        recorded = first + second + third
        assert positions(recorded) == [1, 2, 3, 4]
        assert [(e.stream, e.version) for e in recorded] == [
            ("run-a", 1), ("run-a", 2), ("run-b", 1), ("run-a", 3)]
        assert [e.payload["n"] for e in recorded] == [1, 2, 3, 4]
        assert second[0].payload["text"] == "é ✓"
        prev = GENESIS_HASH
        for event in recorded:
            assert ISO_UTC.match(event.recorded_at), event.recorded_at
            assert event.prev_hash == prev
            assert event.hash == chain_hash(prev, canonical_bytes(
                event.position, event.stream, event.version, event.type, event.data,
                event.recorded_at))
            prev = event.hash
        assert await read_all(store) == recorded

    async def test_empty_append_writes_nothing(self, store: EventStore) -> None:
        assert await store.append("run-a", [], NO_STREAM) == []
        assert await store.head() == 0
        assert await store.read() == []

    async def test_head_and_stream_version_follow_appends(self, store: EventStore) -> None:
        assert await store.head() == 0
        assert await store.stream_version("run-a") == 0
        await store.append("run-a", [tick(1), tick(2)])
        await store.append("run-b", [tick(3)])
        assert await store.head() == 3
        assert await store.stream_version("run-a") == 2
        assert await store.stream_version("run-b") == 1
        assert await store.stream_version("run-c") == 0

    @pytest.mark.parametrize("expected", [NO_STREAM, 1, 3, -5])
    async def test_stale_expected_version_raises_conflict_and_writes_nothing(
        self, store: EventStore, expected: int
    ) -> None:
        await store.append("run-a", [tick(1), tick(2)], NO_STREAM)
        with pytest.raises(ConcurrencyConflict) as caught:
            await store.append("run-a", [tick(3), tick(4)], expected)
        assert (caught.value.stream, caught.value.expected, caught.value.actual) == (
            "run-a", expected, 2)
        assert await store.head() == 2
        assert await store.stream_version("run-a") == 2
        assert positions(await read_all(store)) == [1, 2]
        # The log goes on without a hole where the refused events would have been.
        assert positions(await store.append("run-a", [tick(5)], 2)) == [3]
        assert (await store.verify()).ok

    async def test_expected_version_of_a_missing_stream_conflicts(
        self, store: EventStore
    ) -> None:
        with pytest.raises(ConcurrencyConflict) as caught:
            await store.append("run-new", [tick(1)], 1)
        assert caught.value.actual == 0
        assert await store.head() == 0

    async def test_any_version_appends_whatever_the_stream_holds(self, store: EventStore) -> None:
        await store.append("run-a", [tick(1)], ANY_VERSION)
        recorded = await store.append("run-a", [tick(2)], ANY_VERSION)
        assert (recorded[0].position, recorded[0].version) == (2, 2)

    async def test_concurrent_appends_expecting_the_same_version_have_one_winner(
        self, store: EventStore
    ) -> None:
        await store.append("run-a", [tick(0)], NO_STREAM)
        outcomes = await asyncio.gather(
            *(store.append("run-a", [tick(i), tick(i)], 1) for i in range(10)),
            *(store.append(f"run-{i}", [tick(i)], NO_STREAM) for i in range(10)),
            return_exceptions=True,
        )
        contested, others = outcomes[:10], outcomes[10:]
        winners = [o for o in contested if not isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(o, ConcurrencyConflict) for o in contested if o not in winners)
        assert all(isinstance(o, list) for o in others)
        assert await store.stream_version("run-a") == 3
        log = await read_all(store)
        assert positions(log) == list(range(1, 14))
        assert (await store.verify()).ok

    async def test_multi_event_append_is_contiguous_among_concurrent_appends(
        self, store: EventStore
    ) -> None:
        batches = await asyncio.gather(
            *(store.append(f"run-{i}", [tick(j) for j in range(1 + i % 4)]) for i in range(40))
        )
        for batch in batches:
            assert positions(batch) == list(range(batch[0].position, batch[-1].position + 1))
            assert [e.version for e in batch] == list(range(1, len(batch) + 1))
        everything = sorted(p for batch in batches for p in positions(batch))
        assert everything == list(range(1, len(everything) + 1))
        on_disk = await read_all(store)
        assert on_disk == sorted((e for batch in batches for e in batch), key=lambda e: e.position)
        assert (await store.verify()).ok

    async def test_a_cancelled_append_lands_whole_or_not_at_all(self, store: EventStore) -> None:
        pending = asyncio.ensure_future(store.append("run-a", [tick(1), tick(2)]))
        await asyncio.sleep(0)  # queued for the writer
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        later = await store.append("run-b", [tick(3)])
        log = await read_all(store)
        assert positions(log) == list(range(1, later[-1].position + 1))
        assert len([e for e in log if e.stream == "run-a"]) in (0, 2)
        assert (await store.verify()).ok
        # Live subscribers see exactly what the disk holds, cancelled caller or not.
        async with aclosing(store.subscribe(after=0)) as events:
            assert await take(events, len(log)) == log

    # -- read ------------------------------------------------------------------

    async def test_read_pages_the_whole_log_in_position_order(self, store: EventStore) -> None:
        for i in range(25):
            await store.append(f"run-{i % 3}", [tick(i)])
        pages = [await store.read(None, after, 10) for after in (0, 10, 20, 25)]
        assert [positions(p) for p in pages] == [
            list(range(1, 11)), list(range(11, 21)), list(range(21, 26)), []]
        assert await store.read(None, 7, 3) == (await store.read())[7:10]

    async def test_read_pages_one_stream(self, store: EventStore) -> None:
        for i in range(30):
            await store.append(f"run-{i % 3}", [tick(i)])
        first = await store.read("run-1", 0, 4)
        assert positions(first) == [2, 5, 8, 11]
        assert [e.version for e in first] == [1, 2, 3, 4]
        second = await store.read("run-1", first[-1].position, 4)
        assert positions(second) == [14, 17, 20, 23]
        rest = await store.read("run-1", second[-1].position, 100)
        assert positions(rest) == [26, 29]
        assert await store.read("run-1", 29, 100) == []
        # A cursor between the stream's own positions works too.
        assert positions(await store.read("run-1", 6, 1)) == [8]
        assert await store.read("run-unknown") == []

    async def test_read_returns_what_append_returned(self, store: EventStore) -> None:
        recorded = await store.append("run-a", [NewEvent("Payload", {"x": [1, {"y": None}]})])
        assert await store.read("run-a") == recorded
        assert recorded[0].payload == {"x": [1, {"y": None}]}

    # -- subscribe -------------------------------------------------------------

    async def test_subscribe_delivers_history_then_live_without_gap_or_duplicate(
        self, store: EventStore
    ) -> None:
        for i in range(10):
            await store.append(f"run-{i % 2}", [tick(i)])

        async def writer() -> None:
            for i in range(10, 30):
                await store.append(f"run-{i % 2}", [tick(i)])
                if i % 5 == 0:
                    await asyncio.sleep(0)

        async with aclosing(store.subscribe(after=3)) as events:
            first = await take(events, 2)  # history is being read when the writer starts
            task = asyncio.create_task(writer())
            rest = await take_until(events, 30)
            await task
        assert positions(first + rest) == list(range(4, 31))
        assert first + rest == await read_all(store, after=3)

    async def test_subscribe_to_one_stream_delivers_only_its_events(
        self, store: EventStore
    ) -> None:
        for i in range(6):
            await store.append(f"run-{i % 3}", [tick(i)])
        async with aclosing(store.subscribe("run-1", after=0)) as events:
            history = await take(events, 2)
            for i in range(6, 15):
                await store.append(f"run-{i % 3}", [tick(i)])
            live = await take(events, 3)
        assert all(e.stream == "run-1" for e in history + live)
        assert history + live == await read_all(store, "run-1")

    async def test_subscribe_from_the_head_waits_for_new_events(self, store: EventStore) -> None:
        await store.append("run-a", [tick(1)])
        async with aclosing(store.subscribe(after=1)) as events:
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.05)
            assert not pending.done()
            recorded = await store.append("run-b", [tick(2)])
            assert await asyncio.wait_for(pending, TIMEOUT) == recorded[0]

    async def test_subscribe_to_a_stream_not_yet_written(self, store: EventStore) -> None:
        async with aclosing(store.subscribe("run-later", after=0)) as events:
            pending = asyncio.ensure_future(take(events, 2))
            await asyncio.sleep(0.01)
            await store.append("run-other", [tick(1)])
            mine = await store.append("run-later", [tick(2), tick(3)])
            assert await pending == mine

    @pytest.mark.parametrize("stream", [None, "run-a"])
    async def test_cursor_beyond_the_head_raises(
        self, store: EventStore, stream: str | None
    ) -> None:
        await store.append("run-a", [tick(1), tick(2)])
        async with aclosing(store.subscribe(stream, after=3)) as events:
            with pytest.raises(CursorBeyondLog) as caught:
                await anext(events)
        assert (caught.value.cursor, caught.value.head) == (3, 2)

    async def test_negative_cursor_raises(self, store: EventStore) -> None:
        async with aclosing(store.subscribe(after=-1)) as events:
            with pytest.raises(CursorBeyondLog):
                await anext(events)

    async def test_subscriber_further_behind_than_max_lag_is_told(
        self, store: EventStore
    ) -> None:
        await store.append("run-a", [tick(0)])
        async with aclosing(store.subscribe(after=0, max_lag=5)) as events:
            assert positions(await take(events, 1)) == [1]
            # Caught up and waiting for the next event...
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.01)
            await store.append("run-a", [tick(1)])
            assert (await asyncio.wait_for(pending, TIMEOUT)).position == 2
            # ...then it stops reading while 20 more are written.
            for i in range(20):
                await store.append("run-a", [tick(i)])
            with pytest.raises(SubscriptionLagged) as caught:
                await take(events, 20)
        assert caught.value.head == 22
        assert caught.value.cursor <= 22 - 5

    async def test_subscriber_within_max_lag_is_not_told(self, store: EventStore) -> None:
        async with aclosing(store.subscribe(after=0, max_lag=5)) as events:
            for i in range(20):
                await store.append("run-a", [tick(i)])
                assert positions(await take(events, 1)) == [i + 1]

    @pytest.mark.parametrize("ring_size", [None, 16])
    async def test_stream_subscriber_is_not_lagged_by_other_streams(
        self, open_store: StoreOpener, ring_size: int | None
    ) -> None:
        # Lag is how far a subscriber is behind what it asked for: a caught-up
        # subscriber of a quiet run (say, waiting for a person) must not be cut
        # off because other runs are busy, however far the ring has turned.
        store = await open_store(ring_size=ring_size)
        await store.append("run-quiet", [tick(0)])
        async with aclosing(store.subscribe("run-quiet", after=0, max_lag=10)) as events:
            assert positions(await take(events, 1)) == [1]
            pending = asyncio.ensure_future(take(events, 1))
            await asyncio.sleep(0.01)
            for i in range(50):
                await store.append(f"run-busy-{i % 4}", [tick(i)])
            mine = await store.append("run-quiet", [tick(99)])
            assert await pending == mine

    @pytest.mark.parametrize("ring_size", [None, 16])
    async def test_stream_subscriber_from_start_of_long_log_is_not_lagged(
        self, open_store: StoreOpener, ring_size: int | None
    ) -> None:
        store = await open_store(ring_size=ring_size)
        for i in range(50):
            await store.append(f"run-busy-{i % 4}", [tick(i)])
        mine = await store.append("run-new", [tick(1)])
        async with aclosing(store.subscribe("run-new", after=0, max_lag=10)) as events:
            assert await take(events, 1) == mine

    @pytest.mark.parametrize("stream", [None, "run-1"])
    async def test_subscriber_catches_up_from_disk_after_the_ring_rotated_past_it(
        self, open_store: StoreOpener, stream: str | None
    ) -> None:
        store = await open_store(ring_size=16)
        for i in range(40):
            await store.append(f"run-{i % 3}", [tick(i)])
        async with aclosing(store.subscribe(stream, after=0)) as events:
            early = await take(events, 5)
            # The subscriber stops reading while the ring turns over many times.
            for i in range(40, 200):
                await store.append(f"run-{i % 3}", [tick(i), tick(i)])
            last = (await read_all(store, stream))[-1].position
            late = await take_until(events, last)
            # Then it is live again.
            more = await store.append("run-1", [tick(1000)])
            live = await take(events, 1)
        assert early + late + live == await read_all(store, stream)
        assert live == more

    async def test_many_subscribers_of_a_small_ring_all_get_everything(
        self, open_store: StoreOpener
    ) -> None:
        store = await open_store(ring_size=16)

        async def writer() -> None:
            for i in range(150):
                await store.append(f"run-{i % 5}", [tick(i)])
                if i % 7 == 0:
                    await asyncio.sleep(0.001)

        async def subscriber(stream: str | None, slow: bool) -> list[RecordedEvent]:
            got: list[RecordedEvent] = []
            async with aclosing(store.subscribe(stream, after=0)) as events:
                while len(got) < (150 if stream is None else 30):
                    got.append(await anext(events))
                    if slow and len(got) % 10 == 0:
                        await asyncio.sleep(0.005)
            return got

        results = await asyncio.wait_for(asyncio.gather(
            writer(), subscriber(None, False), subscriber(None, True),
            subscriber("run-2", False), subscriber("run-3", True)), TIMEOUT)
        assert results[1] == results[2] == await read_all(store)
        assert results[3] == await read_all(store, "run-2")
        assert results[4] == await read_all(store, "run-3")

    # -- close and reopen ------------------------------------------------------

    @pytest.mark.parametrize("stream", [None, "run-a"])
    async def test_close_ends_live_subscriptions(
        self, store: EventStore, stream: str | None
    ) -> None:
        await store.append("run-a", [tick(1)])
        async with aclosing(store.subscribe(stream, after=0)) as events:
            await take(events, 1)
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.01)
            await store.close()
            with pytest.raises((StoreUnavailable, StopAsyncIteration)):
                await asyncio.wait_for(pending, TIMEOUT)

    async def test_close_finishes_appends_already_queued(
        self, open_store: StoreOpener
    ) -> None:
        store = await open_store()
        tasks = [asyncio.ensure_future(store.append(f"run-{i}", [tick(i)])) for i in range(30)]
        await asyncio.sleep(0)
        await store.close()
        recorded = [e for batch in await asyncio.gather(*tasks) for e in batch]
        reopened = await open_store()
        assert await read_all(reopened) == sorted(recorded, key=lambda e: e.position)

    async def test_append_and_read_after_close_are_refused(self, store: EventStore) -> None:
        await store.close()
        await store.close()  # closing twice is harmless
        with pytest.raises(StoreUnavailable):
            await store.append("run-a", [tick(1)])
        with pytest.raises(StoreUnavailable):
            await store.read()

    async def test_reopen_keeps_the_log_versions_and_chain(self, open_store: StoreOpener) -> None:
        store = await open_store()
        await store.append("run-a", [tick(1), tick(2)], NO_STREAM)
        await store.append("run-b", [tick(3)], NO_STREAM)
        before = await read_all(store)
        await store.close()

        store = await open_store()
        assert await read_all(store) == before
        assert await store.head() == 3
        assert await store.stream_version("run-a") == 2
        with pytest.raises(ConcurrencyConflict):
            await store.append("run-a", [tick(4)], 1)
        after = await store.append("run-a", [tick(4)], 2)
        assert (after[0].position, after[0].version, after[0].prev_hash) == (4, 3, before[-1].hash)
        async with aclosing(store.subscribe(after=1)) as events:
            assert await take(events, 3) == before[1:] + after
        result = await store.verify()
        assert (result.ok, result.checked, result.head) == (True, 4, 4)

    async def test_verify_of_an_empty_log_holds(self, store: EventStore) -> None:
        result = await store.verify()
        assert result.ok
        assert result.checked == 0
