"""What the webhook tests share: a workflow that echoes its trigger data, webhooks with a
secret, a sender's signatures (computed here, independently of the service's code), and
counting a webhook's runs."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from aiohttp.test_utils import TestClient

SECRET = "whsec-d41d8cd98f00b204e9800998ecf8427e"
SECRET_NAME = "HOOK_SECRET"
ECHO_WORKFLOW: dict[str, Any] = {
    "name": "Echo delivery",
    "trigger": {"staticData": {"priority": "normal", "action": "static"}},
    "nodes": [{"id": "echo", "type": "transform", "params": {"value": {
        "action": "{{trigger.data.body.action}}", "priority": "{{trigger.data.priority}}",
        "method": "{{trigger.data.method}}", "query": "{{trigger.data.query}}",
        "headers": "{{trigger.data.headers}}", "body": "{{trigger.data.body}}"}}}],
}
GITHUB: dict[str, Any] = {"auth": "hmac", "hmac": {"secret": SECRET_NAME},
                          "idempotencyHeader": "X-GitHub-Delivery"}
STRIPE: dict[str, Any] = {"auth": "hmac", "hmac": {"secret": SECRET_NAME,
                                                   "format": "stripe", "toleranceS": 300}}


def github_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_signature(body: bytes, at: float | None = None, secret: str = SECRET) -> str:
    t = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


async def webhook_for(admin: TestClient, config: dict[str, Any],
                      workflow: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new workflow (the echo one by default) with one webhook of `config`."""
    resp = await admin.put(f"/api/v1/workspaces/default/secrets/{SECRET_NAME}",
                           json={"value": SECRET})
    assert resp.status in (200, 201), await resp.text()
    resp = await admin.post("/api/v1/workflows", json=workflow or ECHO_WORKFLOW)
    assert resp.status == 201, await resp.text()
    workflow_id = (await resp.json())["data"]["id"]
    resp = await admin.post(f"/api/v1/workflows/{workflow_id}/webhooks", json=config)
    body = await resp.json()
    assert resp.status == 201, body
    return dict(body["data"])


async def runs_of(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    resp = await client.get(
        f"/api/v1/workflow-runs?triggeredBy=webhook&triggerId={webhook_id}&limit=100")
    body = await resp.json()
    assert resp.status == 200, body
    return list(body["data"])


async def deliveries_of(client: TestClient, webhook: dict[str, Any]) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/workflows/{webhook['workflowId']}/webhooks/"
                            f"{webhook['id']}/deliveries?limit=100")
    body = await resp.json()
    assert resp.status == 200, body
    return list(body["data"])
