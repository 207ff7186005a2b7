"""vocabulary.js, the console's copy of the words it shares with the API: generated from
the Python modules that own them whenever the console is loaded, never written by hand.

The console speaks the v1 dialect (it reads `/api/v1`), so statuses are v1's words.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson

from projections.vocabulary import (
    NODE_STATUS_AFTER,
    TERMINAL_RUN_STATUSES,
    EventType,
    NodeStatus,
    RunStatus,
)
from service.auth.roles import Role
from service.dialects.v1 import NODE_STATUS_WORDS, RUN_STATUS_WORDS
from service.engine.nodes.agent import USAGE_FIELDS
from service.limits import (
    MAX_EVENTS_PAGE,
    MAX_PAGE_LIMIT,
    MAX_REASON_CHARS,
    MAX_SEARCH_CHARS,
)
from service.outcomes import CancelOutcome, ResumeOutcome
from service.triggers.webhooks import AUTH_KINDS, METHODS, RESPONSE_MODES, SIGNATURE_FORMATS
from service.views.models.runs import TriggeredBy
from service.views.requests import ToolCallDecision
from service.views.schedule_requests import CatchUp, Overlap, ScheduleCreate
from service.views.webhook_requests import (
    DEFAULT_METHODS,
    STRIPE_HEADER,
    HmacSettings,
    TokenSettings,
    WebhookCreate,
)

FILE_NAME = "vocabulary.js"


def console_vocabulary() -> dict[str, Any]:
    """Every name vocabulary.js exports, with its value."""
    return {
        # Event type names, as the raw log (GET .../events) shows them.
        "EVENT": {type_.name: type_.value for type_ in EventType},
        # Canonical status -> the word the API sends.
        "RUN_STATUS": {status.name: RUN_STATUS_WORDS[status] for status in RunStatus},
        "NODE_STATUS": {status.name: NODE_STATUS_WORDS[status] for status in NodeStatus},
        # Run status words in their order (filters, count columns), and the final ones.
        "RUN_STATUSES": [RUN_STATUS_WORDS[status] for status in RunStatus],
        "TERMINAL_RUN_STATUSES": [RUN_STATUS_WORDS[status] for status in RunStatus
                                  if status in TERMINAL_RUN_STATUSES],
        # The node status each node event leaves (a NodeFailed that will be retried is
        # NODE_STATUS.PENDING instead).
        "NODE_STATUS_AFTER": {str(type_): NODE_STATUS_WORDS[status]
                              for type_, status in NODE_STATUS_AFTER.items()},
        "ROLE": {role.name: role.word for role in Role},
        "ROLE_RANK": {role.word: role.value for role in Role},
        "CANCEL_OUTCOME": {outcome.name: outcome.value for outcome in CancelOutcome},
        "RESUME_OUTCOME": {outcome.name: outcome.value for outcome in ResumeOutcome},
        # A schedule's choices and the defaults of a new one.
        "SCHEDULE": {"OVERLAP": list(get_args(Overlap)), "CATCH_UP": list(get_args(CatchUp)),
                     "DEFAULT": {name: ScheduleCreate.model_fields[name].default
                                 for name in ("timezone", "overlap", "catchUp")}},
        # What a person may answer a tool call an agent waits on.
        "TOOL_DECISION": {str(word).upper(): word for word in
                          get_args(ToolCallDecision.model_fields["decision"].annotation)},
        # A webhook's choices and the defaults of a new one (service/views/webhook_requests.py).
        "WEBHOOK": {
            "AUTH": {kind.upper(): kind for kind in AUTH_KINDS},
            "RESPONSE_MODES": list(RESPONSE_MODES),
            "FORMAT": {word.upper(): word for word in SIGNATURE_FORMATS},
            "METHODS": list(METHODS),
            "DEFAULT": {
                "responseMode": WebhookCreate.model_fields["responseMode"].default,
                "methods": list(DEFAULT_METHODS),
                "hmac": {name: HmacSettings.model_fields[name].default
                         for name in ("header", "prefix", "format")},
                "stripe": {"header": STRIPE_HEADER, "prefix": ""},
                "token": {"header": TokenSettings.model_fields["header"].default},
            },
        },
        # What starts a run (a run's `triggeredBy.kind`, the run list's `triggeredBy` filter).
        "TRIGGER": {str(kind).upper(): kind
                    for kind in get_args(TriggeredBy.model_fields["kind"].annotation)},
        # The token counts of an agent's model calls (each call's and their sum).
        "USAGE_FIELDS": list(USAGE_FIELDS),
        "LIMITS": {"MAX_REASON_CHARS": MAX_REASON_CHARS, "MAX_PAGE_LIMIT": MAX_PAGE_LIMIT,
                   "MAX_EVENTS_PAGE": MAX_EVENTS_PAGE, "MAX_SEARCH_CHARS": MAX_SEARCH_CHARS},
    }


def vocabulary_js() -> bytes:
    """The ES module: one frozen constant per entry of `console_vocabulary()`."""
    lines = [b"// Generated from the Python vocabulary by service/views/console_vocabulary.py",
             b"// when the console is loaded. Do not edit: change the Python module instead.", b""]
    for name, value in console_vocabulary().items():
        lines.append(b"export const %s = Object.freeze(%s);" % (
            name.encode(), orjson.dumps(value)))
    return b"\n".join(lines) + b"\n"
