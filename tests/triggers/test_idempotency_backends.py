"""Idempotency keys are claimed the same on SQLite and on PostgreSQL: the first claim
wins, a different request with the same key is refused, an expired key is free again."""

from __future__ import annotations

import asyncio

import pytest

from service.triggers.idempotency import IdempotencyKeys, KeyReused
from tests.support.backends import Backend


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.123456

    def __call__(self) -> float:
        return self.now


async def test_claims_hold_until_the_key_expires(backend: Backend) -> None:
    clock = Clock()
    keys = IdempotencyKeys(await backend.open(), ttl_s=60, clock=clock)
    await keys.ensure_schema()
    await keys.ensure_schema()
    first = await keys.claim("alice", "k1", "digest-a", "run-1")
    assert (first.run_id, first.first) == ("run-1", True)
    again = await keys.claim("alice", "k1", "digest-a", "run-2")
    assert (again.run_id, again.first) == ("run-1", False)
    with pytest.raises(KeyReused):
        await keys.claim("alice", "k1", "digest-b", "run-3")
    other_caller = await keys.claim("bob", "k1", "digest-b", "run-4")
    assert other_caller.first
    stored = backend.query("SELECT created_at FROM idempotency_keys WHERE caller = ?", "alice")
    assert stored[0]["created_at"] == clock.now  # every digit of the time is kept
    clock.now += 61
    expired = await keys.claim("alice", "k1", "digest-b", "run-5")
    assert (expired.run_id, expired.first) == ("run-5", True)


async def test_concurrent_claims_of_one_key_name_one_run(backend: Backend) -> None:
    keys = IdempotencyKeys(await backend.open())
    await keys.ensure_schema()
    claims = await asyncio.gather(*(
        keys.claim("carol", "same", "digest", f"run-{i}") for i in range(10)))
    assert len({claim.run_id for claim in claims}) == 1
    assert sum(claim.first for claim in claims) == 1
