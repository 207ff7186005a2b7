"""Webhook answers: the webhook with its URL, its deliveries, and what a delivery gets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.triggers.webhooks import (
    AUTH_KINDS,
    HMAC_ALGORITHMS,
    RESPONSE_MODES,
    SIGNATURE_FORMATS,
    SIGNATURE_RESULTS,
)
from service.views.models.base import ResponseModel, Timestamp, Uuid, one_of
from service.views.models.runs import RunStatusWord


class HmacSettingsOut(ResponseModel):
    secret: str = Field(description="The workspace secret's name (never its value).")
    header: str
    algorithm: one_of(HMAC_ALGORITHMS)  # type: ignore[valid-type]
    prefix: str
    timestampHeader: str | None
    toleranceS: int
    format: one_of(SIGNATURE_FORMATS)  # type: ignore[valid-type]


class TokenSettingsOut(ResponseModel):
    secret: str = Field(description="The workspace secret's name (never its value).")
    header: str


class Webhook(ResponseModel):
    id: Uuid
    workflowId: Uuid
    workspaceId: str
    url: str = Field(description="The path deliveries are sent to: /hooks/{id}.")
    auth: one_of(AUTH_KINDS)  # type: ignore[valid-type]
    hmac: HmacSettingsOut | None
    token: TokenSettingsOut | None
    responseMode: one_of(RESPONSE_MODES)  # type: ignore[valid-type]
    idempotencyHeader: str | None
    methods: list[Literal["POST", "PUT", "GET"]]
    enabled: bool
    createdBy: str
    createdAt: Timestamp
    updatedAt: Timestamp


class WebhookDeleted(ResponseModel):
    id: Uuid
    deleted: bool


class WebhookDelivery(ResponseModel):
    id: Uuid
    receivedAt: Timestamp
    method: str
    status: int = Field(description="The HTTP status the delivery was answered.")
    signature: one_of(SIGNATURE_RESULTS) = Field(  # type: ignore[valid-type]
        description="What its credentials came to: valid, invalid, missing, stale "
                    "(outside the timestamp window), unsigned (auth none), unchecked "
                    "(refused before they were looked at).")
    runId: Uuid | None
    repeat: bool = Field(description="An idempotent repeat: it named an earlier run.")
    message: str | None


class WebhookAccepted(ResponseModel):
    runId: Uuid
    streamUrl: str = Field(description="The run's v1 event stream.")


class WebhookResult(ResponseModel):
    runId: Uuid
    status: RunStatusWord
    output: Any = Field(description="The run's output (by node id) once it completed.")
    error: Any = Field(description="Why the run failed, or null.")

