"""The serving loop shared by every stream endpoint, as an aiohttp response.

A handler checks access and the cursor, then returns an `EventStreamResponse` with the
access it granted (a `StreamAccess`: this module decides nothing about access, it only
asks again). aiohttp prepares a returned response only after the handler and every
middleware have returned, and that is when this one serves its events: history then
live (from `EventStore.subscribe`), keepalives when idle, until the run's terminal
event, shutdown, its maximum duration, its user's access being taken away (it is
checked again at the start and periodically), the client leaving, or a client too
slow to keep up (streams/writer.py). Serving there means an open stream holds this
object, its subscription and its connection, and none of the suspended frames of the
middleware chain: with thousands of idle streams those frames were an eighth of the
memory. Open streams are kept in the app's registry (streams/registry.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from eventstore.errors import StoreUnavailable
from eventstore.hub import EventHub
from eventstore.records import RecordedEvent
from service import keys
from service.logging import log_request
from service.routing import route_tag
from service.streams.registry import StreamAccess
from service.streams.sse import SSE_HEADERS, Frame, encode, encode_event, encode_retry
from service.streams.writer import BoundedWriter, ClientGone

log = structlog.get_logger("runstream.streams")

# A renderer gives the wire bytes of one event (b"" when the event shows nothing):
# bytes, not frames, so a dialect whose output is the same for every subscriber
# (v1) encodes each event once for all of them.
Render = Callable[[RecordedEvent], Awaitable[bytes]]
RenderFrames = Callable[[RecordedEvent], Awaitable[list[Frame]]]
OnDisconnect = Callable[[], Awaitable[None]]

# How soon a stream whose run is cancelled on disconnect notices a silent disconnect.
ON_DISCONNECT_CHECK_S = 1.0

# Endings the server chooses (shutdown, access revoked): the client is still there and
# will reconnect and resume, so they are not disconnects.
SERVER_ENDINGS = frozenset({"closed", "revoked"})


def encoding(render_frames: RenderFrames) -> Render:
    """A renderer from one that gives an event's frames."""

    async def render(event: RecordedEvent) -> bytes:
        return encode_event(await render_frames(event), event.position)

    return render


@dataclass(slots=True)
class StreamOptions:
    keepalive: Frame | None = None
    keepalive_interval_s: float = 15.0
    max_duration_s: float | None = None
    send_retry: bool = True


def never_terminal(event: RecordedEvent) -> bool:
    """For streams that follow the whole log rather than one run: they end only when
    the client leaves, the server shuts down or the maximum duration passes."""
    return False


