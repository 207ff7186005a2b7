"""The data directory's lock: held shared by every `runstream serve` on it for its whole
life, and exclusively by `runstream restore`, so a restore refuses while a server runs
and a server refuses to start in the middle of a restore.

An advisory `flock` on a file of its own (`runstream.lock`): the kernel drops it when the
process ends, however it ends, so a killed server never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "runstream.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory's lock in a way that excludes this one."""


@contextmanager
def _locked(data_dir: Path, mode: int, refusal: str) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirInUse(refusal) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def serving(data_dir: Path) -> Iterator[None]:
    """Held by `runstream serve`; several servers may share it."""
    with _locked(data_dir, fcntl.LOCK_SH,
                 f"a restore is in progress in {data_dir}; start the server once it ends"):
        yield


@contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Held by `runstream restore`: refused while any server holds `serving`."""
    with _locked(data_dir, fcntl.LOCK_EX,
                 f"a runstream server is running on {data_dir} (it holds "
                 f"{data_dir / LOCK_FILE}); stop it before restoring"):
        yield
