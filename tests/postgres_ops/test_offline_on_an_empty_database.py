"""`runstream verify` and `rebuild` pointed at a PostgreSQL database that holds no log, or at
no server at all, say so in a sentence (and exit 2) rather than with psycopg's error, and
create nothing there."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.support.cli import arun
from tests.support.server_process import free_port


@pytest.mark.parametrize("command", [["verify"], ["rebuild", "--check"], ["rebuild"]])
async def test_a_database_without_the_log_is_named_and_left_empty(
        own_database: str, command: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("RUNSTREAM_DATABASE_URL", own_database)
    code, out, err = await arun(capsys, *command, "--data-dir", str(tmp_path))
    assert code == 2
    assert out is None
    assert "holds no runstream log" in err
    assert "check database_url" in err
    assert "Traceback" not in err
    assert "UndefinedTable" not in err
    with psycopg.connect(own_database) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables"
                              " WHERE table_schema = 'public'").fetchone()
    assert tables == (0,)


@pytest.mark.parametrize("command", [["verify"], ["rebuild", "--check"]])
async def test_no_server_at_the_url_is_said_plainly(
        command: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RUNSTREAM_DATABASE_URL",
                       f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    code, out, err = await arun(capsys, *command, "--data-dir", str(tmp_path))
    assert code == 2
    assert out is None
    assert "cannot reach PostgreSQL" in err
    assert "Traceback" not in err