class EventStreamResponse(BoundedWriter, web.StreamResponse):
    """One SSE response. While it serves it is in `app[keys.STREAMS]` (the registry).

    Per event the serving loop only awaits the subscription and writes: keepalives,
    the maximum duration, the disconnect check and the periodic access check are
    looked after by one timer per stream (re-armed per interval, not per event), which
    ends the loop by cancelling its task with a reason. A write only arms its deadline
    when it could wait for the client (the transport may be paused).
    """

    # Our state in slots (aiohttp's few attributes stay in the base class's __dict__):
    # thousands of these stay open, and past 30 attributes an instance dict stops
    # sharing its keys and costs about 1.5 KB each.
    __slots__ = (
        "_events", "_render", "_options", "_is_terminal", "_prelude", "_on_disconnect",
        "access", "_disconnect_check_s", "_access_check_s", "outcome",
        "events_sent", "request_started", "_next_access_check", "_access_task", "_task",
        "_ending", "_last_write", "_keepalive_task", "_timer", "tag", "too_slow", "lag",
        "_hub",
    )

    def __init__(
        self,
        events: AsyncIterator[RecordedEvent],
        render: Render,
        options: StreamOptions,
        *,
        access: StreamAccess,
        is_terminal: Callable[[RecordedEvent], bool] = never_terminal,
        headers: dict[str, str] | None = None,
        prelude: bytes = b"",
        on_disconnect: OnDisconnect | None = None,
    ) -> None:
        # Compression stays off (it is opt-in per response): it would buffer frames.
        super().__init__(headers={**SSE_HEADERS, **(headers or {})})
        self._init_writer()
        self._events = events
        self._render = render
        self._options = options
        self._is_terminal = is_terminal
        self._prelude = prelude  # written after `retry:`, before the first event
        self._on_disconnect = on_disconnect
        # Whose stream it is and what it may read: asked again while it runs.
        self.access = access
        self._disconnect_check_s = 0.0
        self._access_check_s = 0.0
        # Why it ended: terminal, closed, revoked, timeout, gone, unavailable, error, head.
        self.outcome: str | None = None
        self.events_sent = 0
        # Set by the request middleware, which leaves the request's log line to the
        # stream: it is written when the stream ends, with how it ended.
        self.request_started: float | None = None
        self._next_access_check = 0.0
        self._access_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[object] | None = None
        self._ending: str | None = None
        self._last_write = 0.0
        self._keepalive_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # For metrics: the route's tag (its dialect), whether it was dropped for not
        # reading, and how far behind the log's head its last event was when sent.
        self.tag = ""
        self.too_slow = False
        self.lag = 0
        self._hub: EventHub | None = None

    @property
    def ending(self) -> str:
        """How it ended, for metrics: its outcome, or `slow` when dropped for not reading."""
        return "slow" if self.too_slow else self.outcome or "cancelled"

    def close(self, reason: str = "closed") -> None:
        """End the stream at the next opportunity: server shutdown ("closed"), or its
        user's access shrank ("revoked"). Either way the client reconnects and resumes."""
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self._ending is not None:
            return
        self._ending = reason
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        started = time.perf_counter() if self.request_started is None else self.request_started
        try:
            return await self._serve(request)
        finally:
            log_request(request, self.status, started,
                        stream=self.outcome or "cancelled", events=self.events_sent)

    async def write_eof(self, data: bytes = b"") -> None:
        if self.client_gone:
            return  # its connection is aborted: there is nobody to end the body for
        try:
            await super().write_eof(data)
        except (ConnectionError, RuntimeError):
            pass

    async def _serve(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        """Send the headers, then the events until the end (setting `outcome`)."""
        assert isinstance(request, web.Request)  # routed: it has its application
        try:
            payload = await super().prepare(request)
        except ConnectionError:
            # Gone before the headers went out: still a disconnect to act on.
            self.client_gone = True
            self.outcome = "gone"
            await self._events_done()
            await self._after_disconnect()
            return None
        if request.method == "HEAD":
            self.outcome = "head"  # the headers say what a GET would stream; no body
            await self._events_done()
            return payload
        assert payload is not None
        settings = request.app[keys.SETTINGS]
        # An idle stream only learns that its client left by looking: until then it holds
        # a connection, memory and a place in its user's limit. A run that must be
        # cancelled when its client leaves is looked after more closely.
        self._disconnect_check_s = settings.stream_disconnect_check_s
        self._access_check_s = settings.stream_access_check_s
        if self._on_disconnect is not None:
            self._disconnect_check_s = min(self._disconnect_check_s, ON_DISCONNECT_CHECK_S)
        self._bound_writes(payload, request.transport, settings.stream_buffer_bytes,
                           settings.stream_write_deadline_s)
        self.tag = route_tag(request)
        self._hub = request.app[keys.STORE].hub
        registry = request.app[keys.STREAMS]
        registry.opened(self)
        try:
            # Access was checked before this stream could be found by `end_streams_of`:
            # whatever was taken away in between is caught by checking again now.
            if not await self.access.still_allowed():
                self._end("revoked")
            first = encode_retry(settings.stream_retry_ms) if self._options.send_retry else b""
            await self._pump(first + self._prelude)
        except asyncio.CancelledError:
            # Servers with handler cancellation cancel the task of a client that went
            # away before the loop sees it go; the server's own endings (shutdown, access
            # revoked) never come this way, so this is a disconnect.
            await self._after_disconnect()
            raise
        except StoreUnavailable as exc:
            # The client reconnects (with its Last-Event-ID) once the store is back.
            self.outcome = "unavailable"
            log.warning("stream ended: store unavailable", error=str(exc))
        except Exception:
            # A bug (a renderer, the subscription): cut the body off rather than end it
            # cleanly, so the client sees an error, reconnects and resumes from its last id.
            self.outcome = "error"
            log.exception("stream failed")
            self._abort()
        finally:
            registry.closed(self)
        if self.outcome == "gone":
            await self._after_disconnect()
        return payload

    def _access_check_interval(self) -> float:
        # Spread over +-25%: streams opened together (clients reconnecting after a
        # restart) would otherwise all query the database in the same instant.
        return self._access_check_s * random.uniform(0.75, 1.25)

    async def _check_access(self) -> None:
        try:
            if not await self.access.still_allowed():
                self._end("revoked")
        except StoreUnavailable:
            pass  # not known either way: the next check decides
        except Exception:
            # A bug: end the stream as the check at open would (cut off, logged), never
            # let it run on unchecked.
            log.exception("stream access check failed")
            self._abort()
            self._end("error")
        finally:
            self._access_task = None

    async def _events_done(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _after_disconnect(self) -> None:
        """Run the caller's on-disconnect action (once, and to its end even if the
        handler task is cancelled meanwhile)."""
        if self._on_disconnect is None or self._ending in SERVER_ENDINGS:
            return
        action, self._on_disconnect = self._on_disconnect, None
        await asyncio.shield(self._disconnected_run(action))

    @staticmethod
    async def _disconnected_run(action: OnDisconnect) -> None:
        try:
            await action()
        except Exception:
            # Nobody is left to answer; the run stays as it is and the log says why.
            log.exception("on-disconnect action failed")

    async def _keepalive(self, frame: Frame) -> None:
        try:
            await self._send(encode(frame))
        except ClientGone:
            self._end("gone")
        finally:
            self._keepalive_task = None  # a finished task is not kept for the stream's life

    def _tick(self, deadline: float | None) -> asyncio.TimerHandle | None:
        """Look after the stream between events; returns the timer for the next look."""
        options = self._options
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._ending is not None:
            # Asked to end a while ago and still serving: the cancellation was lost on
            # the way (asyncio.wait_for can swallow one on Python 3.11). Ask again.
            if self._task is not None and not self._task.done():
                self._task.cancel()
            return loop.call_at(now + self._disconnect_check_s, self._rearm, deadline)
        if deadline is not None and now >= deadline:
            self._end("timeout")
            return None
        if self._client_left():
            self._end("gone")
            return None
        due = [] if deadline is None else [deadline]
        if options.keepalive is not None:
            interval = options.keepalive_interval_s
            if self._keepalive_task is None and now - self._last_write >= interval:
                self._last_write = now
                self._keepalive_task = loop.create_task(self._keepalive(options.keepalive))
            # Past due only while the last keepalive is still being written: look again
            # an interval from now, not at once (that would spin until the write ends).
            due.append(max(self._last_write + interval, now + interval)
                       if self._keepalive_task is not None else self._last_write + interval)
        if now >= self._next_access_check:
            if self._access_task is None:
                self._access_task = loop.create_task(self._check_access())
            self._next_access_check = now + self._access_check_interval()
        due.append(self._next_access_check)
        due.append(now + self._disconnect_check_s)
        return loop.call_at(min(due), self._rearm, deadline)

    def _rearm(self, deadline: float | None) -> None:
        self._timer = self._tick(deadline)

    async def _pump(self, first: bytes) -> None:
        """Serve until the end, setting `outcome` and counting `events_sent`."""
        loop = asyncio.get_running_loop()
        options = self._options
        deadline = None if options.max_duration_s is None else loop.time() + options.max_duration_s
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._last_write = loop.time()
        self._next_access_check = self._last_write + self._access_check_interval()
        events = self._events
        try:
            if self._ending is not None:  # closed before it began
                self.outcome = self._ending
                return
            if first:
                await self._send(first)
            self._rearm(deadline)
            hub = self._hub
            async for event in events:
                if hub is not None:
                    self.lag = hub.head - event.position
                data = await self._render(event)
                if data:
                    await self._send(data)
                    self.events_sent += 1
                    self._last_write = loop.time()
                if self._is_terminal(event):
                    self.outcome = "terminal"
                    return
                if self._ending is not None:
                    # Ended while a write waited, and the cancellation was lost on the way
                    # (asyncio.wait_for can swallow one on Python 3.11): end now.
                    if task.cancelling():
                        task.uncancel()
                    self.outcome = self._ending
                    return
            self.outcome = "closed"
        except ClientGone as exc:
            self.outcome = "gone"
            self.too_slow = exc.too_slow
        except asyncio.CancelledError:
            if self._ending is None:
                raise  # not ours: the server is cancelling the handler
            task.uncancel()
            self.outcome = self._ending
        finally:
            self._ending = self._ending or "done"  # the timer and close() do nothing now
            if self._timer is not None:
                self._timer.cancel()
            for helper in (self._keepalive_task, self._access_task):
                if helper is not None:
                    helper.cancel()
            await self._events_done()
