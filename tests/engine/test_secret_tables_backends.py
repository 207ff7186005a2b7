"""Run secrets and workspace secrets are sealed, kept and removed the same on SQLite and
on PostgreSQL; what the tables hold is never the plain value."""

from __future__ import annotations

from cryptography.fernet import Fernet

from service.engine.secrets import SecretVault
from service.secrets.repository import WorkspaceSecrets
from tests.support.backends import Backend


async def test_run_secrets_are_sealed_replaced_and_dropped(backend: Backend) -> None:
    vault = SecretVault(await backend.open(), Fernet.generate_key().decode())
    await vault.ensure_schema()
    await vault.ensure_schema()
    await vault.put("run-1", {"TOKEN": "first-value"})
    await vault.put("run-1", {"TOKEN": "second-value"})
    assert await vault.get("run-1") == {"TOKEN": "second-value"}
    sealed = backend.query("SELECT sealed FROM run_secrets WHERE run_id = ?", "run-1")
    assert len(sealed) == 1
    assert b"second-value" not in bytes(sealed[0]["sealed"])
    await vault.drop("run-1")
    assert await vault.get("run-1") is None


async def test_workspace_secrets_are_put_listed_opened_and_deleted(backend: Backend) -> None:
    secrets = WorkspaceSecrets(await backend.open(), Fernet(Fernet.generate_key()))
    await secrets.ensure_schema()
    await secrets.ensure_schema()
    _, created = await secrets.put("ws", "API_KEY", "value-1")
    _, created_again = await secrets.put("ws", "API_KEY", "value-2")
    await secrets.put("ws", "OTHER", "value-3")
    await secrets.put("elsewhere", "API_KEY", "not-ours")
    assert (created, created_again) == (True, False)
    assert [info.name for info in await secrets.list("ws")] == ["API_KEY", "OTHER"]
    assert await secrets.values("ws") == {"API_KEY": "value-2", "OTHER": "value-3"}
    stored = backend.query("SELECT sealed FROM workspace_secrets")
    assert all(b"value" not in bytes(row["sealed"]) for row in stored)
    assert await secrets.delete("ws", "API_KEY") is True
    assert await secrets.delete("ws", "API_KEY") is False
    assert await secrets.values("ws") == {"OTHER": "value-3"}
