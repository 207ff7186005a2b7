"""One attempt of one node: run it under its timeout and turn the outcome into a message."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.engine.messages import AttemptDone, AttemptFailed, AttemptOutcome
from service.engine.node_api import NodeContext, NodeError


async def run_attempt(ctx: NodeContext, node_type: Any, params: dict[str, Any],
                      inputs: dict[str, Any], timeout_ms: int | None) -> AttemptOutcome:
    """How the attempt ended: its output, or why it failed and whether a retry may help.

    Cancellation is not caught: the run driver cancelled the attempt and records it.
    """
    started = time.monotonic()
    scope = asyncio.timeout(timeout_ms / 1000 if timeout_ms else None)
    try:
        async with scope:
            output = await node_type.run(params, inputs, ctx)
    except NodeError as exc:
        return AttemptFailed(ctx.node_id, ctx.attempt, exc.message, exc.retryable)
    except TimeoutError as exc:
        text = f"timed out after {timeout_ms} ms" if scope.expired() else f"timeout: {exc}"
        return AttemptFailed(ctx.node_id, ctx.attempt, text, True)
    except Exception as exc:  # any other failure of the node's own code
        return AttemptFailed(ctx.node_id, ctx.attempt, f"{type(exc).__name__}: {exc}", True)
    return AttemptDone(ctx.node_id, ctx.attempt, output, int((time.monotonic() - started) * 1000))
