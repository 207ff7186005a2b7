"""The Ed25519 key that signs checkpoints: a PEM file in the data directory, generated
once with mode 0600, or the file the `checkpoint_key_file` setting names."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.settings import Settings, SettingsError

KEY_FILE = "checkpoint.key"


def key_path(settings: Settings) -> Path:
    configured = settings.checkpoint_key_file
    return Path(configured) if configured else settings.data_dir / KEY_FILE


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key file (which must exist), else the data dir's, created on first use."""
    path = key_path(settings)
    if not settings.checkpoint_key_file:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: of two processes starting at once, exactly one writes the key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            key = Ed25519PrivateKey.generate()
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            return key
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            # Whoever reads this key can sign a history of their own making.
            os.chmod(path, 0o600)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"checkpoint key {path}: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SettingsError(f"checkpoint key {path}: not an Ed25519 private key")
    return loaded


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64: what auditors pin and `keyId` names."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Raises ValueError for anything but a base64 32-byte Ed25519 public key."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ValueError("the public key is not base64") from None
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of the public key (sha256 of its raw bytes, 16 hex digits)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_message(position: int, head_hash: str, signed_at: str, kid: str) -> bytes:
    """The exact bytes a checkpoint's signature covers (prefixed, so that no other
    message signed with an Ed25519 key can pass for a checkpoint)."""
    return f"runstream-checkpoint-v1\n{position}\n{head_hash}\n{signed_at}\n{kid}".encode()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode()


def signature_holds(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
