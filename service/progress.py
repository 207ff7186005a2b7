"""Progress of a long command (verify, rebuild, export, backup, ...), shown where it helps.

On a terminal (stderr is a tty) one line on stderr is redrawn in place: how much is done,
the rate and the time left. When stderr is not a terminal (a pipe, a file, cron, CI) there
is nothing to watch, so the command stays quiet until it ends and then writes one JSON line
to stderr, the summary:

    {"progress": "verify", "unit": "events", "done": 120000, "total": 120000,
     "seconds": 1.9, "perSecond": 63157, "ok": true}

stderr and never stdout: stdout carries each command's own result (verify's report,
export's NDJSON), which must stay parseable line for line whatever the progress does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import orjson

# A terminal redraw at most this often: a fast walk calls `update` per page, and writing
# the line thousands of times a second would cost more than the work it reports.
REDRAW_INTERVAL_S = 0.1
SUMMARY_KEY = "progress"
CLEAR_LINE = "\r\x1b[K"


def format_duration(seconds: float) -> str:
    """1:05 or 2:03:04: the time left as a terminal shows it."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Fed how far a command has got (`update`, `add`); `finish` writes its last word."""

    def __init__(
        self, command: str, total: int | None = None, unit: str = "events",
        stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._live = _is_terminal(self._stream)
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._finished = False
        # Whether the command got what it set out to (a verify that found a bad link did
        # not): the command sets it, the summary reports it.
        self.ok = True

    @property
    def live(self) -> bool:
        """True when the progress is drawn on a terminal."""
        return self._live

    def update(self, done: int, total: int | None = None) -> None:
        """`done` units of `total` (kept from before when not given) are done."""
        self.done = done
        if total is not None:
            self.total = total
        if not self._live:
            return
        now = self._clock()
        if self._drawn_at is not None and now - self._drawn_at < REDRAW_INTERVAL_S:
            return
        self._drawn_at = now
        self._draw(self._line(now))

    def add(self, count: int) -> None:
        self.update(self.done + count)

    def finish(self, ok: bool | None = None) -> None:
        """The final line on a terminal, or the JSON summary when piped (once)."""
        if self._finished:
            return
        self._finished = True
        ok = self.ok if ok is None else ok
        seconds = self._clock() - self._started
        rate = self.done / seconds if seconds > 0 else 0.0
        if self._live:
            word = "done" if ok else "failed"
            self._draw(f"{self.command}: {word}, {self.done:,} {self.unit} in "
                       f"{seconds:.1f} s ({rate:,.0f} {self.unit}/s)\n")
            return
        summary = {
            SUMMARY_KEY: self.command, "unit": self.unit, "done": self.done,
            "total": self.total, "seconds": round(seconds, 3), "perSecond": round(rate),
            "ok": ok,
        }
        self._stream.write(orjson.dumps(summary).decode() + "\n")
        self._stream.flush()

    def _line(self, now: float) -> str:
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.command}: {self.done:,}"]
        if self.total:
            share = min(100, 100 * self.done // self.total)
            parts[0] += f" / {self.total:,} {self.unit} ({share}%)"
        else:
            parts[0] += f" {self.unit}"
        if rate > 0:
            parts.append(f"{rate:,.0f} {self.unit}/s")
            if self.total and self.total > self.done:
                parts.append(f"{format_duration((self.total - self.done) / rate)} left")
        return "  ".join(parts)

    def _draw(self, text: str) -> None:
        self._stream.write(CLEAR_LINE + text)
        self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False


@contextmanager
def progress(command: str, total: int | None = None, unit: str = "events") -> Iterator[Progress]:
    """A `Progress` on stderr for the length of a block; a failure ends it as not ok."""
    reporter = Progress(command, total, unit)
    try:
        yield reporter
    except BaseException:
        reporter.finish(ok=False)
        raise
    reporter.finish()
