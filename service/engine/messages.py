"""What a run's driver receives in its inbox, one frozen dataclass per kind of message.

Node tasks send the outcome of their attempt; retry timers say a retry is due; node
tasks and the engine send requests, each with the future its answer goes to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from projections.vocabulary import RunStatus
from service.outcomes import CancelOutcome, ResumeOutcome


@dataclass(frozen=True, slots=True)
class AttemptDone:
    node_id: str
    attempt: int
    output: Any
    duration_ms: int


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    node_id: str
    attempt: int
    error: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class RetryDue:
    node_id: str


@dataclass(frozen=True, slots=True)
class Report:
    """A progress or thinking event of a node's attempt; answered once it is durable."""

    node_id: str
    attempt: int
    type_: str
    data: dict[str, Any]
    reply: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class EnterWaiting:
    """A node waits for an answer; replied with the answer's future and since when it waits."""

    node_id: str
    attempt: int
    prompt: Any
    reply: asyncio.Future[tuple[asyncio.Future[dict[str, Any]], str | None]]


@dataclass(frozen=True, slots=True)
class Resume:
    """An answer to a waiting node; replied with the resume outcome."""

    node_id: str
    by: str
    data: Any
    approved: bool
    reply: asyncio.Future[ResumeOutcome]


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the run; replied with the cancel outcome."""

    reason: str
    by: str
    reply: asyncio.Future[CancelOutcome]


AttemptOutcome = AttemptDone | AttemptFailed
Request = Report | EnterWaiting | Resume | Cancel
Message = AttemptDone | AttemptFailed | RetryDue | Request


def cancel_outcome(status: RunStatus | None) -> CancelOutcome:
    """What cancelling a run that is not (or no longer) running here comes to."""
    if status is None:
        return CancelOutcome.NOT_FOUND
    if status in (RunStatus.COMPLETED, RunStatus.FAILED):
        return CancelOutcome.ALREADY_COMPLETED
    return CancelOutcome.NOT_ELIGIBLE  # already cancelled, or not driven by this engine
