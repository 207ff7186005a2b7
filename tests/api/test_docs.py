"""The API reference at GET /api/docs: Swagger UI shipped in the package, on the service's own
OpenAPI document, under the console's Content-Security-Policy.

The HTTP tests check headers and asset paths. The browser test loads the page in headless
Chromium (Debian's package, see tests/support/browser.py; it skips and says why where there is
none) against the app on a real loopback port, and fails on any CSP violation, any script
error or any request that leaves the app's origin.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.openapi import OPENAPI_PATH
from service.settings import Settings
from service.views.console import CSP
from tests.support.browser import CHROMIUM_ARGS
from tests.support.console import assert_no_inline_script_or_style

DOCS = "/api/docs"
ASSETS = ("init.js", "swagger-ui-bundle.js", "swagger-ui.css")
STEP_MS = 30_000  # generous: the bundle is large and the machine may be busy


@pytest.fixture
async def server(aiohttp_server: Any, settings: Settings) -> TestServer:
    srv: TestServer = await aiohttp_server(create_app(settings))
    return srv


@pytest.fixture
async def client(aiohttp_client: Any, server: TestServer) -> TestClient:
    anonymous: TestClient = await aiohttp_client(server)
    return anonymous


async def asset_urls(client: TestClient) -> dict[str, str]:
    """name -> versioned URL, as the page links them."""
    html = await (await client.get(DOCS)).text()
    found = re.findall(r'(?:src|href)="(/api/docs/([0-9a-f]{12})/([a-z0-9_.-]+))"', html)
    assert len({version for _, version, _ in found}) == 1, found
    return {name: url for url, _, name in found}


# -- plain HTTP -------------------------------------------------------------------------


async def test_page_is_public_with_csp_and_revalidated(client: TestClient) -> None:
    resp = await client.get(DOCS)  # no session, no token
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert "unsafe-eval" not in CSP
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    html = await resp.text()
    assert "__DOCS_VERSION__" not in html
    assert f'data-spec-url="{OPENAPI_PATH}"' in html
    again = await client.get(DOCS, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_assets_are_versioned_and_cached_for_long(client: TestClient) -> None:
    urls = await asset_urls(client)
    assert sorted(urls) == sorted(ASSETS)
    types = {"init.js": "text/javascript", "swagger-ui-bundle.js": "text/javascript",
             "swagger-ui.css": "text/css"}
    for name, url in urls.items():
        resp = await client.get(url)
        assert resp.status == 200, url
        assert resp.content_type == types[name]
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Content-Security-Policy"] == CSP
        again = await client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304
    # An older page asking for an older version gets today's file, not cached under that name.
    stale = await client.get(f"{DOCS}/000000000000/init.js")
    assert stale.status == 200
    assert stale.headers["Cache-Control"] == "no-cache"


async def test_unknown_and_traversing_asset_paths_are_404(client: TestClient) -> None:
    version = (await asset_urls(client))["init.js"].split("/")[3]
    for path in (f"{DOCS}/v/nope.js", f"{DOCS}/v/index.html", f"{DOCS}/v/LICENSE",
                 f"{DOCS}/v/README.md", f"{DOCS}/v/swagger-ui-bundle.js.LICENSE.txt",
                 f"{DOCS}/v/..%2Fvendor%2Fswagger-ui%2FLICENSE", f"{DOCS}/v/.hidden.js",
                 f"{DOCS}/v/swagger-ui-standalone-preset.js", f"{DOCS}/{version}/x.js"):
        resp = await client.get(path)
        assert resp.status == 404, path


def test_our_page_has_no_inline_script_or_style() -> None:
    folder = Path(str(files("service").joinpath("docs_ui")))
    html = (folder / "index.html").read_text()
    assert_no_inline_script_or_style(html)
    # Only our own origin: no CDN.
    assert re.search(r"(?:src|href)=\"(?!/|data:)", html) is None
    vendored = folder / "vendor" / "swagger-ui"
    assert (vendored / "LICENSE").is_file()
    assert (vendored / "README.md").is_file()


# -- in a browser -----------------------------------------------------------------------


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    async_api = pytest.importorskip(
        "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    async with async_api.async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


# Registered before any page script runs (Playwright's init scripts are not subject to the
# page's CSP), so every violation is recorded, reported to the console or not.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


async def test_reference_renders_in_chromium_without_csp_violations(
    browser: Any, server: TestServer
) -> None:
    base = str(server.make_url("")).rstrip("/")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(RECORD_VIOLATIONS)
    page = await context.new_page()
    page.set_default_timeout(STEP_MS)
    csp_messages: list[str] = []
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda msg: csp_messages.append(msg.text)
            if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
            else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: None if req.url.startswith((base + "/", "data:"))
            else elsewhere.append(req.url))

    response = await page.goto(base + DOCS)
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CSP

    # The operation list, read from /api/v1/openapi.json.
    list_runs = page.locator("#operations-workflow-runs-listRuns")
    await list_runs.wait_for()
    summary = await list_runs.locator(".opblock-summary").inner_text()
    assert "GET" in summary
    assert "/api/v1/workflow-runs" in summary
    assert "listRuns" in summary
    assert await page.locator(".opblock").count() > 40

    # One operation expanded: its request body and, on the Schema tab, the body's schema.
    execute = page.locator("#operations-workflow-runs-executeWorkflow")
    await execute.locator(".opblock-summary-control").click()
    body = execute.locator(".opblock-section-request-body")
    await body.wait_for()
    await body.get_by_role("tab", name="Schema").click()
    model = body.locator(".model-box")
    await model.wait_for()
    await model.get_by_text("workflowId").first.wait_for()

    # "Try it out" sends the request from the page (connect-src 'self') and shows the answer.
    healthz = page.locator("#operations-service-healthz")
    await healthz.locator(".opblock-summary-control").click()
    await healthz.get_by_role("button", name="Try it out").click()
    await healthz.get_by_role("button", name="Execute").click()
    status = healthz.locator(".live-responses-table tr.response .response-col_status")
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"

    await page.wait_for_timeout(300)  # let any late violation report arrive
    violations = await page.evaluate("window.__cspViolations")
    assert violations == [], violations
    assert csp_messages == [], csp_messages
    assert errors == [], errors
    assert elsewhere == [], elsewhere
    await context.close()
