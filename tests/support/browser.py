"""Debian's Chromium for browser tests (where it lives, how it is started, how it is
installed) and the console as a test drives it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import keys

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work here as root on a machine with no network but loopback (Playwright adds
# --headless itself when launched headless).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def installed_chromium() -> Path:
    """Debian's Chromium, installed on first use where this process may install it (the
    `chromium` fixture); the test is skipped, saying why, where it cannot be."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "install Debian's chromium package to run the browser tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"{' '.join(command)} failed, so there is no Chromium to test with:\n"
                        f"{done.stdout[-1500:]}{done.stderr[-1500:]}")
    assert CHROMIUM.exists(), "apt-get installed chromium but /usr/bin/chromium is missing"
    return CHROMIUM


STEP_MS = 10_000  # the longest any single UI step may take


class Console:
    """One browser context (own cookies) on the console, failing on any script error."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(STEP_MS)

    async def login(self, username: str, password: str) -> None:
        await self.page.goto(self.base + "/")
        await self.page.fill("#login-form input[name=username]", username)
        await self.page.fill("#login-form input[name=password]", password)
        await self.page.click("#login-form button[type=submit]")
        await self.page.wait_for_selector("#runs-table, #runs-empty")

    async def go(self, hash_path: str) -> None:
        await self.page.goto(f"{self.base}/#{hash_path}")

    async def node_status(self, node_id: str, status: str) -> None:
        await self.page.wait_for_selector(
            f'tr.node-row[data-node-id="{node_id}"][data-status="{status}"]'
        )

    async def run_status(self, status: str) -> None:
        await self.page.wait_for_selector(f'#run-status [data-status="{status}"]')

    async def count(self, workflow_id: str, status: str) -> str:
        cell = self.page.locator(f'#run-counts tr[data-workflow-id="{workflow_id}"] td.count-{status}')
        return str(await cell.inner_text())


async def open_console(browser: Any, server: TestServer) -> Console:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return Console(await context.new_page(), str(server.make_url("")).rstrip("/"))


async def start_in_background(client: TestClient, workflow_id: str, user: str = "test",
                              inputs: dict[str, Any] | None = None) -> str:
    """Start a run without waiting for it (the blocking execute endpoint would)."""
    app = client.app
    assert app is not None
    return str(await app[keys.ENGINE].start_run(workflow_id, "default", inputs or {}, {}, user))
