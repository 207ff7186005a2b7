"""What a run may write into one event: values are checked before they are emitted.

An append the store refuses would stop the run's driver for good, where a failed node
(or run) lets the run take its failure path, so the driver checks first.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.workflows.templates import MAX_VALUE_DEPTH, nesting_depth

# Room left in an event beside a node's input or output (ids, names, attempt, ...), so a
# value that `unstorable` lets through always fits in the event that carries it.
EVENT_FIELDS_ALLOWANCE = 16 * 1024
# Error texts are messages, not documents: longer ones are cut (and say so).
MAX_ERROR_CHARS = 4000


def unstorable(what: str, value: Any, max_event_bytes: int) -> str | None:
    """Why `value` cannot be a node's `what` in the log, or None when it can."""
    if nesting_depth(value, MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
        return f"the node's {what} nests deeper than {MAX_VALUE_DEPTH} levels"
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:
        return f"the node's {what} is not JSON: {exc}"
    if size > max_event_bytes - EVENT_FIELDS_ALLOWANCE:
        return (f"the node's {what} is {size} bytes, above the limit of one event "
                f"(max_event_bytes = {max_event_bytes})")
    return None


def run_output_too_large(output: Any, max_event_bytes: int) -> str | None:
    """Why the run's output cannot be recorded, or None when it can.

    Every last node's output fit on its own; together they may not.
    """
    size = len(orjson.dumps(output))
    if size > max_event_bytes - EVENT_FIELDS_ALLOWANCE:
        return (f"the run's output (its last nodes' outputs) is {size} bytes, above the "
                f"limit of one event (max_event_bytes = {max_event_bytes})")
    return None


def clip_error(error: str) -> str:
    """An error text cut to MAX_ERROR_CHARS, saying how much was cut."""
    if len(error) > MAX_ERROR_CHARS:
        return f"{error[:MAX_ERROR_CHARS]}... ({len(error) - MAX_ERROR_CHARS} more characters)"
    return error
