"""The open streams of one app, under `keys.STREAMS`: the per-user limit, ending a user's
streams when their access shrinks, and closing every stream on shutdown.

A stream registers itself while it serves and leaves when it ends (aiohttp-sse's
graceful-shutdown pattern: a `WeakSet`, so a stream that is collected is never kept).
Who a stream belongs to and what it may read is its `StreamAccess`, given by the
endpoint that opened it; nothing here knows how access is decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Protocol
from weakref import WeakSet

from service.errors import too_many_streams


class StreamAccess(Protocol):
    """What a stream was allowed when it opened, asked again while it runs (access can be
    taken away after it was checked)."""

    @property
    def user_id(self) -> str:
        """Whose stream it is: the per-user limit and revocation go by it."""

    @property
    def workspace_id(self) -> str | None:
        """The workspace whose run it shows (None: it spans workspaces)."""

    async def still_allowed(self) -> bool:
        """Whether the credentials it was opened with still let it read what it shows."""


class OpenStream(Protocol):
    @property
    def access(self) -> StreamAccess: ...

    @property
    def tag(self) -> str:
        """The tag of its route: which dialect it speaks."""

    @property
    def ending(self) -> str:
        """How it ended (asked once it has)."""

    @property
    def lag(self) -> int:
        """How far behind the log's head its last event was when sent."""

    def close(self, reason: str = "closed") -> None:
        """End at the next opportunity; the client reconnects and resumes."""


class StreamRegistry:
    __slots__ = ("max_per_user", "_open", "_held", "endings")

    def __init__(self, max_per_user: int) -> None:
        # Each stream costs a connection and some memory: one user must not take them all.
        self.max_per_user = max_per_user  # 0 or less: no limit
        self._open: WeakSet[OpenStream] = WeakSet()
        self._held: Counter[str] = Counter()  # open streams by user id
        self.endings: Counter[tuple[str, str]] = Counter()  # (tag, ending): metrics

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[OpenStream]:
        return iter(list(self._open))

    def held_by(self, user_id: str) -> int:
        return self._held[user_id]

    def check_quota(self, user_id: str) -> None:
        """429 when the user already holds as many open streams as one user may."""
        held = self._held[user_id]
        if 0 < self.max_per_user <= held:
            raise too_many_streams(held, self.max_per_user)

    def opened(self, stream: OpenStream) -> None:
        if stream not in self._open:
            self._open.add(stream)
            self._held[stream.access.user_id] += 1

    def closed(self, stream: OpenStream) -> None:
        """Called when it ends (now, not whenever the response is collected)."""
        if stream not in self._open:
            return
        self._open.discard(stream)
        self.endings[(stream.tag, stream.ending)] += 1
        user_id = stream.access.user_id
        self._held[user_id] -= 1
        if self._held[user_id] <= 0:
            del self._held[user_id]

    def end_streams_of(self, user_id: str, workspace_id: str | None = None) -> int:
        """End the open streams of a user whose access just shrank: all of them (deleted, a
        token revoked, a password changed), or those of one workspace's runs (removed from
        it); returns how many.

        Streams also check their access again every `stream_access_check_s`; this ends them
        at once. Ended streams make their clients reconnect: access is checked again, and a
        client still allowed resumes where it was, losing nothing.
        """
        ended = [stream for stream in self if stream.access.user_id == user_id
                 and (workspace_id is None or stream.access.workspace_id == workspace_id)]
        for stream in ended:
            stream.close("revoked")
        return len(ended)

    def close_all(self) -> None:
        """On shutdown: every client reconnects (and resumes) elsewhere or after a restart."""
        for stream in self:
            stream.close()
