"""Settings: config/default.toml, then a `--config` file, then RUNSTREAM_* variables, then the
command line's flags. The model (model.py, engine.py) is the one place a setting is declared."""

from service.settings.engine import EngineSettings
from service.settings.errors import SettingsError
from service.settings.model import Settings
from service.settings.names import ENV_PREFIX
from service.settings.sources import DEFAULT_CONFIG, load_settings

__all__ = [
    "DEFAULT_CONFIG", "ENV_PREFIX", "EngineSettings", "Settings", "SettingsError", "load_settings",
]
