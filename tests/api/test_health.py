"""GET /healthz names the backend and the answering node, for anyone (a load balancer)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.settings import SettingsError
from tests.support.auth import make_settings


async def test_healthz_names_the_backend_and_the_host_by_default(
    aiohttp_client: Any, tmp_path: Path,
) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path)))
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["backend"] == "sqlite"
    assert body["node"] == socket.gethostname()
    assert "store" not in body  # the store's resources are for global admins


async def test_healthz_names_the_configured_node(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path, node_name="edge-2")))
    assert (await (await client.get("/healthz")).json())["node"] == "edge-2"


@pytest.mark.parametrize("name", ["two words", "a/b", "x" * 129])
def test_a_node_name_that_is_no_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SettingsError, match="node_name"):
        make_settings(tmp_path, node_name=name)
