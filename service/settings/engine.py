"""The engine's settings: the `[engine]` table (RUNSTREAM_ENGINE__<KEY> in the environment).

The engine takes this model as it is; its defaults are declared here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from pydantic_settings import NoDecode

from eventstore.sqlite import DEFAULT_MAX_EVENT_BYTES
from service.settings.llm import LlmEndpoint


class EngineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrent_runs: int = Field(
        default=16, ge=1,
        description="Runs executing at once; beyond it runs stay pending in FIFO order.",
        json_schema_extra={"section": "Runs"},
    )
    lease_ttl_s: float = Field(
        default=15.0, ge=1, le=600,
        description="On PostgreSQL, how long a node's lease on a run outlives its last "
                    "renewal (every third of it): a node that dies or is cut off has its "
                    "runs taken over by another node after about this long.",
    )
    default_node_timeout_ms: int = Field(
        default=300_000, ge=0,
        description="Applied to nodes without their own timeoutMs (not to approval and "
                    "subworkflow); 0: no default timeout.",
    )
    secrets_key: str = Field(
        default="",
        description="Encrypts env values of unfinished runs (kept outside the log, so a run "
                    "resumed after a restart still has them): a urlsafe base64 32-byte Fernet "
                    "key; empty = generated once into the data dir.",
    )
    entry_point_group: str = Field(
        default="runstream.nodes", min_length=1,
        description="The entry-point group that plugin node types are loaded from.",
    )
    # NoDecode: a list in the environment is comma-separated, not JSON (see _split_hosts).
    http_allow_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Hosts (names) or networks/addresses (CIDR or literal IP) that "
                    "http_request may reach even though they are not global (private, "
                    "loopback, link-local, carrier-grade NAT, ...); comma-separated in the "
                    "environment.",
        json_schema_extra={"section": "The http_request node"},
    )
    http_max_response_bytes: int = Field(
        default=1_048_576, gt=0, description="A response body above it fails the node.",
    )
    http_timeout_ms: int = Field(
        default=30_000, gt=0, description="For requests whose node sets no timeoutMs.",
    )
    http_max_redirects: int = Field(default=5, ge=0, description="Redirects followed per request.")
    # Not keys of [engine]: the store's limit (the top-level max_event_bytes), so that a
    # node value the store would refuse fails its node instead, and the top-level
    # [llm_endpoints] the agent node reads; Settings hands both over.
    _max_event_bytes: int = PrivateAttr(DEFAULT_MAX_EVENT_BYTES)
    _llm_endpoints: Mapping[str, LlmEndpoint] = PrivateAttr(default_factory=dict)

    @property
    def max_event_bytes(self) -> int:
        return self._max_event_bytes

    @property
    def llm_endpoints(self) -> Mapping[str, LlmEndpoint]:
        return self._llm_endpoints

    def with_service_limits(self, max_event_bytes: int,
                            llm_endpoints: Mapping[str, LlmEndpoint]) -> EngineSettings:
        """A copy for a store whose events carry at most `max_event_bytes` of data, with
        the deployment's named model endpoints."""
        copy = self.model_copy()
        copy._max_event_bytes = max_event_bytes
        copy._llm_endpoints = dict(llm_endpoints)
        return copy

    @field_validator("http_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
