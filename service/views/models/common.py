"""The envelope parts every area shares: pagination and the error body."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.limits import MAX_PAGE_LIMIT
from service.views.models.base import Count, ResponseModel


class Pagination(ResponseModel):
    page: int = Field(ge=1)
    limit: int = Field(ge=1, le=MAX_PAGE_LIMIT)
    total: Count
    totalPages: Count


class FieldError(ResponseModel):
    path: str = Field(description="The field, dotted: `inputs.x`.")
    message: str


class ErrorBody(ResponseModel):
    code: str = Field(description=(
        "Machine-readable: bad_request, unauthorized, forbidden, not_found, conflict, "
        "cursor_beyond_log, too_large, invalid_workflow, unavailable, internal, ..."))
    message: str = Field(description="For people.")
    details: Any = Field(None, description="More about the error (optional).")
    fields: list[FieldError] | None = Field(None, description=(
        "A body that does not fit its model: every bad field."))


class Error(ResponseModel):
    """Every error answer: `{"error": {"code", "message", "details"?, "fields"?}}`."""

    error: ErrorBody
