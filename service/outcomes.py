"""The outcomes of acting on a run, written once: the engine returns them, the views
answer with them, and the OpenAPI document, the console and docs/api.md read them here."""

from __future__ import annotations

from enum import StrEnum


class CancelOutcome(StrEnum):
    """Per run, what `POST /api/v1/workflow-runs/cancel` came to (seed 004's words)."""

    CANCELLED = "cancelled"
    ALREADY_COMPLETED = "already_completed"
    NOT_ELIGIBLE = "not_eligible"
    NOT_FOUND = "not_found"
    ERROR = "error"


CANCEL_OUTCOME_MEANINGS: dict[CancelOutcome, str] = {
    CancelOutcome.CANCELLED: "the cancel is recorded; nodes in flight are stopped",
    CancelOutcome.ALREADY_COMPLETED: "the run had completed or failed",
    CancelOutcome.NOT_ELIGIBLE: "the run was cancelled already, or is not driven by this server",
    CancelOutcome.NOT_FOUND: "no such run, or one the caller may not see",
    CancelOutcome.ERROR: "the caller may see the run but not cancel it (runner role needed)",
}


class ResumeOutcome(StrEnum):
    """What answering a waiting node came to (409 unless `resumed`, 404 for `not_found`)."""

    RESUMED = "resumed"
    NOT_WAITING = "not_waiting"
    NOT_FOUND = "not_found"
