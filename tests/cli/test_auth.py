"""`runstream users add|passwd` and `runstream tokens create` against a data directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from tests.support.auth import bearer, login, make_settings
from tests.support.cli import arun, run


@pytest.fixture(autouse=True)
def no_runstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads RUNSTREAM_* like `serve` does; keep the caller's environment out."""
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)


async def test_users_add_then_login(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await arun(capsys, "users", "add", "carol", "--password", "carol-password",
                       "--data-dir", str(tmp_path))
    assert code == 0
    assert out["username"] == "carol"
    assert "password" not in out
    code, out, _ = await arun(capsys, "users", "add", "dave", "--admin", "--data-dir", str(tmp_path))
    assert code == 0
    assert out["isAdmin"] is True
    generated = out["password"]
    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    await login(client, "carol", "carol-password")
    me = (await (await client.get("/api/v1/auth/me")).json())["data"]
    assert me["isAdmin"] is False
    await login(client, "dave", generated)


def test_users_add_refuses_duplicates_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ("--data-dir", str(tmp_path))
    assert run(capsys, "users", "add", "erin", "--password", "erin-password", *data)[0] == 0
    code, out, err = run(capsys, "users", "add", "ERIN", "--password", "erin-password", *data)
    assert code == 1
    assert out is None
    assert "taken" in err
    assert run(capsys, "users", "add", "frank", "--password", "short", *data)[0] == 2
    assert run(capsys, "users", "add", "bad name", *data)[0] == 2


async def test_tokens_create_prints_a_working_token_once(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ("--data-dir", str(tmp_path))
    await arun(capsys, "users", "add", "gina", "--password", "gina-password", *data)
    code, out, _ = await arun(capsys, "tokens", "create", "gina", "--name", "deploy", *data)
    assert code == 0
    assert out["name"] == "deploy"
    assert out["token"].startswith(out["prefix"])
    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    me = await client.get("/api/v1/auth/me", headers=bearer(out["token"]))
    assert (await me.json())["data"]["username"] == "gina"
    listed = await (await client.get("/api/v1/tokens", headers=bearer(out["token"]))).json()
    assert out["token"] not in str(listed)


def test_tokens_create_for_an_unknown_user_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tokens", "create", "nobody", "--data-dir", str(tmp_path))
    assert code == 1
    assert out is None
    assert "nobody" in err


async def test_users_passwd_sets_a_password_and_ends_sessions_while_the_server_runs(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The way back in for an admin who lost their password: on the machine, no login."""
    data = ("--data-dir", str(tmp_path))
    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    await login(client, "admin", "admin-secret-pw")
    capsys.readouterr()  # the server's request lines are not the command's output
    code, out, _ = await arun(capsys, "users", "passwd", "admin", *data)
    assert code == 0
    assert out["username"] == "admin"
    assert out["sessionsEnded"] == 1
    assert (await client.get("/api/v1/auth/me")).status == 401
    await login(client, "admin", "admin-secret-pw", expect=401)
    await login(client, "admin", out["password"])
    capsys.readouterr()
    code, out, _ = await arun(capsys, "users", "passwd", "admin", "--password", "chosen-password",
                              *data)
    assert code == 0
    assert "password" not in out
    await login(client, "admin", "chosen-password")
    capsys.readouterr()
    assert (await arun(capsys, "users", "passwd", "admin", "--password", "short", *data))[0] == 2
    code, _, err = await arun(capsys, "users", "passwd", "nobody", *data)
    assert code == 1
    assert "no user" in err
