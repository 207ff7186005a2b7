"""The webhook bodies: creating one, and changing some of its fields.

A change is checked by merging it over the stored webhook and validating the result as a
creation, so the rules (an `hmac` webhook has its `hmac` settings, ...) are written once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from service.secrets.repository import NAME_PATTERN
from service.triggers.webhooks import (
    AUTH_KINDS,
    HMAC_ALGORITHMS,
    METHODS,
    RESPONSE_MODES,
    SIGNATURE_FORMATS,
)
from service.views.body import RequestModel
from service.views.models.base import one_of

Method = Literal["POST", "PUT", "GET"]
DEFAULT_METHODS: list[Method] = ["POST", "PUT"]
# An HTTP header name (RFC 9110 token characters).
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")]
SecretName = Annotated[str, StringConstraints(pattern=NAME_PATTERN), Field(
    description="The name of a workspace secret of the workflow's workspace.")]
MAX_TOLERANCE_S = 86_400
STRIPE_HEADER = "Stripe-Signature"


class HmacSettings(RequestModel):
    """How deliveries are signed: HMAC over the exact raw body."""

    secret: SecretName
    header: HeaderName = Field("X-Hub-Signature-256", description=(
        "The header holding the signature (Stripe-Signature by default for `stripe`)."))
    algorithm: one_of(HMAC_ALGORITHMS) = "sha256"  # type: ignore[valid-type]
    prefix: Annotated[str, StringConstraints(max_length=32)] = Field(
        "sha256=", description="What precedes the digest in the header (none for `stripe`).")
    timestampHeader: HeaderName | None = Field(None, description=(
        "A header with the Unix time of the delivery: the signed bytes are then "
        "`<timestamp>.` + body, and the time must be within `toleranceS` of now."))
    toleranceS: int = Field(300, ge=1, le=MAX_TOLERANCE_S, description=(
        "How far a signed timestamp may be from now (`stripe`, `timestampHeader`)."))
    format: one_of(SIGNATURE_FORMATS) = Field("hex", description=(  # type: ignore[valid-type]
        "`hex` or `base64` digest, or `stripe`: `t=<unix>,v1=<hex>` over `<t>.` + body."))

    @model_validator(mode="after")
    def stripe_defaults(self) -> HmacSettings:
        if self.format == "stripe":
            if "header" not in self.model_fields_set:
                self.header = STRIPE_HEADER
            if "prefix" not in self.model_fields_set:
                self.prefix = ""
        return self


class TokenSettings(RequestModel):
    """A shared token the sender puts in a header."""

    secret: SecretName
    header: HeaderName = Field("Authorization", description=(
        "The header holding the token; `Authorization` takes `Bearer <token>`, any other "
        "header the token itself."))


class WebhookCreate(RequestModel):
    """A webhook of the workflow: `/hooks/{id}` starts a run of its latest version."""

    requires_json_type = True

    auth: one_of(AUTH_KINDS) = Field(description=(  # type: ignore[valid-type]
        "`hmac` (a signature over the raw body), `token` (a shared token in a header), or "
        "`none` (anyone who knows the URL)."))
    hmac: HmacSettings | None = None
    token: TokenSettings | None = None
    responseMode: one_of(RESPONSE_MODES) = Field(  # type: ignore[valid-type]
        "immediate", description=(
            "`immediate` (or `minimal`): 202 with the run id at once; `lastNode`: 200 with "
            "the run's output once it ends (202 after webhook_wait_s); `stream`: the run's "
            "v1 event stream."))
    idempotencyHeader: HeaderName | None = Field(None, description=(
        "A header naming the delivery (X-GitHub-Delivery): repeats within 24 h start no "
        "second run. `Idempotency-Key` is read when this is not set."))
    methods: list[Method] = Field(
        default_factory=lambda: list(DEFAULT_METHODS), min_length=1, max_length=len(METHODS),
        description="The methods the URL takes; GET (with the query as its data) only "
                    "when listed.")
    enabled: StrictBool = True

    @model_validator(mode="after")
    def settings_of_auth(self) -> WebhookCreate:
        if self.auth == "hmac" and self.hmac is None:
            raise ValueError("auth `hmac` needs `hmac` settings (at least its secret)")
        if self.auth == "token" and self.token is None:
            raise ValueError("auth `token` needs `token` settings (at least its secret)")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("methods are listed once each")
        return self

    def config(self) -> dict[str, Any]:
        """What is stored: the settings of the chosen auth only."""
        config = self.model_dump(mode="json")
        for kind in ("hmac", "token"):
            if self.auth != kind:
                config[kind] = None
        return config

    def secret_name(self) -> str | None:
        spec = self.hmac if self.auth == "hmac" else self.token if self.auth == "token" \
            else None
        return spec.secret if spec is not None else None


class WebhookUpdate(RequestModel):
    """The fields to change; those left out keep their value (`hmac` and `token` are
    replaced whole)."""

    requires_json_type = True

    auth: one_of(AUTH_KINDS) | None = None  # type: ignore[valid-type]
    hmac: HmacSettings | None = None
    token: TokenSettings | None = None
    responseMode: one_of(RESPONSE_MODES) | None = None  # type: ignore[valid-type]
    idempotencyHeader: HeaderName | None = None
    methods: list[Method] | None = Field(
        None, min_length=1, max_length=len(METHODS))
    enabled: StrictBool | None = None

    def merged(self, config: dict[str, Any]) -> dict[str, Any]:
        """The stored fields with the sent ones over them (unvalidated)."""
        sent = self.model_dump(mode="json", include=self.model_fields_set)
        return {**config, **sent}
