"""The webhooks' tables on either backend of the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

from eventstore.tables import TableStore
from service.triggers.webhooks import Delivery, WebhookRepository
from tests.support.backends import Backend

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CONFIG = {"auth": "hmac", "hmac": {"secret": "HOOK", "header": "X-Hub-Signature-256",
                                   "algorithm": "sha256", "prefix": "sha256=",
                                   "timestampHeader": None, "toleranceS": 300,
                                   "format": "hex"},
          "token": None, "responseMode": "minimal", "idempotencyHeader": None,
          "methods": ["POST"], "enabled": True}


async def test_webhooks_are_stored_changed_and_deleted(backend: Backend) -> None:
    store = await backend.open()
    webhooks = WebhookRepository(cast(TableStore, store), retention_s=3600)
    await webhooks.ensure_schema()
    await webhooks.ensure_schema()  # idempotent, as every start runs it
    made = await webhooks.create(str(uuid.uuid4()), "default", "ada", CONFIG, NOW)
    assert await webhooks.get(made.id) == made
    assert made.response_mode == "immediate"  # minimal is its alias
    assert await webhooks.of_workflow(made.workflow_id) == [made]
    changed = await webhooks.update(made, {**CONFIG, "enabled": False}, NOW)
    stored = await webhooks.get(made.id)
    assert stored == changed
    assert stored is not None
    assert not stored.enabled
    assert await webhooks.delete(made.id)
    assert await webhooks.get(made.id) is None
    assert not await webhooks.delete(made.id)


async def test_deliveries_are_kept_for_the_retention_only(backend: Backend) -> None:
    store = await backend.open()
    webhooks = WebhookRepository(cast(TableStore, store), retention_s=3600)
    await webhooks.ensure_schema()
    made = await webhooks.create(str(uuid.uuid4()), "default", "ada", CONFIG, NOW)
    quiet = await webhooks.create(str(uuid.uuid4()), "default", "ada", CONFIG, NOW)
    now = NOW.timestamp()
    await webhooks.record(Delivery(made.id, "POST", 202, "valid"), now - 7200)
    await webhooks.record(Delivery(quiet.id, "POST", 202, "valid"), now - 7200)
    await webhooks.record(Delivery(made.id, "POST", 401, "stale", message="old"), now - 60)
    run_id = str(uuid.uuid4())
    await webhooks.record(Delivery(made.id, "POST", 202, "valid", run_id=run_id,
                                   repeat=True), now)
    listed = await webhooks.deliveries(made.id, 10, now)
    assert [(d["status"], d["signature"], d["runId"], d["repeat"]) for d in listed] == [
        (202, "valid", run_id, True), (401, "stale", None, False)]
    # The old ones are gone from the table, not only from the answer (pruned on write),
    # also that of a webhook that had no delivery since.
    rows = await webhooks.db.fetch_all(
        "SELECT webhook_id, COUNT(*) FROM webhook_deliveries GROUP BY webhook_id")
    assert [(str(hook), int(count)) for hook, count in rows] == [(made.id, 2)]
