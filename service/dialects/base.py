"""What the shared stream endpoint needs from a dialect."""

from __future__ import annotations

from typing import Any, Protocol

from service.settings import Settings
from service.streams.response import Render, StreamOptions


class StreamDialect(Protocol):
    def options(self, settings: Settings) -> StreamOptions:
        """Keepalive frame and interval, maximum duration."""

    def renderer(self, run: dict[str, Any], context: Any) -> Render:
        """A renderer for one stream of `run` (it may keep per-stream state)."""
