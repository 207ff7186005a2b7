"""The Fernet key that encrypts session cookies: from config, or generated once into the data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet

from service.settings import Settings, SettingsError

KEY_FILE = "session.key"


def _fernet(key: bytes | str, where: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise SettingsError(
            f"{where}: the session key must be a urlsafe base64 32-byte key "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        ) from None


def session_fernet(settings: Settings) -> Fernet:
    """The configured key, else the key file in the data dir (created with mode 0600)."""
    if settings.session_key:
        return _fernet(settings.session_key, "setting 'session_key'")
    path = Path(settings.data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            # Anyone who can read this key can forge a session for any user.
            os.chmod(path, 0o600)
        return _fernet(path.read_bytes().strip(), str(path))
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return Fernet(key)
