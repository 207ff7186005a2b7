"""The tamper-evident chain: hash = sha256(prev_hash || canonical bytes of the event)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

from eventstore.records import RecordedEvent

GENESIS_HASH = "0" * 64


def canonical_bytes(
    position: int, stream: str, version: int, type_: str, data: bytes, recorded_at: str
) -> bytes:
    """Every stored field of an event except its own links, in a fixed byte layout.

    The header is a JSON array (unambiguous field boundaries); the payload follows
    as the exact stored bytes, so the chain covers what is on disk, not a re-encoding.
    """
    header = orjson.dumps([position, stream, version, type_, recorded_at])
    return header + b"\n" + data


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def link_events(
    stream: str, version: int, position: int, prev_hash: str,
    encoded: Sequence[tuple[str, bytes]], recorded_at: str,
) -> list[RecordedEvent]:
    """Encoded events (type, data) placed after `position` and `version`, each chained to
    the one before it, the first to `prev_hash`: what every backend writes."""
    recorded = []
    for type_, data in encoded:
        position += 1
        version += 1
        digest = chain_hash(
            prev_hash, canonical_bytes(position, stream, version, type_, data, recorded_at))
        recorded.append(RecordedEvent(
            position, stream, version, type_, data, recorded_at, prev_hash, digest))
        prev_hash = digest
    return recorded
