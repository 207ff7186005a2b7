"""Progress of the long commands: redrawn in place on a terminal, one JSON summary on stderr
when piped, and never a byte of it in a command's stdout.

The real `runstream` runs as a child process, its stderr once on a pseudo-terminal (python's
pty module: the child sees a tty, as a user at a shell would) and once on a pipe.
"""

from __future__ import annotations

import asyncio
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from service.progress import SUMMARY_KEY
from tests.retention.runs import add_runs, open_store
from tests.support.eventstore import tick

# More than two of the walks' pages (5000 events), so the line is redrawn along the way.
EVENTS = 12_000
COMMANDS = (["verify"], ["rebuild", "--check"], ["export"])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress")

    async def fill() -> None:
        store = await SQLiteEventStore.open(path / "runstream.db", projectors=all_projections())
        try:
            for i in range(EVENTS // 1000):
                await store.append(f"run-{i % 3}", [tick(j) for j in range(1000)])
        finally:
            await store.close()

    asyncio.run(fill())
    return path


def child_env(**settings: str) -> dict[str, str]:
    """The environment without the caller's RUNSTREAM_ settings, with `settings` instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update({f"RUNSTREAM_{name.upper()}": value for name, value in settings.items()})
    return env


def runstream(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", *args]


def run_on_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """Exit code, stdout (a pipe) and what the terminal showed of stderr (a pty)."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(runstream(*args), stdout=subprocess.PIPE, stderr=follower,
                             stdin=subprocess.DEVNULL, env=env or child_env())
    os.close(follower)
    shown = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end of the terminal
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    out, _ = child.communicate(timeout=120)
    code = child.returncode
    reader.join(timeout=30)
    os.close(leader)
    return code, out, bytes(shown)


