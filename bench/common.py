"""Helpers shared by the benchmarks: the one output format, scratch directories, timing."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Where scratch databases go: $BENCH_DIR if set, else the system temp dir. Point it at
# the disk the data directory lives on (a tmpfs /tmp would make fsync look free).
SCRATCH_ROOT = os.environ.get("BENCH_DIR")


def report(name: str, value: float, unit: str) -> None:
    """Print one figure as `bench <name> <value> <unit>`, the line format runs are compared by."""
    shown = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    print(f"bench {name} {shown} {unit}", flush=True)


def note(text: str) -> None:
    """Context for a human reader; never starts with `bench `."""
    print(f"# {text}", flush=True)


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=SCRATCH_ROOT) as path:
        yield Path(path)


def median_ms(fn: Callable[[], object], repeat: int = 21) -> float:
    """Median wall time of `fn()` in milliseconds, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def median_ms_async(fn: Callable[[], Awaitable[object]], repeat: int = 21) -> float:
    """Median wall time of `await fn()` in milliseconds, after one warm-up call."""
    await fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
