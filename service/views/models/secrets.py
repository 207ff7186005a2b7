"""Workspace secret answers: a name and when it changed, never a value."""

from __future__ import annotations

from typing import Literal

from service.views.models.base import ResponseModel, Timestamp


class Secret(ResponseModel):
    name: str
    updatedAt: Timestamp


class SecretDeleted(ResponseModel):
    name: str
    deleted: Literal[True]
