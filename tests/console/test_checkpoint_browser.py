"""The audit page's signed checkpoint in a real browser: an admin signs the head, sees it,
and downloads a file that `runstream checkpoint verify` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.settings import Settings
from tests.support.api import QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import ADMIN_PASSWORD
from tests.support.browser import open_console
from tests.support.cli import arun


async def test_an_admin_signs_a_checkpoint_and_downloads_what_verify_accepts(
    browser: Any, server: TestServer, admin_api: TestClient, settings: Settings,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    await execute(admin_api, await create_workflow(admin_api, QUICK_WORKFLOW), n=1)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go("/audit")
    await page.wait_for_selector("#no-checkpoint")
    await page.click("#sign-checkpoint")
    latest = page.locator("#latest-checkpoint")
    await latest.wait_for()
    head = (await (await admin_api.get("/api/v1/audit/verify")).json())["data"]["head"]
    assert await latest.get_attribute("data-position") == str(head)

    async with page.expect_download() as info:
        await page.click("#download-checkpoint")
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name == f"runstream-checkpoint-{head}.json"
    capsys.readouterr()
    code, report, _ = await arun(capsys, "checkpoint", "verify", str(saved),
                                 "--data-dir", str(settings.data_dir))
    assert code == 0, report
    assert report["ok"], report
    assert report["checked"] == 1, report
    assert console.errors == []
