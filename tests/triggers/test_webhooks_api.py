"""Managing a workflow's webhooks: /api/v1/workflows/{id}/webhooks and its deliveries."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service import keys
from service.triggers.webhooks import Delivery
from tests.support.api import QUICK_WORKFLOW, create_workflow
from tests.support.auth import USER_PASSWORD, ClientFactory, create_user, login

SECRET_VALUE = "whsec-api-test-value-5e1f"
GITHUB = {"auth": "hmac", "hmac": {"secret": "GITHUB_HOOK"},
          "idempotencyHeader": "X-GitHub-Delivery"}


async def put_secret(client: TestClient, name: str, value: str = SECRET_VALUE,
                     workspace: str = "default") -> None:
    resp = await client.put(f"/api/v1/workspaces/{workspace}/secrets/{name}",
                            json={"value": value})
    assert resp.status in (200, 201), await resp.text()


async def create_webhook(client: TestClient, workflow_id: str, body: dict[str, Any],
                         expect: int = 201) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/workflows/{workflow_id}/webhooks", json=body)
    answer = await resp.json()
    assert resp.status == expect, answer
    return dict(answer.get("data") or answer)


async def test_a_webhook_is_created_with_its_url_and_its_defaults(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    await put_secret(admin, "GITHUB_HOOK")
    made = await create_webhook(admin, workflow_id, GITHUB)
    assert made["url"] == f"/hooks/{made['id']}"
    assert made["hmac"] == {"secret": "GITHUB_HOOK", "header": "X-Hub-Signature-256",
                            "algorithm": "sha256", "prefix": "sha256=",
                            "timestampHeader": None, "toleranceS": 300, "format": "hex"}
    assert made["token"] is None
    assert (made["responseMode"], made["methods"], made["enabled"]) == (
        "immediate", ["POST", "PUT"], True)
    resp = await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks/{made['id']}")
    assert (await resp.json())["data"] == made
    listed = await (await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks")).json()
    assert [w["id"] for w in listed["data"]] == [made["id"]]
    assert SECRET_VALUE not in str(listed)


async def test_stripe_format_defaults_to_its_header_without_prefix(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    await put_secret(admin, "STRIPE_HOOK")
    made = await create_webhook(admin, workflow_id, {
        "auth": "hmac", "hmac": {"secret": "STRIPE_HOOK", "format": "stripe"}})
    assert (made["hmac"]["header"], made["hmac"]["prefix"]) == ("Stripe-Signature", "")


@pytest.mark.parametrize("body", [
    {},
    {"auth": "magic"},
    {"auth": "hmac"},
    {"auth": "token"},
    {"auth": "hmac", "hmac": {"secret": "NO_SUCH_SECRET"}},
    {"auth": "hmac", "hmac": {"secret": "bad name"}},
    {"auth": "hmac", "hmac": {"secret": "GITHUB_HOOK", "format": "rot13"}},
    {"auth": "hmac", "hmac": {"secret": "GITHUB_HOOK", "toleranceS": 0}},
    {"auth": "none", "responseMode": "eventually"},
    {"auth": "none", "methods": []},
    {"auth": "none", "methods": ["DELETE"]},
    {"auth": "none", "methods": ["POST", "POST"]},
    {"auth": "none", "idempotencyHeader": "Bad Header"},
    {"auth": "none", "enabled": "yes"},
])
async def test_a_bad_webhook_is_refused_and_nothing_is_stored(
        admin: TestClient, body: dict[str, Any]) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    await put_secret(admin, "GITHUB_HOOK")
    answer = await create_webhook(admin, workflow_id, body, expect=400)
    assert answer["error"]["code"] == "bad_request"
    listed = await (await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks")).json()
    assert listed["data"] == []


async def test_patch_changes_the_fields_sent_and_checks_the_result(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await create_webhook(admin, workflow_id, {"auth": "none"})
    path = f"/api/v1/workflows/{workflow_id}/webhooks/{made['id']}"
    resp = await admin.patch(path, json={"enabled": False, "responseMode": "lastNode"})
    changed = (await resp.json())["data"]
    assert (changed["enabled"], changed["responseMode"], changed["auth"]) == (
        False, "lastNode", "none")
    # hmac without its settings, then with a secret the workspace lacks: both refused.
    assert (await admin.patch(path, json={"auth": "hmac"})).status == 400
    resp = await admin.patch(path, json={"auth": "token", "token": {"secret": "MISSING"}})
    assert resp.status == 400
    await put_secret(admin, "HOOK_TOKEN")
    resp = await admin.patch(path, json={"auth": "token", "token": {"secret": "HOOK_TOKEN"}})
    changed = (await resp.json())["data"]
    assert changed["token"] == {"secret": "HOOK_TOKEN", "header": "Authorization"}
    stored = await (await admin.get(path)).json()
    assert stored["data"] == changed


async def test_delete_removes_the_webhook_and_its_deliveries(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await create_webhook(admin, workflow_id, {"auth": "none"})
    path = f"/api/v1/workflows/{workflow_id}/webhooks/{made['id']}"
    app = admin.server.app
    assert app is not None
    await app[keys.WEBHOOKS].record(Delivery(made["id"], "POST", 202, "unsigned"), time.time())
    assert (await admin.delete(path, json={})).status == 200
    assert (await admin.get(path)).status == 404
    assert (await admin.delete(path, json={})).status == 404
    assert await app[keys.WEBHOOKS].deliveries(made["id"], 10, time.time()) == []


async def test_a_webhook_is_found_only_under_its_own_workflow(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    other_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await create_webhook(admin, workflow_id, {"auth": "none"})
    for path in (f"/api/v1/workflows/{other_id}/webhooks/{made['id']}",
                 f"/api/v1/workflows/{other_id}/webhooks/{made['id']}/deliveries"):
        assert (await admin.get(path)).status == 404
    resp = await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks/not-an-id")
    assert resp.status == 400


async def test_deliveries_are_listed_newest_first_within_the_retention(
        admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await create_webhook(admin, workflow_id, {"auth": "none"})
    app = admin.server.app
    assert app is not None
    repo = app[keys.WEBHOOKS]
    now = time.time()
    await repo.record(Delivery(made["id"], "POST", 202, "unsigned"),
                      now - repo.retention_s - 10)  # dropped by the next write
    await repo.record(Delivery(made["id"], "POST", 401, "invalid", message="no"), now - 1)
    await repo.record(Delivery(made["id"], "PUT", 202, "valid", run_id=made["id"]), now)
    resp = await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks/{made['id']}"
                           "/deliveries")
    listed = (await resp.json())["data"]
    assert [(d["method"], d["status"], d["signature"]) for d in listed] == [
        ("PUT", 202, "valid"), ("POST", 401, "invalid")]
    assert listed[0]["runId"] == made["id"]
    assert listed[1]["message"] == "no"
    resp = await admin.get(f"/api/v1/workflows/{workflow_id}/webhooks/{made['id']}"
                           "/deliveries?limit=1")
    assert len((await resp.json())["data"]) == 1


async def test_viewers_read_webhooks_but_not_their_deliveries(
        admin: TestClient, new_client: ClientFactory) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    made = await create_webhook(admin, workflow_id, {"auth": "none"})
    await create_user(admin, "watcher")
    resp = await admin.post("/api/v1/workspaces/default/members",
                            json={"username": "watcher", "role": "viewer"})
    assert resp.status in (200, 201)
    viewer = await new_client()
    await login(viewer, "watcher", USER_PASSWORD)
    base = f"/api/v1/workflows/{workflow_id}/webhooks"
    assert (await viewer.get(f"{base}/{made['id']}")).status == 200
    assert (await viewer.get(f"{base}/{made['id']}/deliveries")).status == 403
    assert (await viewer.post(base, json={"auth": "none"})).status == 403
