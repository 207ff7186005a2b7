"""Crash safety: whatever an append acknowledged survives SIGKILL, and the chain holds."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from eventstore.sqlite import SQLiteEventStore, verify_file
from projections import all_projections
from projections.rebuild import rebuild
from tests.support.eventstore import read_all, tick

CHILD = Path(__file__).with_name("crash_appender.py")
KILL_AFTER = 400  # acknowledged events


def run_and_kill(path: Path, writers: int, prefix: str) -> list[tuple[int, str, int]]:
    """Start the appender, SIGKILL it mid-stream, return every acknowledged event.

    Blocking (run in a thread): a plain Popen reaps its own child, so the exit status
    is the child's, whatever the event loop's child watcher is doing.
    """
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(writers), prefix],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stderr is not None
    acknowledged: list[tuple[int, str, int]] = []
    watchdog = threading.Timer(30, child.kill)  # a hung child ends the readline below
    watchdog.start()
    try:
        while len(acknowledged) < KILL_AFTER:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(child.stderr.read().decode())
            acknowledged.append(parse(line))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        # Lines written before the kill landed are acknowledgements too; a torn last
        # line is not.
        rest = child.stdout.read()
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    acknowledged += [parse(line) for line in rest.splitlines(keepends=True) if line.endswith(b"\n")]
    assert child.returncode == -signal.SIGKILL
    return acknowledged


def parse(line: bytes) -> tuple[int, str, int]:
    position, stream, version = line.split()
    return int(position), stream.decode(), int(version)


@pytest.mark.parametrize("writers", [1, 16])
async def test_every_acknowledged_append_survives_sigkill(tmp_path: Path, writers: int) -> None:
    path = tmp_path / "runstream.db"
    acknowledged: list[tuple[int, str, int]] = []
    # Killed twice: the second child starts on a log the first one left behind.
    for crash in range(2):
        acknowledged += await asyncio.to_thread(run_and_kill, path, writers, f"crash{crash}")
        assert len(acknowledged) >= KILL_AFTER * (crash + 1)

        result = verify_file(path)
        assert result.ok, result
        store = await SQLiteEventStore.open(path, projectors=all_projections())
        try:
            log = {e.position: (e.position, e.stream, e.version) for e in await read_all(store)}
            missing = [ack for ack in acknowledged if log.get(ack[0]) != ack]
            assert not missing, missing[:5]
            assert sorted(log) == list(range(1, len(log) + 1))
            # The reopened log goes on from where the chain stopped.
            head = await store.head()
            more = await store.append(f"after-crash-{crash}", [tick(1)])
            assert more[0].position == head + 1
            acknowledged.append((more[0].position, more[0].stream, more[0].version))
            assert (await store.verify()).ok
        finally:
            await store.close()
        # Projections were committed with their events: none ahead of the log, none behind.
        report = rebuild(path, all_projections(), replace=False)
        assert report.matches, report.differences
