"""Wire bytes of recently rendered events, shared by every subscriber and bounded in bytes.

A frame that depends only on the event (and its run), not on who reads it, is rendered
and encoded once however many clients follow the run: a run watched by a thousand
clients costs one encoding per event, and a large event is held once, not once per
subscriber. The cache holds at most `max_bytes` of frames, dropping the least recently
used first; a frame larger than the whole budget is served without being kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventstore.records import RecordedEvent
    from service.streams.serving import Render

# Per entry beside the frame's bytes: the key tuple and the dict slot.
ENTRY_OVERHEAD_BYTES = 200


class FrameCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._frames: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: Hashable, frame: bytes) -> None:
        weight = len(frame) + ENTRY_OVERHEAD_BYTES
        if weight > self.max_bytes or key in self._frames:
            return
        self._frames[key] = frame
        self.held_bytes += weight
        while self.held_bytes > self.max_bytes:
            _, dropped = self._frames.popitem(last=False)
            self.held_bytes -= len(dropped) + ENTRY_OVERHEAD_BYTES

    def shared(self, kind: str, render: Render) -> Render:
        """`render` with its results shared: the same event of one `kind` renders once.

        Only for renderers whose bytes depend on the event alone (log positions are
        unique across runs, so the position names the event).
        """

        async def render_shared(event: RecordedEvent) -> bytes:
            key = (kind, event.position)
            frame = self.get(key)
            if frame is None:
                frame = await render(event)
                self.put(key, frame)
            return frame

        return render_shared

    def status(self) -> dict[str, int]:
        return {"frames": len(self._frames), "frameBytes": self.held_bytes,
                "frameBudgetBytes": self.max_bytes}
