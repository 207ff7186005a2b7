"""The app with the console's routes, shared by the console's API and browser tests."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.settings import Settings
from service.views import audit, console, runs_feed


def console_app(settings: Settings) -> web.Application:
    """`create_app`, plus the console's routes for as long as app.py does not add them."""
    app = create_app(settings)
    paths = {resource.canonical for resource in app.router.resources()}
    for module, path in (
        (runs_feed, runs_feed.FEED_PATH), (audit, audit.VERIFY_PATH), (console, "/"),
    ):
        if path not in paths:
            module.setup_routes(app)
    return app


async def create_workspace(client: TestClient, name: str) -> str:
    resp = await client.post("/api/v1/workspaces", json={"name": name})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return str(body["data"]["id"])
