"""The engine's knobs, one dataclass (filled from service settings by the app factory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventstore.sqlite import DEFAULT_MAX_EVENT_BYTES


@dataclass(frozen=True)
class EngineSettings:
    max_concurrent_runs: int = 16
    # Hosts (names) or networks/addresses (CIDR or literal IP) http_request may reach
    # even though they are private, loopback or link-local.
    http_allow_hosts: tuple[str, ...] = ()
    http_max_response_bytes: int = 1_048_576
    http_timeout_ms: int = 30_000
    http_max_redirects: int = 5
    # Applied to nodes without their own timeoutMs (not to approval and subworkflow).
    default_node_timeout_ms: int | None = 300_000
    # Fernet key (urlsafe base64, 32 bytes): when set, env values are kept encrypted
    # beside the log so that a run resumed after a restart still has them.
    secrets_key: str | None = None
    entry_point_group: str = "runstream.nodes"
    # The store's limit on one event's data: node inputs and outputs above it fail the node.
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> EngineSettings:
        """Take the engine's fields from the service Settings (by attribute name)."""
        values = {
            "max_concurrent_runs": settings.max_concurrent_runs,
            "http_allow_hosts": tuple(settings.http_allow_hosts),
            "http_max_response_bytes": settings.http_max_response_bytes,
            "http_timeout_ms": settings.http_timeout_ms,
            "default_node_timeout_ms": settings.default_node_timeout_ms or None,
            "max_event_bytes": settings.max_event_bytes,
        }
        values.update(overrides)
        return cls(**values)
