"""The Settings model: every setting once, with its default, bounds and meaning.

Adding a setting is one field here (then `python -m service.settings.reference` rewrites
config/default.toml and the table in docs/operations.md). A field's `section` starts a
group in those generated files.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eventstore.hub import DEFAULT_RING_BYTES, DEFAULT_RING_SIZE
from eventstore.sqlite import DEFAULT_MAX_EVENT_BYTES
from eventstore.sqlite_checkpoint import DEFAULT_WAL_CHECKPOINT_WAIT_MS, DEFAULT_WAL_RESTART_BYTES
from service.settings.engine import EngineSettings
from service.settings.errors import Layer, settings_error
from service.settings.llm import EndpointName, LlmEndpoint
from service.settings.names import ENV_NESTED_DELIMITER, ENV_PREFIX

# Below it, the fields an event carries beside a node's value leave no room for one.
MIN_MAX_EVENT_BYTES = 65_536


def host_port(address: str) -> tuple[str, int]:
    """`host:port` (an IPv6 host in brackets) split; ValueError for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r} is not host:port, e.g. \"10.0.0.5:9326\"")
    return host.strip("[]"), int(port)


def _section(title: str) -> dict[str, Any]:
    return {"section": title}


class Settings(BaseSettings):
    """Validated settings. `load_settings` layers the sources; constructing one directly
    validates exactly the values given (no file, no environment)."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False, validate_default=True,
    )

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.",
                      json_schema_extra=_section("Listening"))
    port: int = Field(default=3026, ge=0, le=65535, description="TCP port to listen on.")
    data_dir: Path = Field(default=Path("./data"),
                           description="Holds runstream.db and the generated key files.")
    database_url: str = Field(
        default="",
        description="Where the log and every table beside it live: empty = SQLite "
                    "(runstream.db in data_dir); postgresql://... = that PostgreSQL database, "
                    "which several nodes may share. Key files stay in data_dir either way.",
    )
    node_heartbeat_s: float = Field(
        default=5.0, gt=0,
        description="How often a serving node records that it is alive (runstream nodes "
                    "lists the nodes seen within three of these).",
    )
    node_name: str = Field(
        default="", max_length=128, pattern=r"^[A-Za-z0-9._-]*$",
        description="This node's name in /healthz (and, on a shared database, among the "
                    "others); empty = the machine's host name.",
    )

    synchronous: Literal["FULL", "NORMAL", "EXTRA", "OFF"] = Field(
        default="FULL",
        description="SQLite durability: FULL fsyncs every group commit; NORMAL may lose the "
                    "last commits on power loss (never on a process crash).",
        json_schema_extra=_section("The event log"),
    )
    live_ring_size: int = Field(
        default=DEFAULT_RING_SIZE, gt=0,
        description="Recent committed events kept in memory for live subscribers, at most "
                    "this many (a subscriber behind the ring reads from disk).",
    )
    live_ring_bytes: int = Field(
        default=DEFAULT_RING_BYTES, gt=0,
        description="Bytes of event data that ring may hold; at least max_event_bytes.",
    )
    max_event_bytes: int = Field(
        default=DEFAULT_MAX_EVENT_BYTES, ge=MIN_MAX_EVENT_BYTES,
        description="The largest data one event may carry. A node input or output above it "
                    "fails that node (the run takes its failure path); a request that would "
                    "write more gets 413.",
    )
    frame_cache_bytes: int = Field(
        default=8_388_608, gt=0,
        description="Rendered stream frames shared by every subscriber of a run (v1), "
                    "bounded in bytes.",
    )
    wal_restart_bytes: int = Field(
        default=DEFAULT_WAL_RESTART_BYTES, gt=0,
        description="Once the WAL file passes it, the writer, between two group commits, "
                    "copies it back and starts it over (SQLite's RESTART checkpoint); the "
                    "file is then cut back to this size. See \"The WAL stays bounded\" in "
                    "docs/architecture.md.",
    )
    wal_checkpoint_wait_ms: int = Field(
        default=DEFAULT_WAL_CHECKPOINT_WAIT_MS, gt=0,
        description="How long that checkpoint waits for reads that began before it.",
    )

    max_body_bytes: int = Field(default=1_048_576, gt=0, description="The largest request body.",
                                json_schema_extra=_section("Requests"))

    session_key: str = Field(
        default="",
        description="Encrypts session cookies: a urlsafe base64 32-byte Fernet key; empty = "
                    "generated once into the data dir.",
        json_schema_extra=_section("Sessions and logins"),
    )
    session_max_age_s: int = Field(default=1_209_600, gt=0, description="A session's lifetime.")
    session_cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only: set it when clients reach the "
                    "service over TLS (a TLS-terminating proxy in front of it); on plain http "
                    "browsers would drop the cookie.",
    )
    public_origin: str = Field(
        default="",
        description="The origin browsers reach the service at through a reverse proxy, e.g. "
                    "\"https://runs.example.com\": cookie writes from pages there pass the "
                    "CSRF Origin check. Empty: only the service's own scheme://host.",
    )
    login_max_failures: int = Field(
        default=5, ge=0,
        description="Failed logins allowed within the window per (username, client address); "
                    "past it, login answers 429 with Retry-After until failures age out "
                    "(0: no limit).",
    )
    login_max_failures_per_client: int = Field(
        default=30, ge=0, description="The same, per client address (0: no limit).",
    )
    login_failure_window_s: float = Field(default=300.0, gt=0,
                                          description="How long a failed login counts.")
    admin_password: str = Field(
        default="", description="First start only: the admin's password; empty = generated and "
                        "printed once.",
    )
    load_examples: bool = Field(
        default=False,
        description="Import config/examples/*.json into the default workspace on start "
                    "(`make run` does).",
    )

    stream_retry_ms: int = Field(default=2000, ge=0,
                                 description="The `retry:` a stream sends to its client.",
                                 json_schema_extra=_section("Streams"))
    stream_buffer_bytes: int = Field(
        default=262_144, gt=0,
        description="Unsent bytes one stream may hold before its client is dropped "
                    "(it resumes with no loss).",
    )
    stream_write_deadline_s: float = Field(
        default=10.0, gt=0, description="A write that takes longer drops the client.",
    )
    stream_max_per_user: int = Field(
        default=1000, ge=0,
        description="Open streams one user may hold at once (0: no limit); past it a new "
                    "stream gets 429.",
    )
    stream_disconnect_check_s: float = Field(
        default=5.0, gt=0,
        description="How often an idle stream checks that its client is still connected.",
    )
    stream_access_check_s: float = Field(
        default=60.0, gt=0,
        description="How often an open stream checks again that its credentials and access "
                    "still hold (each check falls within +-25% of it, so streams opened "
                    "together spread out).",
    )
    v1_ping_interval_s: float = Field(default=9.0, gt=0, description="The v1 dialect's `ping` events.")
    splox_keepalive_interval_s: float = Field(
        default=3.0, gt=0, description="The Splox dialect's `keepalive` lines.",
    )
    splox_max_duration_s: float = Field(
        default=1800.0, gt=0, description="A Splox listen connection ends after it.",
    )
    schedule_tick_s: float = Field(
        default=1.0, ge=0,
        description="How often schedules are checked for fire times that are due (0: never, "
                    "for tests that drive schedules with a clock of their own).",
    )
    webhook_max_body_bytes: int = Field(
        default=1_048_576, gt=0,
        description="The largest body a webhook delivery may have (413 beyond it).",
    )
    webhook_rate_per_minute: int = Field(
        default=120, ge=0,
        description="Deliveries one webhook takes per minute on one node; beyond, 429 with "
                    "Retry-After (0: no limit).",
    )
    webhook_wait_s: float = Field(
        default=30.0, gt=0,
        description="How long a `lastNode` webhook waits for its run before it answers 202 "
                    "with the run id instead of the output.",
    )
    webhook_delivery_retention_s: float = Field(
        default=604_800.0, gt=0,
        description="How long a webhook's deliveries are kept (older ones are dropped when "
                    "the next is recorded).",
    )

    checkpoint_interval_s: float = Field(
        default=3600.0, ge=0,
        description="How often the service signs the log's head (position, hash, time) "
                    "with its Ed25519 key (0: only on demand, POST /api/v1/audit/checkpoints).",
        json_schema_extra=_section("Audit and metrics"),
    )
    checkpoint_key_file: str = Field(
        default="",
        description="A PEM Ed25519 private key that signs checkpoints; empty = checkpoint.key "
                    "in the data dir, generated once with mode 0600.",
    )
    metrics_token: str = Field(
        default="",
        description="A bearer token (at least 16 characters) that may read GET /metrics "
                    "besides global admins' tokens, for a Prometheus scraper; empty = none.",
    )
    metrics_listen: str = Field(
        default="",
        description="host:port of a second listener that answers only GET /metrics (the "
                    "metrics_token, when set, is required there; without one it answers "
                    "anyone who can reach it: bind it to a private interface). Empty: none.",
    )

    llm_endpoints: dict[EndpointName, LlmEndpoint] = Field(
        default_factory=dict,
        description="Named model servers for agent nodes (`\"endpoint\": \"NAME\"`): a table "
                    "[llm_endpoints.NAME] with url and api_key_env each. See docs/engine.md.",
    )

    retention_max_age_days: float = Field(
        default=0, ge=0,
        description="Service-wide retention default (a workspace's own policy replaces it): "
                    "finished runs older than this many days are pruned; 0 = no age limit.",
        json_schema_extra=_section("Retention"),
    )
    retention_max_runs: int = Field(
        default=0, ge=0,
        description="Service-wide default: at most this many runs per workspace, the oldest "
                    "finished families pruned first; 0 = no limit.",
    )
    retention_max_bytes: int = Field(
        default=0, ge=0,
        description="Service-wide default: at most this many bytes of event data per "
                    "workspace's runs; 0 = no limit.",
    )
    retention_interval_s: float = Field(
        default=3600.0, ge=0,
        description="How often runstream serve applies retention (0: never; runstream prune "
                    "still does it offline).",
    )
    archive_dir: str = Field(
        default="",
        description="Where pruned events are archived (one gzip NDJSON file per prune batch); "
                    "empty = archive/ in the data dir.",
    )
    prune_batch_runs: int = Field(
        default=1000, gt=0, le=100_000,
        description="Runs pruned per batch: one archive file and one transaction each.",
    )

    engine: EngineSettings = Field(
        default_factory=EngineSettings,
        description="The engine: runs, node timeouts, the http_request node.",
    )

    @property
    def node(self) -> str:
        """The node's name: `node_name`, or the host name."""
        return self.node_name or socket.gethostname()

    @field_validator("synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("metrics_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host_port(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("database_url is empty (SQLite) or a postgresql:// URL")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("a metrics token has at least 16 characters (or is empty)")
        return value

    @model_validator(mode="after")
    def _across_fields(self) -> Settings:
        if self.live_ring_bytes < self.max_event_bytes:
            raise ValueError(
                f"live_ring_bytes ({self.live_ring_bytes}) must be at least max_event_bytes "
                f"({self.max_event_bytes}): the ring holds at least one event")
        if (self.engine.max_event_bytes != self.max_event_bytes
                or self.engine.llm_endpoints != self.llm_endpoints):
            self.engine = self.engine.with_service_limits(self.max_event_bytes,
                                                          self.llm_endpoints)
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the given values: the layers are chosen by load_settings, in one place.
        return (init_settings,)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "runstream.db"

    @property
    def archive_path(self) -> Path:
        return Path(self.archive_dir) if self.archive_dir else self.data_dir / "archive"

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`, validated like any other layer (a table's dict is merged)."""
        values = self.model_dump()
        for key, value in changes.items():
            current = values.get(key)
            values[key] = ({**current, **value} if isinstance(current, dict)
                           and isinstance(value, dict) else value)
        return validated(values, [Layer("replace()", changes)])


def validated(values: dict[str, Any], layers: list[Layer]) -> Settings:
    """Settings from merged `values`; a SettingsError names each bad key and its layer."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise settings_error(exc, layers) from None


def tables(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of `model` that are tables (nested models), by name."""
    return {name: field.annotation for name, field in model.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}
