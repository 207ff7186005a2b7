"""Fernet keys from config, or generated once into the data directory (mode 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet

from service.settings import SettingsError


def _checked(key: bytes | str, where: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SettingsError(
            f"{where}: a key must be a urlsafe base64 32-byte key "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        ) from None
    return key.encode() if isinstance(key, str) else key


def fernet_key(configured: str, data_dir: Path, filename: str, setting: str) -> bytes:
    """The configured key, else the key file in the data dir, created on first use."""
    if configured:
        return _checked(configured, f"setting {setting!r}")
    path = Path(data_dir) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            # Anyone who can read this key can forge sessions or read stored secrets.
            os.chmod(path, 0o600)
        return _checked(path.read_bytes().strip(), str(path))
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key
