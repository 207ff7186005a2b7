"""The offline commands follow RUNSTREAM_DATABASE_URL as `serve` does: a user added by
`runstream users add` signs in to an app on the same PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from tests.support.auth import login, make_settings
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
