"""Settings: config/default.toml, then a `--config` file, then RUNSTREAM_* variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventstore.hub import DEFAULT_RING_BYTES, DEFAULT_RING_SIZE
from eventstore.sqlite import DEFAULT_MAX_EVENT_BYTES
from eventstore.sqlite_checkpoint import DEFAULT_WAL_CHECKPOINT_WAIT_MS, DEFAULT_WAL_RESTART_BYTES

MIN_MAX_EVENT_BYTES = 65_536

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"
ENV_PREFIX = "RUNSTREAM_"


class SettingsError(ValueError):
    """A config file or variable names an unknown key or holds a value of the wrong type."""


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 3026
    data_dir: Path = Path("./data")
    synchronous: str = "FULL"
    live_ring_size: int = DEFAULT_RING_SIZE
    live_ring_bytes: int = DEFAULT_RING_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    wal_restart_bytes: int = DEFAULT_WAL_RESTART_BYTES
    wal_checkpoint_wait_ms: int = DEFAULT_WAL_CHECKPOINT_WAIT_MS
    frame_cache_bytes: int = 8_388_608
    max_body_bytes: int = 1_048_576
    session_key: str = ""
    session_max_age_s: int = 1_209_600
    session_cookie_secure: bool = False
    public_origin: str = ""
    login_max_failures: int = 5
    login_max_failures_per_client: int = 30
    login_failure_window_s: float = 300.0
    admin_password: str = ""
    secrets_key: str = ""
    max_concurrent_runs: int = 16
    default_node_timeout_ms: int = 300_000
    http_allow_hosts: list[str] = field(default_factory=list)
    http_max_response_bytes: int = 1_048_576
    http_timeout_ms: int = 30_000
    load_examples: bool = False
    stream_retry_ms: int = 2000
    stream_buffer_bytes: int = 262_144
    stream_write_deadline_s: float = 10.0
    stream_max_per_user: int = 1000
    stream_disconnect_check_s: float = 5.0
    stream_access_check_s: float = 60.0
    v1_ping_interval_s: float = 9.0
    splox_keepalive_interval_s: float = 3.0
    splox_max_duration_s: float = 1800.0

    @property
    def database_path(self) -> Path:
        return self.data_dir / "runstream.db"

    def replace(self, **changes: Any) -> Settings:
        return load_settings(base=self, overrides=changes, environ={})


def _coerce(name: str, raw: Any, current: Any) -> Any:
    """Convert a TOML value or an environment string to the type of the default."""
    try:
        if isinstance(current, bool):
            if isinstance(raw, str):
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                return raw.lower() in ("1", "true", "yes")
            return bool(raw)
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, Path):
            return Path(raw)
        if isinstance(current, list):
            if isinstance(raw, str):
                return [part.strip() for part in raw.split(",") if part.strip()]
            return list(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r}: cannot use {raw!r}") from exc


# Intervals and deadlines: 0 would make every stream's timer fire without pause.
POSITIVE = (
    "stream_write_deadline_s", "stream_disconnect_check_s", "stream_access_check_s",
    "v1_ping_interval_s", "splox_keepalive_interval_s", "splox_max_duration_s",
    "login_failure_window_s", "stream_buffer_bytes", "max_body_bytes",
    "live_ring_size", "live_ring_bytes", "max_event_bytes", "wal_restart_bytes",
    "wal_checkpoint_wait_ms", "frame_cache_bytes",
)


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    base: Settings | None = None,
) -> Settings:
    settings = base if base is not None else Settings()
    values = dataclasses.asdict(settings)
    layers: list[dict[str, Any]] = []
    if base is None:
        layers.append(tomllib.loads(DEFAULT_CONFIG.read_text()))
    if config_file is not None:
        layers.append(tomllib.loads(Path(config_file).read_text()))
    env = os.environ if environ is None else environ
    layers.append(
        {k[len(ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    )
    layers.append(overrides or {})
    for layer in layers:
        for key, raw in layer.items():
            if key not in values:
                raise SettingsError(f"unknown setting {key!r}")
            values[key] = _coerce(key, raw, values[key])
    if values["synchronous"].upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
        raise SettingsError("synchronous must be FULL, NORMAL, EXTRA or OFF")
    values["synchronous"] = values["synchronous"].upper()
    for key in POSITIVE:
        if values[key] <= 0:
            raise SettingsError(f"{key} must be greater than 0")
    if values["max_event_bytes"] < MIN_MAX_EVENT_BYTES:
        # Below it, the fields an event carries beside a node's value leave no room for one.
        raise SettingsError(f"max_event_bytes must be at least {MIN_MAX_EVENT_BYTES}")
    if values["live_ring_bytes"] < values["max_event_bytes"]:
        raise SettingsError("live_ring_bytes must be at least max_event_bytes")
    return Settings(**values)
