"""Whether the current log extends checkpoints an auditor saved: each signature holds,
and the event at each checkpoint's position still has the hash it signed.

A truncated log no longer reaches the position; a rewritten history (or an older backup
put back and written on) has another hash there, or a chain that breaks before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventstore.hashchain import GENESIS_HASH
from eventstore.interface import EventStore
from service.audit.signing import key_id, public_key_from_text, signature_holds, signed_message

CHECKPOINT_KEYS = ("position", "hash", "signedAt", "keyId", "signature")


class BadCheckpointFile(ValueError):
    """The file holds no checkpoint in the shape the service answers them."""


@dataclass(frozen=True, slots=True)
class Extension:
    """The outcome: `first_bad_position` is None when the log extends every checkpoint."""

    checked: int
    head: int
    first_bad_position: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None and self.reason is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "head": self.head,
                "firstBadPosition": self.first_bad_position, "reason": self.reason}


def read_checkpoint_file(document: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The checkpoints of a saved file and the public key it names, if any.

    Takes one checkpoint, a list of them, or the body `GET /api/v1/audit/checkpoints`
    answers (saved whole, it carries the public key beside them).
    """
    public_key = None
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]
    if isinstance(document, dict) and "checkpoints" in document:
        public_key = document.get("publicKey")
        document = document["checkpoints"]
    items = document if isinstance(document, list) else [document]
    if not items:
        raise BadCheckpointFile("the file holds no checkpoint")
    for item in items:
        if not isinstance(item, dict) or any(k not in item for k in CHECKPOINT_KEYS):
            raise BadCheckpointFile(f"a checkpoint has the keys {', '.join(CHECKPOINT_KEYS)}")
        if not isinstance(item["position"], int) or item["position"] < 0:
            raise BadCheckpointFile("a checkpoint's position is a whole number")
    return items, public_key if isinstance(public_key, str) else None


def _signature_problem(item: dict[str, Any], key: Ed25519PublicKey) -> str | None:
    if item["keyId"] != key_id(key):
        return f"checkpoint at {item['position']} names key {item['keyId']!r}, not this key"
    message = signed_message(item["position"], str(item["hash"]), str(item["signedAt"]),
                             str(item["keyId"]))
    if not signature_holds(key, message, str(item["signature"])):
        return f"checkpoint at {item['position']}: the signature does not verify"
    return None


async def log_extends(store: EventStore, items: list[dict[str, Any]],
                      public_key: str) -> Extension:
    """Check every checkpoint's signature, then the log against each, oldest first."""
    key = public_key_from_text(public_key)
    head = await store.head()
    for item in items:
        problem = _signature_problem(item, key)
        if problem is not None:
            return Extension(0, head, None, problem)
    chain = await store.verify()
    checked = 0
    for item in sorted(items, key=lambda i: int(i["position"])):
        position = int(item["position"])
        if chain.first_bad_position is not None and chain.first_bad_position <= position:
            return Extension(checked, head, chain.first_bad_position,
                             f"the chain breaks before checkpoint {position}: {chain.reason}")
        if position > head:
            return Extension(checked, head, head + 1,
                             f"the log ends at {head}; the checkpoint signed position "
                             f"{position}: positions {head + 1} to {position} are gone")
        found = GENESIS_HASH
        if position > 0:
            event = await store.read(None, position - 1, 1)
            found = event[0].hash if event and event[0].position == position else "none"
        if found != item["hash"]:
            return Extension(checked, head, position,
                             f"the event at {position} has hash {found}, the checkpoint "
                             f"signed {item['hash']}: the history up to it was rewritten")
        checked += 1
    return Extension(checked, head)
