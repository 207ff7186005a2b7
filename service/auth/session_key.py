"""The Fernet key that encrypts session cookies: from config, or generated once into the data dir."""

from __future__ import annotations

from cryptography.fernet import Fernet

from service.keyfiles import fernet_key
from service.settings import Settings

KEY_FILE = "session.key"


def session_fernet(settings: Settings) -> Fernet:
    """The configured key, else the key file in the data dir (created with mode 0600)."""
    return Fernet(fernet_key(settings.session_key, settings.data_dir, KEY_FILE, "session_key"))