def run_piped(*args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(runstream(*args), capture_output=True, env=env or child_env(),
                          timeout=120, check=False)


def summary_of(stderr: bytes) -> dict[str, Any]:
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, stderr
    summary: dict[str, Any] = orjson.loads(lines[0])
    return summary


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_terminal_sees_one_line_redrawn_with_count_rate_and_end(
    data_dir: Path, command: list[str]
) -> None:
    code, out, shown = run_on_terminal(*command, "--data-dir", str(data_dir))
    assert code == 0, shown
    text = shown.decode()
    # Redrawn in place: every state begins by returning to the line's start and clearing it,
    # and only the final line ends with a newline.
    assert text.startswith("\r\x1b[K")
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert f"{command[0]}: done, {EVENTS:,} events in " in text
    assert "events/s" in text
    assert "{" not in text  # no JSON summary on a terminal


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_piped_the_command_is_quiet_but_for_one_json_summary_on_stderr(
    data_dir: Path, command: list[str]
) -> None:
    done = run_piped(*command, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stderr
    summary = summary_of(done.stderr)
    assert summary[SUMMARY_KEY] == command[0]
    assert summary["unit"] == "events"
    assert summary["done"] == summary["total"] == EVENTS
    assert summary["ok"] is True
    assert summary["seconds"] >= 0
    assert summary["perSecond"] >= 0


def test_an_intermediate_line_names_the_total_share_and_time_left(data_dir: Path) -> None:
    """verify reports after each page; the first report is drawn at once, so it is seen."""
    code, _, shown = run_on_terminal("verify", "--data-dir", str(data_dir))
    assert code == 0
    states = shown.decode().split("\r\x1b[K")[1:]
    first = states[0]
    assert first.startswith(f"verify: 5,000 / {EVENTS:,} events (41%)")
    assert first.endswith(" left")


def test_export_keeps_stdout_pure_ndjson_while_the_terminal_shows_progress(
    data_dir: Path,
) -> None:
    code, out, shown = run_on_terminal("export", "--data-dir", str(data_dir))
    assert code == 0
    lines = out.splitlines()
    assert [orjson.loads(line)["position"] for line in lines] == list(range(1, EVENTS + 1))
    assert b"\x1b" not in out
    assert b"events/s" not in out
    assert b"export: done" in shown


def test_export_of_one_stream_counts_against_that_stream(data_dir: Path) -> None:
    done = run_piped("export", "--stream", "run-1", "--data-dir", str(data_dir))
    assert done.returncode == 0
    summary = summary_of(done.stderr)
    assert summary["done"] == summary["total"] == len(done.stdout.splitlines()) == 4000


def test_a_failing_verify_says_so_in_its_summary_and_its_report(data_dir: Path,
                                                                 tmp_path: Path) -> None:
    copy = tmp_path / "runstream.db"
    shutil.copy(data_dir / "runstream.db", copy)
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE events SET data = ? WHERE position = 7000", (b'{"n":-1}',))
    conn.commit()
    conn.close()
    done = run_piped("verify", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert orjson.loads(done.stdout)["firstBadPosition"] == 7000
    # The walk stopped at the bad page: the summary counts what it checked, not the log.
    summary = summary_of(done.stderr)
    assert summary["done"] == 5000
    assert summary["total"] == EVENTS
    assert summary["ok"] is False


def test_backup_shows_its_copy_in_pages_then_its_verify_on_a_terminal(
    data_dir: Path, tmp_path: Path
) -> None:
    code, out, shown = run_on_terminal("backup", str(tmp_path / "copy.db"),
                                       "--data-dir", str(data_dir))
    assert code == 0, shown
    assert orjson.loads(out)["head"] == EVENTS
    # Each phase's last state before its newline (the terminal shows "\n" as "\r\n").
    finals = [line.rsplit("\r\x1b[K", 1)[-1].rstrip("\r")
              for line in shown.decode().split("\n")[:-1]]
    assert len(finals) == 2
    assert finals[0].startswith("backup: done, ")
    assert " pages in " in finals[0]
    assert finals[1].startswith(f"verify: done, {EVENTS:,} events in ")


# Prune: 2,500 finished runs of five events under maxRuns = 500, two batches of 1,000 runs.
PRUNED_EVENTS = 2_000 * 5
PRUNE_ENV = {"retention_max_runs": "500", "prune_batch_runs": "1000"}


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    async def fill() -> None:
        store = await open_store(tmp_path)
        try:
            await add_runs(store, 2_500)
        finally:
            await store.close()

    asyncio.run(fill())
    return tmp_path


def test_prune_shows_the_planned_events_then_its_end_on_a_terminal(runs_dir: Path) -> None:
    code, out, shown = run_on_terminal("prune", "--data-dir", str(runs_dir),
                                       env=child_env(**PRUNE_ENV))
    assert code == 0, shown
    assert orjson.loads(out)["events"] == PRUNED_EVENTS
    states = shown.decode().split("\r\x1b[K")[1:]
    # Told the plan before any batch: the total is known from the first line on.
    assert states[0].startswith(f"prune: 0 / {PRUNED_EVENTS:,} events (0%)")
    assert states[-1].startswith(f"prune: done, {PRUNED_EVENTS:,} events in ")
    assert shown.decode().count("\n") == 1
    assert b"\x1b" not in out


def test_piped_prune_writes_its_report_and_one_summary(runs_dir: Path) -> None:
    done = run_piped("prune", "--data-dir", str(runs_dir), env=child_env(**PRUNE_ENV))
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["events"] == PRUNED_EVENTS
    summary = summary_of(done.stderr)
    assert summary[SUMMARY_KEY] == "prune"
    assert summary["done"] == summary["total"] == PRUNED_EVENTS
    assert summary["ok"] is True


def test_prune_with_nothing_to_prune_sums_up_zero_of_zero(runs_dir: Path) -> None:
    done = run_piped("prune", "--data-dir", str(runs_dir),
                     env=child_env(retention_max_runs="5000"))
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["runs"] == 0
    summary = summary_of(done.stderr)
    assert summary["done"] == summary["total"] == 0
