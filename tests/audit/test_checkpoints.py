"""Signed checkpoints: the service signs its log's head, and `runstream checkpoint verify`
proves later that the log still extends what an auditor saved, or names where it stops."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.app import create_app
from service.audit.signing import key_id, public_key_text, sign, signed_message
from service.settings import Settings
from tests.support.api import QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.cli import arun
from tests.support.polling import wait_for

CHECKPOINTS = "/api/v1/audit/checkpoints"


async def started(aiohttp_client: Any, settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD)
    return client


async def saved_listing(client: TestClient, runs: int, path: Path) -> dict[str, Any]:
    """Some runs, then a checkpoint signed on demand; the listing saved as an auditor would."""
    workflow = await create_workflow(client, QUICK_WORKFLOW)
    for n in range(runs):
        await execute(client, workflow, n=n)
    resp = await client.post(CHECKPOINTS, json={})
    assert resp.status == 201, await resp.text()
    listing = await client.get(CHECKPOINTS)
    body: dict[str, Any] = await listing.json()
    write_json(path, body)
    return dict(body["data"])


def write_json(path: Path, value: Any) -> None:
    path.write_bytes(orjson.dumps(value))


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()  # the server's request lines are not the command's output
    return await arun(capsys, *argv)


def head_of(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT MAX(position) FROM events").fetchone()[0])


def cut_newest(database: Path, count: int) -> int:
    """Remove the newest events by hand, and cover the tracks `runstream verify` would find
    (the projections' checkpoint that says how far the log reached). The new head."""
    head = head_of(database) - count
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM events WHERE position > ?", (head,))
        conn.execute("UPDATE projection_checkpoints SET position = ?", (head,))
    return head


async def test_the_key_is_generated_into_the_data_dir_with_mode_0600_and_kept(
        aiohttp_client: Any, settings: Settings) -> None:
    client = await started(aiohttp_client, settings)
    key_file = settings.data_dir / "checkpoint.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    listing = (await (await client.get(CHECKPOINTS)).json())["data"]
    assert listing["publicKey"] == public_key_text(key.public_key())
    assert listing["keyId"] == key_id(key.public_key())
    assert listing["checkpoints"] == []
    assert listing["total"] == 0
    await client.close()
    again = await started(aiohttp_client, settings)  # a restart keeps the same key
    assert (await (await again.get(CHECKPOINTS)).json())["data"]["publicKey"] == \
        listing["publicKey"]


async def test_a_checkpoint_signs_the_head_position_and_hash(
        aiohttp_client: Any, settings: Settings) -> None:
    client = await started(aiohttp_client, settings)
    workflow = await create_workflow(client, QUICK_WORKFLOW)
    await execute(client, workflow, n=1)
    verified = (await (await client.get("/api/v1/audit/verify")).json())["data"]
    resp = await client.post(CHECKPOINTS, json={})
    checkpoint = (await resp.json())["data"]
    assert resp.status == 201
    assert (checkpoint["position"], checkpoint["hash"]) == (verified["head"],
                                                            verified["headHash"])
    listing = (await (await client.get(CHECKPOINTS)).json())["data"]
    assert listing["checkpoints"] == [checkpoint]
    assert listing["total"] == 1
    resp = await client.get(f"{CHECKPOINTS}?limit=0")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"]


async def test_checkpoints_are_signed_every_interval(aiohttp_client: Any,
                                                     tmp_path: Path) -> None:
    client = await started(aiohttp_client, make_settings(tmp_path, checkpoint_interval_s=0.05))
    seen: list[Any] = []

    async def two_signed() -> bool:
        seen[:] = [(await (await client.get(CHECKPOINTS)).json())["data"]]
        return bool(seen[0]["total"] >= 2)

    await wait_for(two_signed, 10, lambda: f"fewer than two checkpoints: {seen}", every_s=0.05)


async def test_truncating_the_newest_ten_events_is_found_at_the_first_missing_position(
        aiohttp_client: Any, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "checkpoints.json"
    client = await started(aiohttp_client, settings)
    listing = await saved_listing(client, 3, saved)
    await client.close()  # the server stopped
    data_dir = ("--data-dir", str(settings.data_dir))
    code, report, _ = await cli(capsys, "checkpoint", "verify", str(saved), *data_dir)
    assert code == 0, report
    assert report["ok"], report
    assert report["checked"] == 1, report

    head = cut_newest(settings.database_path, 10)
    code, chain, _ = await cli(capsys, "verify", *data_dir)
    assert code == 0, chain  # the chain alone cannot tell
    code, report, _ = await cli(capsys, "checkpoint", "verify", str(saved), *data_dir)
    assert code == 1, report
    assert report["firstBadPosition"] == head + 1
    assert str(listing["checkpoints"][0]["position"]) in report["reason"]


async def test_an_event_changed_before_the_checkpoint_is_named(
        aiohttp_client: Any, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "checkpoints.json"
    client = await started(aiohttp_client, settings)
    await saved_listing(client, 2, saved)
    await client.close()
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("UPDATE events SET data = CAST('{}' AS BLOB) WHERE position = 3")
    code, report, _ = await cli(capsys, "checkpoint", "verify", str(saved),
                                 "--data-dir", str(settings.data_dir))
    assert code == 1, report
    assert report["firstBadPosition"] == 3, report


def forged(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The same checkpoint claiming another head; and one signed by a key of our own."""
    other = Ed25519PrivateKey.generate()
    kid = key_id(other.public_key())
    position, digest = checkpoint["position"] - 1, "f" * 64
    return [
        {**checkpoint, "position": position},
        {**checkpoint, "signature": checkpoint["signature"][::-1]},
        {**checkpoint, "keyId": kid, "hash": digest, "signature": sign(
            other, signed_message(checkpoint["position"], digest, checkpoint["signedAt"], kid))},
    ]


async def test_a_forged_signature_is_refused(aiohttp_client: Any, settings: Settings,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    client = await started(aiohttp_client, settings)
    listing = await saved_listing(client, 1, tmp_path / "saved.json")
    await client.close()
    for n, fake in enumerate(forged(listing["checkpoints"][0])):
        path = tmp_path / f"forged-{n}.json"
        # The auditor pins the service's public key; the forger cannot sign for it.
        write_json(path, fake)
        code, report, _ = await cli(capsys, "checkpoint", "verify", str(path),
                                     "--public-key", listing["publicKey"],
                                     "--data-dir", str(settings.data_dir))
        assert code == 1, (n, report)
        assert not report["ok"], (n, report)
        assert "signature" in report["reason"] or "key" in report["reason"], report


@pytest.mark.parametrize("content", [b"not json", b"{}", b"[]",
                                     b'{"position": -1, "hash": "", "signedAt": "", '
                                     b'"keyId": "", "signature": ""}'])
async def test_a_file_without_checkpoints_is_refused_plainly(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        aiohttp_client: Any, content: bytes) -> None:
    client = await started(aiohttp_client, settings)
    await client.close()
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, report, err = await cli(capsys, "checkpoint", "verify", str(path),
                                   "--data-dir", str(settings.data_dir))
    assert code == 2
    assert report is None
    assert "bad.json" in err


def copy_database(source: Path, target: Path) -> None:
    """The database with its WAL, as a file backup taken with the server stopped."""
    target.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        found = source.with_name(source.name + suffix)
        copied = target / found.name
        if found.exists():
            shutil.copyfile(found, copied)
        elif copied.exists():
            copied.unlink()


async def test_an_older_backup_restored_and_written_on_is_found_at_the_checkpoint(
        aiohttp_client: Any, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    client = await started(aiohttp_client, settings)
    workflow = await create_workflow(client, QUICK_WORKFLOW)
    await execute(client, workflow, n=0)
    await client.close()
    copy_database(settings.database_path, tmp_path / "backup")

    client = await started(aiohttp_client, settings)
    listing = await saved_listing(client, 2, tmp_path / "checkpoints.json")
    signed = listing["checkpoints"][0]["position"]
    await client.close()

    copy_database(tmp_path / "backup" / settings.database_path.name, settings.data_dir)
    client = await started(aiohttp_client, settings)
    for n in range(4):  # the restored log grows past the signed position again
        await execute(client, workflow, n=10 + n)
    await client.close()
    assert head_of(settings.database_path) > signed

    data_dir = ("--data-dir", str(settings.data_dir))
    code, chain, _ = await cli(capsys, "verify", *data_dir)
    assert code == 0, chain  # a whole chain, of another history
    code, report, _ = await cli(capsys, "checkpoint", "verify",
                                str(tmp_path / "checkpoints.json"), *data_dir)
    assert code == 1, report
    assert report["firstBadPosition"] == signed, report
