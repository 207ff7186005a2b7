"""Helpers shared by the console's API and browser tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


async def create_workspace(client: TestClient, name: str) -> str:
    """A new workspace; its creator becomes its admin."""
    resp = await client.post("/api/v1/workspaces", json={"name": name})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return str(body["data"]["id"])
