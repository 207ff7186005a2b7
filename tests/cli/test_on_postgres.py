"""The offline commands follow RUNSTREAM_DATABASE_URL as `serve` does: a user added by
`runstream users add` signs in to an app on the same PostgreSQL database, and `verify`
and `rebuild` check the log and the projections of that database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.app import create_app
from tests.support.api import QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.cli import arun
from tests.support.postgres import database_of_its_own


@pytest.fixture
def own_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)
    with database_of_its_own("runstream_cli") as url:
        monkeypatch.setenv("RUNSTREAM_DATABASE_URL", url)
        yield url


async def test_a_user_added_by_the_cli_signs_in_to_the_app(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = await arun(capsys, "users", "add", "carol", "--password", "carol-password",
                                "--data-dir", str(tmp_path))
    assert code == 0, err
    assert out["username"] == "carol"
    code, _, err = await arun(capsys, "users", "add", "CAROL", "--password", "other-password",
                              "--data-dir", str(tmp_path))
    assert code == 1
    assert "taken" in err
    assert not (tmp_path / "runstream.db").exists()
    client = await aiohttp_client(create_app(make_settings(tmp_path, database_url=own_database)))
    await login(client, "carol", "carol-password", expect=200)
    me = (await (await client.get("/api/v1/auth/me")).json())["data"]
    assert me["username"] == "carol"


async def test_verify_and_rebuild_check_the_postgresql_database(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path, database_url=own_database)))
    await login(client, "admin", ADMIN_PASSWORD, expect=200)
    run = await execute(client, await create_workflow(client, QUICK_WORKFLOW), n=7)
    assert run["status"] == "completed", run
    await client.close()
    capsys.readouterr()  # the app's request log, not the commands' output
    with psycopg.connect(own_database) as conn:
        (head,) = conn.execute("SELECT position FROM event_head").fetchone() or (0,)
        positions = [p for (p,) in conn.execute(
            "SELECT position FROM events WHERE stream = %s ORDER BY position", (run["id"],))]
    assert len(positions) > 2

    code, out, err = await arun(capsys, "verify", "--data-dir", str(tmp_path))
    assert code == 0, err
    assert (out["ok"], out["head"], out["checked"]) == (True, head, head)

    code, out, err = await arun(capsys, "rebuild", "--check", "--data-dir", str(tmp_path))
    assert code == 0, err
    assert out["matches"] is True
    assert out["events"] == head

    # A projection row edited behind the log's back is found, and a rebuild puts it right.
    with psycopg.connect(own_database) as conn:
        conn.execute("UPDATE runs SET status = 'failed' WHERE id = %s", (run["id"],))
    code, out, err = await arun(capsys, "rebuild", "--check", "--data-dir", str(tmp_path))
    assert code == 1, err
    assert out["differences"]["runs"] == {"onlyLive": 1, "onlyRebuilt": 1}
    code, out, err = await arun(capsys, "rebuild", "--data-dir", str(tmp_path))
    assert code == 1, err  # it reports what it found, then replaces the live tables
    code, out, err = await arun(capsys, "rebuild", "--check", "--data-dir", str(tmp_path))
    assert code == 0, err
    assert out["matches"] is True

    tampered = positions[1]
    with psycopg.connect(own_database) as conn:
        conn.execute("UPDATE events SET data = %s WHERE position = %s",
                     (b'{"n":999}', tampered))
    code, out, err = await arun(capsys, "verify", "--data-dir", str(tmp_path))
    assert code == 1, err
    assert out["ok"] is False
    assert out["firstBadPosition"] == tampered
    assert out["checked"] == tampered - 1
    assert out["reason"]
    assert not (tmp_path / "runstream.db").exists()
