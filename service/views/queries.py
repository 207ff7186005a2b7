"""The query strings of the API, one model each, with their limits.

Handlers read them with `parse_query(request, Model)` (service/views/body.py); the OpenAPI
document lists their parameters from the same models (service/openapi/parameters.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

from projections.vocabulary import RunStatus
from service.auth.schema import DEFAULT_WORKSPACE_ID
from service.dialects.v1 import RUN_STATUS_FROM_WORD, RUN_STATUS_WORDS
from service.ids import canonical_workspace_id
from service.limits import (
    DEFAULT_PAGE_LIMIT,
    MAX_EVENTS_PAGE,
    MAX_PAGE,
    MAX_PAGE_LIMIT,
    MAX_POSITION,
    MAX_SEARCH_CHARS,
)
from service.views.body import QueryModel, UuidStr, parse_query
from service.views.params import pagination


def _digits(value: object) -> object:
    """Query integers are plain decimal digits: not `1_0`, `+1`, ` 1` or `1e1`, which a
    lenient parser would take and a cache or a proxy would see as other URLs."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ValueError("must be a whole number written in digits")
    return value


Digits = BeforeValidator(_digits)

Search = Annotated[str, StringConstraints(max_length=MAX_SEARCH_CHARS), Field(
    description="Substring of the workflow name (ASCII case-insensitive).")]


def _run_status(word: str) -> str:
    """A v1 status word, or a canonical status (`pending` for `scheduled`)."""
    status = RUN_STATUS_FROM_WORD.get(word) or (
        word if word in RunStatus.__members__.values() else None)
    if status is None:
        raise ValueError("must be one of " + ", ".join(RUN_STATUS_FROM_WORD))
    return status


RunStatusWord = Annotated[str, AfterValidator(_run_status), WithJsonSchema({
    "type": "string", "enum": [*RUN_STATUS_WORDS.values(), RunStatus.PENDING.value],
    "description": "Only runs with this status (`pending` is accepted for `scheduled`)."})]
WorkspaceId = Annotated[str, AfterValidator(canonical_workspace_id), WithJsonSchema({
    "type": "string", "description": "`default` (the default) or a workspace UUID."})]


class PageQuery(QueryModel):
    page: Annotated[int, Digits, Field(ge=1, le=MAX_PAGE, description="Page number, from 1.")] \
        = 1
    limit: Annotated[int, Digits, Field(ge=1, le=MAX_PAGE_LIMIT, description="Items per page.")] \
        = DEFAULT_PAGE_LIMIT

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


class RunListQuery(PageQuery):
    workflowId: UuidStr | None = Field(None, description="Only runs of this workflow.")
    status: RunStatusWord | None = None
    search: Search | None = None
    triggeredBy: Literal["api", "schedule", "webhook"] | None = Field(
        None, description="Only runs started this way.")
    triggerId: UuidStr | None = Field(None, description="Only runs of this schedule or webhook.")


class WorkflowListQuery(PageQuery):
    workspaceId: WorkspaceId = DEFAULT_WORKSPACE_ID
    search: Search | None = None


class EventPageQuery(QueryModel):
    after: Annotated[int, Digits, Field(ge=0, le=MAX_POSITION, description=(
        "Events after this log position."))] = 0
    limit: Annotated[int, Digits, Field(ge=1, le=MAX_EVENTS_PAGE, description=(
        "At most this many events."))] = 100
    format: Literal["ndjson"] | None = Field(None, description=(
        "`ndjson` for one event per line (as does `Accept: application/x-ndjson`)."))


class ExecuteStreamQuery(QueryModel):
    onDisconnect: Literal["continue", "cancel"] = Field("continue", description=(
        "What a dropped connection does to the run: `continue` (default) or `cancel`."))


class RunFeedQuery(QueryModel):
    workflowId: UuidStr | None = Field(None, description="Only runs of this workflow.")


def page_params(request: web.Request) -> tuple[int, int]:
    page = parse_query(request, PageQuery)
    return page.page, page.limit


def paged(request: web.Request, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    """One page of a list held in memory (short lists: tokens, workspaces) and its pagination."""
    page, limit = page_params(request)
    start = (page - 1) * limit
    return items[start:start + limit], pagination(page, limit, len(items))



class CheckpointListQuery(QueryModel):
    limit: Annotated[int, Digits, Field(ge=1, le=1000, description=(
        "At most this many checkpoints, newest first."))] = 100
