"""Nodes on one database must share the session, secrets and checkpoint keys: the first
node records their fingerprints there, a node with another key refuses to start and names
it, and a node given the same keys by its settings opens the first node's session cookies."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from service.app import create_app
from service.auth.setup import SESSION_COOKIE
from service.cluster_keys import KeyMismatch
from service.settings import Settings
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.cli import arun
from tests.support.server_process import ServerProcess


def keys_of(data_dir: Path) -> dict[str, Any]:
    """Settings that give another node the keys a first node made in `data_dir`."""
    return {"session_key": (data_dir / "session.key").read_text().strip(),
            "engine": {"secrets_key": (data_dir / "secrets.key").read_text().strip()},
            "checkpoint_key_file": str(data_dir / "checkpoint.key")}


async def refusal(settings: Settings) -> str:
    """What the app says when it refuses to start with `settings`."""
    runner = web.AppRunner(create_app(settings))
    try:
        with pytest.raises(KeyMismatch) as refused:
            await runner.setup()
    finally:
        await runner.cleanup()
    return str(refused.value)


async def test_a_node_with_other_keys_refuses_to_start_and_names_them(
        own_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    first = await aiohttp_client(create_app(make_settings(tmp_path / "a", database_url=own_database)))
    await login(first, "admin", ADMIN_PASSWORD)
    shared = keys_of(tmp_path / "a")

    # Its own data directory: three keys of its own, each named.
    message = await refusal(make_settings(tmp_path / "b", database_url=own_database))
    for name in ("session_key", "secrets_key", "checkpoint_key"):
        assert f"{name} differs" in message

    # The same session and checkpoint keys, but not the secrets key: only that one is named.
    message = await refusal(make_settings(
        tmp_path / "c", database_url=own_database, session_key=shared["session_key"],
        checkpoint_key_file=shared["checkpoint_key_file"]))
    assert "secrets_key differs" in message
    assert "session_key differs" not in message
    assert "checkpoint_key differs" not in message
    assert shared["engine"]["secrets_key"] not in message

    # All three from the settings: it starts, and the first node's cookie signs one in.
    second = await aiohttp_client(create_app(make_settings(
        tmp_path / "d", database_url=own_database, **shared)))
    cookie = first.session.cookie_jar.filter_cookies(first.make_url("/"))[SESSION_COOKIE]
    resp = await second.get("/api/v1/auth/me",
                            headers={"Cookie": f"{SESSION_COOKIE}={cookie.value}"})
    assert resp.status == 200
    assert (await resp.json())["data"]["username"] == "admin"


@pytest.mark.slow
async def test_runstream_serve_with_another_key_exits_saying_which(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    first = await aiohttp_client(create_app(make_settings(tmp_path / "a", database_url=own_database)))
    await first.close()
    shared = keys_of(tmp_path / "a")
    node = ServerProcess(tmp_path / "b", database_url=own_database, session_key=shared["session_key"],
                         checkpoint_key_file=shared["checkpoint_key_file"])
    await node.spawn()
    assert node.proc is not None
    assert await asyncio.wait_for(node.proc.wait(), 60) == 2
    log = node.log_tail()
    assert "secrets_key differs" in log
    assert "Traceback" not in log

    # Changing the key on purpose: forget the recorded one, and the next node records its own.
    monkeypatch.setenv("RUNSTREAM_DATABASE_URL", own_database)
    capsys.readouterr()
    code, out, _ = await arun(capsys, "keys", "show", "--data-dir", str(tmp_path / "b"))
    assert code == 1
    assert out["secrets_key"]["matches"] is False
    code, out, _ = await arun(capsys, "keys", "forget", "secrets_key",
                              "--data-dir", str(tmp_path / "b"))
    assert (code, out) == (0, {"name": "secrets_key", "forgotten": True})
    await node.start()
    await node.stop()
