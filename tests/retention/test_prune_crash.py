"""A process killed (SIGKILL) after the archive is durable and before the removal loses
nothing and, once restarted, removes nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson

from eventstore.sqlite import verify_file
from projections import all_projections
from projections.rebuild import rebuild
from projections.vocabulary import RETENTION_STREAM
from service.retention.archives import check_archives
from service.retention.pruner import Pruner
from tests.retention.runs import add_runs, open_store, query
from tests.support.auth import make_settings

# Prune in a process of its own that kills itself the moment the archive is on disk.
KILLED_AT_THE_BOUNDARY = """
import asyncio, os, signal, sys
from pathlib import Path
from service.retention.pruner import Pruner
from tests.retention.runs import open_store
from tests.support.auth import make_settings

async def main() -> None:
    data_dir = Path(sys.argv[1])
    store = await open_store(data_dir)
    pruner = Pruner(store, make_settings(data_dir, retention_max_runs=2))
    await pruner.prune(on_archived=lambda path: os.kill(os.getpid(), signal.SIGKILL))

asyncio.run(main())
"""


async def test_a_kill_between_archive_and_removal_loses_and_repeats_nothing(
        tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    ids = await add_runs(store, 5)
    head = await store.head()
    await store.close()

    killed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_AT_THE_BOUNDARY, str(tmp_path),
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert await killed.wait() == -signal.SIGKILL
    (orphan,) = (tmp_path / "archive").iterdir()
    # Nothing was removed: every run and every event's data is still there.
    assert query(tmp_path, "SELECT COUNT(*) FROM runs") == [(5,)]
    assert query(tmp_path, "SELECT COUNT(*) FROM events WHERE length(data) > 0") == [(head,)]
    assert verify_file(tmp_path / "runstream.db").ok

    store = await open_store(tmp_path)
    report = await Pruner(store, make_settings(tmp_path, retention_max_runs=2)).prune()
    again = await Pruner(store, make_settings(tmp_path, retention_max_runs=2)).prune()
    await store.close()
    assert report.runs == 3
    assert again.runs == 0
    ((data,),) = query(tmp_path, "SELECT data FROM events WHERE stream = ?",
                       (RETENTION_STREAM,))
    recorded = orjson.loads(data)["runs"]
    assert len(recorded) == len(set(recorded)) == 3
    assert set(recorded) <= set(ids)
    assert verify_file(tmp_path / "runstream.db").ok
    # Both archives hold the same events, each the one whose header the log kept.
    archives = [orphan, tmp_path / "archive" / report.archives[0]]
    assert [result.ok for result in check_archives(tmp_path / "runstream.db", archives)] == [
        True, True]
    assert rebuild(tmp_path / "runstream.db", all_projections(), replace=False).matches
