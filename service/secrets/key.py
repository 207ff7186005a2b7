"""The Fernet key that seals env values of runs and workspace secrets: from config
(`engine.secrets_key`), or generated once into the data directory."""

from __future__ import annotations

from service.keyfiles import fernet_key
from service.settings import Settings

KEY_FILE = "secrets.key"


def secrets_key(settings: Settings) -> str:
    """The configured key, else the key file in the data dir (created with mode 0600)."""
    return fernet_key(settings.engine.secrets_key, settings.data_dir, KEY_FILE,
                      "engine.secrets_key").decode()
