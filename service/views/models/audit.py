"""The audit answers: signed checkpoints of the log's head, and the key that signs them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.views.models.base import Count, ResponseModel, Timestamp

Hash = Field(pattern="^[0-9a-f]{64}$", description="The sha256 chain hash of the event at "
                                                   "`position` (64 zeros for an empty log).")


class Checkpoint(ResponseModel):
    """Save it elsewhere: `runstream checkpoint verify FILE` later proves the log still
    extends it (truncation, a rewritten history and an older backup all fail)."""

    position: Count = Field(description="The log's head when it was signed.")
    hash: str = Hash
    signedAt: Timestamp
    keyId: str = Field(pattern="^[0-9a-f]{16}$",
                       description="sha256 of the raw public key, first 16 hex digits.")
    signature: str = Field(description=(
        "Ed25519 signature (base64) over the UTF-8 bytes of "
        "`runstream-checkpoint-v1\\n{position}\\n{hash}\\n{signedAt}\\n{keyId}`."))


class CheckpointList(ResponseModel):
    algorithm: Literal["Ed25519"]
    publicKey: str = Field(description="The raw 32-byte Ed25519 public key, base64.")
    keyId: str = Field(pattern="^[0-9a-f]{16}$")
    checkpoints: list[Checkpoint] = Field(description="Newest first.")
    total: Count = Field(description="Checkpoints signed so far.")
