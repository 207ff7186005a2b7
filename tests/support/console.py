"""Helpers shared by the console's API and browser tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient


def assert_no_inline_script_or_style(html: str) -> None:
    """What the pages' CSP would refuse: inline scripts, event-handler attributes, styles."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert re.search(r"<script\b[^>]*>(?!\s*</script>)", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert "style=" not in html


async def create_workspace(client: TestClient, name: str) -> str:
    """A new workspace; its creator becomes its admin."""
    resp = await client.post("/api/v1/workspaces", json={"name": name})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return str(body["data"]["id"])
