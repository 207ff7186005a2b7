"""`runstream export`: the log as NDJSON, whole or one stream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from tests.support.eventstore import read_all, tick

RUNSTREAM = Path(sys.executable).parent / "runstream"


def run_export(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    return subprocess.run([str(RUNSTREAM), "export", *args], capture_output=True, env=env,
                          timeout=60, check=False)


def export(*args: str) -> list[dict[str, Any]]:
    done = run_export(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(b"\n") or not done.stdout
    return [orjson.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    store = await SQLiteEventStore.open(tmp_path / "runstream.db", projectors=all_projections())
    try:
        # More than one export page (5000), across streams, with non-ASCII payloads.
        for i in range(6):
            await store.append(f"run-{i % 2}", [tick(j, text="ü ✓") for j in range(900)])
        await store.append("run-2", [tick(1), tick(2)])
    finally:
        await store.close()
    return tmp_path


async def expected(data_dir: Path, stream: str | None) -> list[dict[str, Any]]:
    store = await SQLiteEventStore.open(data_dir / "runstream.db", projectors=all_projections())
    try:
        return [e.as_dict() for e in await read_all(store, stream)]
    finally:
        await store.close()


async def test_export_writes_the_whole_log_in_order(data_dir: Path) -> None:
    lines = export("--data-dir", str(data_dir))
    assert [line["position"] for line in lines] == list(range(1, 5403))
    assert lines == await expected(data_dir, None)
    assert set(lines[0]) == {"position", "stream", "version", "type", "data", "recordedAt",
                             "prevHash", "hash"}
    assert lines[0]["data"] == {"n": 0, "text": "ü ✓"}


async def test_export_of_one_stream(data_dir: Path) -> None:
    lines = export("--stream", "run-1", "--data-dir", str(data_dir))
    assert len(lines) == 2700
    assert {line["stream"] for line in lines} == {"run-1"}
    assert [line["version"] for line in lines] == list(range(1, 2701))
    assert lines == await expected(data_dir, "run-1")


async def test_export_of_an_unknown_stream_is_empty(data_dir: Path) -> None:
    assert export("--stream", "run-none", "--data-dir", str(data_dir)) == []


def test_export_of_a_data_dir_without_a_database_fails_without_creating_one(
    tmp_path: Path,
) -> None:
    done = run_export("--data-dir", str(tmp_path / "typo"))
    assert done.returncode != 0
    assert b"Traceback" not in done.stderr
    assert not (tmp_path / "typo").exists()

