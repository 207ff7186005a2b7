"""Process-wide tuning for a long-running server.

Not applied by `create_app`: tests build many apps in one process, and these
settings belong to the process, not to an app.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import resource

from aiohttp import web

# Every open stream keeps a few dozen live objects; with the default thresholds
# (700, 10, 10) full collections walk all of them many times a second under load
# and their pauses set the streams' p99. Measured with `python -m bench stream`:
# p99 about 60 ms tuned against 80-95 ms untuned.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Fewer young collections, and startup objects moved out of the collector's sight."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the limit now in force.

    Every open stream holds a socket, and the usual soft limit (1024) would stop a server
    at about a thousand clients while the hard limit allows far more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft  # some systems cap it below the hard limit: keep what we have
        return hard
    return soft


# glibc serves large allocations from mmap (returned to the system on free) only until the
# first one is freed: then it raises its threshold to that size, and later large blocks
# come from heap arenas that keep their pages. With events of hundreds of KB passing
# through, RSS then grew by 15 MB a run and never came back, although every structure
# holding events was within its byte budget (tests/support/large_payloads.py: 30 runs of 400 KB
# documents, 156 -> 595 MB; with the threshold fixed, flat at 209 MB). Setting the
# threshold explicitly turns the adjustment off.
MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def fix_malloc_mmap_threshold() -> bool:
    """Keep large allocations on mmap (glibc only); True when it was applied."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to tune
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES))


async def tune_gc_on_startup(app: web.Application) -> None:
    """An on_startup handler: runs after the app's resources are opened."""
    tune_gc()
