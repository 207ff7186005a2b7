"""Checkpoints are signed and kept the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventstore.hashchain import GENESIS_HASH
from eventstore.records import NewEvent
from service.audit.checkpoints import Checkpoints
from service.audit.signing import signature_holds, signed_message
from tests.support.backends import Backend


async def test_checkpoints_sign_the_head_and_list_newest_first(backend: Backend) -> None:
    store = await backend.open()
    checkpoints = Checkpoints(store, Ed25519PrivateKey.generate())
    await checkpoints.ensure_schema()
    await checkpoints.ensure_schema()  # a second start finds the table there
    empty = await checkpoints.sign_head()
    assert (empty.position, empty.hash) == (0, GENESIS_HASH)
    recorded = await store.append("run-1", [NewEvent("Tick", {"n": n}) for n in range(3)])
    signed = await checkpoints.sign_head()
    assert (signed.position, signed.hash) == (recorded[-1].position, recorded[-1].hash)
    assert await checkpoints.newest(10) == [signed, empty]
    assert await checkpoints.newest(1) == [signed]
    assert await checkpoints.count() == 2
    message = signed_message(signed.position, signed.hash, signed.signed_at, signed.key_id)
    assert signature_holds(checkpoints.key.public_key(), message, signed.signature)
    rows = backend.query("SELECT position, hash FROM audit_checkpoints ORDER BY id")
    assert [(r["position"], r["hash"]) for r in rows] == [(0, GENESIS_HASH),
                                                          (signed.position, signed.hash)]
