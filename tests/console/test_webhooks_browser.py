"""A workflow's webhooks on its page, in a real browser (see test_browser.py for how): an
editor creates signed ones (GitHub-style and Stripe-style, each stored as the API then lists
it), is refused a secret the workspace does not have, disables, enables and deletes one,
and sees each delivery a sender made with its status, signature result and run; a viewer
reads them without controls or deliveries."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestClient, TestServer

from tests.support.api import QUICK_WORKFLOW, create_workflow
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_member
from tests.support.browser import open_console
from tests.triggers.webhook_helpers import GITHUB, deliveries_of, github_signature, webhook_for


async def webhooks(api: TestClient, workflow_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/api/v1/workflows/{workflow_id}/webhooks")
    body = await resp.json()
    assert resp.status == 200, body
    return list(body["data"])


async def set_secret(api: TestClient, name: str) -> None:
    resp = await api.put(f"/api/v1/workspaces/default/secrets/{name}",
                         json={"value": "a-signing-key"})
    assert resp.status in (200, 201), await resp.text()


def row(webhook_id: str, enabled: bool | None = None) -> str:
    state = "" if enabled is None else f'[data-enabled="{str(enabled).lower()}"]'
    return f'#webhooks-table tr[data-webhook-id="{webhook_id}"]{state}'


async def test_an_editor_creates_disables_enables_and_deletes_webhooks(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await set_secret(admin_api, "GITHUB_SECRET")
    await set_secret(admin_api, "STRIPE_SECRET")
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector("#no-webhooks")
    await page.click("#webhooks-card summary")
    # The secret field offers the workspace's secrets by name.
    await page.wait_for_selector('#webhook-secrets option[value="GITHUB_SECRET"]', state="attached")

    await page.fill("#webhook-secret", "GITHUB_SECRET")
    await page.fill("#webhook-idempotency", "X-GitHub-Delivery")
    await page.uncheck('#webhook-form input[data-method="PUT"]')
    await page.click("#add-webhook")
    await page.wait_for_selector("#webhook-made")
    [github] = await webhooks(admin_api, workflow_id)
    assert (github["auth"], github["methods"], github["idempotencyHeader"], github["enabled"]) \
        == ("hmac", ["POST"], "X-GitHub-Delivery", True)
    assert {k: github["hmac"][k] for k in ("secret", "header", "prefix", "format")} == {
        "secret": "GITHUB_SECRET", "header": "X-Hub-Signature-256", "prefix": "sha256=",
        "format": "hex"}
    url = f"{console.base}/hooks/{github['id']}"
    assert github["url"] == f"/hooks/{github['id']}"
    assert url in await page.inner_text("#webhook-made")
    await page.wait_for_selector(row(github["id"]))
    assert await page.inner_text(f"{row(github['id'])} .webhook-url code") == url
    assert await page.inner_text(f"{row(github['id'])} .webhook-deliveries") == "none yet"

    # Stripe-style: the API's defaults for that format (its header, no prefix) are kept.
    await page.select_option("#webhook-format", "stripe")
    assert await page.input_value("#webhook-prefix") == ""
    await page.fill("#webhook-secret", "STRIPE_SECRET")
    await page.fill("#webhook-idempotency", "")
    await page.click("#add-webhook")
    await page.wait_for_selector("#webhooks-table tbody tr:nth-child(2)")
    stripe = (await webhooks(admin_api, workflow_id))[1]
    assert (stripe["hmac"]["format"], stripe["hmac"]["header"], stripe["hmac"]["prefix"]) == (
        "stripe", "Stripe-Signature", "")
    assert "Stripe-Signature" in await page.inner_text(f"{row(stripe['id'])} .webhook-auth")

    # A secret the workspace does not have is the API's 400; nothing is stored.
    await page.fill("#webhook-secret", "NO_SUCH_SECRET")
    await page.click("#add-webhook")
    await page.wait_for_selector("#webhook-problem .error")
    assert "(400)" in await page.inner_text("#webhook-problem")
    assert len(await webhooks(admin_api, workflow_id)) == 2

    await page.click(f"{row(github['id'])} .toggle-webhook")
    await page.wait_for_selector(row(github["id"], enabled=False))
    assert [w["enabled"] for w in await webhooks(admin_api, workflow_id)] == [False, True]
    await page.click(f"{row(github['id'])} .toggle-webhook")
    await page.wait_for_selector(row(github["id"], enabled=True))
    assert [w["enabled"] for w in await webhooks(admin_api, workflow_id)] == [True, True]
    await page.click(f"{row(stripe['id'])} .delete-webhook")
    await page.click(f"{row(stripe['id'])} .confirm-delete")
    await page.wait_for_selector(row(stripe["id"]), state="detached")
    assert [w["id"] for w in await webhooks(admin_api, workflow_id)] == [github["id"]]
    assert console.errors == []


async def test_a_viewer_reads_the_webhooks_without_controls_or_deliveries(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_member(admin_api, "vera", "viewer")
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    resp = await admin_api.post(f"/api/v1/workflows/{workflow_id}/webhooks",
                                json={"auth": "none", "enabled": False})
    assert resp.status == 201, await resp.text()
    made = (await resp.json())["data"]
    console = await open_console(browser, server)
    page = console.page
    await console.login("vera", USER_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector(row(made["id"], enabled=False))
    assert await page.inner_text(f"{row(made['id'])} .webhook-deliveries") == "shown to editors"
    assert "anyone with the URL" in await page.inner_text(f"{row(made['id'])} .webhook-auth")
    assert await page.locator(
        "#webhook-form, .toggle-webhook, .delete-webhook").count() == 0
    assert "needs the editor role" in await page.inner_text("#webhooks-card")
    assert console.errors == []


async def test_an_editor_sees_each_delivery_with_its_outcome_and_run(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    webhook = await webhook_for(admin_api, GITHUB)
    hook = f"{str(server.make_url('')).rstrip('/')}{webhook['url']}"
    body = orjson.dumps({"action": "opened"})
    # A sender of its own (no session): one signed delivery, one with a tampered body.
    async with aiohttp.ClientSession() as sender:
        async with sender.post(hook, data=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": github_signature(body),
                "X-GitHub-Delivery": "delivery-1"}) as resp:
            assert resp.status == 202, await resp.text()
            run_id = (await resp.json())["runId"]
        async with sender.post(hook, data=body + b" ", headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": github_signature(body)}) as resp:
            assert resp.status == 401, await resp.text()
    [refused, accepted] = await deliveries_of(admin_api, webhook)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{webhook['workflowId']}")
    shown = f"{row(webhook['id'])} .deliveries li"
    await page.wait_for_selector(shown)
    assert await page.locator(shown).count() == 2
    newest, oldest = page.locator(shown).nth(0), page.locator(shown).nth(1)
    assert await newest.get_attribute("data-delivery-id") == refused["id"]
    assert (await newest.get_attribute("data-status"), await newest.get_attribute(
        "data-signature")) == ("401", "invalid")
    assert "no run" in await newest.inner_text()
    assert await oldest.get_attribute("data-delivery-id") == accepted["id"]
    assert (await oldest.get_attribute("data-status"), await oldest.get_attribute(
        "data-signature")) == ("202", "valid")
    await oldest.locator(f'a[href="#/runs/{run_id}"]').click()
    await page.wait_for_selector("#triggered-by")
    assert (await page.inner_text("#triggered-by")).startswith(f"webhook {webhook['id'][:8]}")
    assert console.errors == []
