"""First start: `admin` and `default` once; the session key file is private and reused."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from service.app import create_app
from service.auth.session_key import KEY_FILE
from service.auth.setup import SESSION_COOKIE
from service.settings import SettingsError
from tests.support.auth import ADMIN_PASSWORD, login, make_settings


async def test_first_start_creates_admin_and_default(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    await login(client, "admin", ADMIN_PASSWORD)
    me = (await (await client.get("/api/v1/auth/me")).json())["data"]
    assert me["isAdmin"] is True
    assert [w["id"] for w in me["workspaces"]] == ["default"]


async def test_a_generated_admin_password_is_printed_once(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, admin_password="")
    first = await aiohttp_client(create_app(settings))
    err = capsys.readouterr().err
    assert "'admin'" in err
    password = err.rsplit("password: ", 1)[1].strip()
    await login(first, "admin", password)
    await first.close()
    again = await aiohttp_client(create_app(settings))
    assert "password" not in capsys.readouterr().err
    await login(again, "admin", password)


async def test_a_deleted_admin_is_not_recreated_on_restart(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    first = await aiohttp_client(create_app(settings))
    await login(first, "admin", ADMIN_PASSWORD)
    resp = await first.post("/api/v1/users", json={"username": "root", "password": "root-password",
                                                   "isAdmin": True})
    admin_id = (await (await first.get("/api/v1/auth/me")).json())["data"]["id"]
    await login(first, "root", "root-password")
    resp = await first.delete(f"/api/v1/users/{admin_id}",
                              headers={"Content-Type": "application/json"})
    assert resp.status == 200
    await first.close()
    again = await aiohttp_client(create_app(settings))
    await login(again, "admin", ADMIN_PASSWORD, expect=401)


async def test_the_session_key_file_is_0600_and_sessions_survive_a_restart(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    first = await aiohttp_client(create_app(settings))
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    await login(first, "admin", ADMIN_PASSWORD)
    cookie = first.session.cookie_jar.filter_cookies(first.make_url("/"))[SESSION_COOKIE].value
    await first.close()
    again = await aiohttp_client(create_app(settings))
    assert key_file.read_bytes() == key
    resp = await again.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert resp.status == 200


def test_a_readable_key_file_is_made_private_again(tmp_path: Path) -> None:
    create_app(make_settings(tmp_path))
    key_file = tmp_path / KEY_FILE
    key_file.chmod(0o644)
    create_app(make_settings(tmp_path))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_configured_session_key_is_used_and_no_file_written(tmp_path: Path) -> None:
    create_app(make_settings(tmp_path, session_key=Fernet.generate_key().decode()))
    assert not (tmp_path / KEY_FILE).exists()


def test_a_malformed_session_key_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        create_app(make_settings(tmp_path, session_key="too-short"))
