"""The small built-ins: noop, transform, condition, delay, approval, fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from service.engine.context import NodeContext
from service.engine.registry import NodeError, NodeType

CONDITION_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists")
MAX_DELAY_MS = 7 * 24 * 3600 * 1000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class Noop(NodeType):
    """Does nothing; its output is null (a join point or placeholder)."""

    pure = True

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return None


class Transform(NodeType):
    """Output = rendered `params.value`."""

    pure = True

    def check(self, params: Mapping[str, Any]) -> list[str]:
        return [] if "value" in params else ["transform needs params.value"]

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return params.get("value")


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "exists":
        return left is not None
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "contains":
        if isinstance(left, str) and isinstance(right, str):
            return right in left
        if isinstance(left, list):
            return right in left
        if isinstance(left, dict):
            return right in left
        return False
    numeric = (int, float)
    if isinstance(left, bool) or isinstance(right, bool) or not (
        (isinstance(left, numeric) and isinstance(right, numeric))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        raise NodeError(f"cannot compare {type(left).__name__} {op} {type(right).__name__}",
                        retryable=False)
    a: Any = left
    b: Any = right
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


class Condition(NodeType):
    """Output {"result": bool}; successors follow it with `{"node": id, "branch": bool}`."""

    pure = True

    def check(self, params: Mapping[str, Any]) -> list[str]:
        op = params.get("op")
        if op not in CONDITION_OPS:
            return [f"condition op must be one of {', '.join(CONDITION_OPS)}"]
        if "left" not in params:
            return ["condition needs params.left"]
        if op != "exists" and "right" not in params:
            return [f"condition op {op} needs params.right"]
        return []

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return {"result": _compare(params["op"], params.get("left"), params.get("right"))}


class Fail(NodeType):
    """Fails with `params.message` (never retried)."""

    pure = True

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        raise NodeError(str(params.get("message") or "failed by a fail node"), retryable=False)


class Delay(NodeType):
    """Waits `params.ms`, reporting progress on long waits; cancellable."""

    # A long delay is what the user asked for, not a hang: only an explicit timeoutMs applies.
    uses_default_timeout = False

    def check(self, params: Mapping[str, Any]) -> list[str]:
        ms: Any = params.get("ms")
        if _is_template(ms) or (_is_int(ms) and 0 <= ms <= MAX_DELAY_MS):
            return []
        return [f"delay needs params.ms, an integer 0-{MAX_DELAY_MS}"]

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        ms: Any = params.get("ms")
        if not _is_int(ms) or ms < 0:
            raise NodeError(f"delay ms must be a non-negative integer, got {ms!r}",
                            retryable=False)
        if ms < 1000:
            await asyncio.sleep(ms / 1000)
            return {"delayedMs": ms}
        step = max(ms / 10, 500) / 1000
        start = time.monotonic()
        end = start + ms / 1000
        while (now := time.monotonic()) < end:
            await asyncio.sleep(min(step, end - now))
            done = min(100.0, (time.monotonic() - start) * 100_000 / ms)
            if done < 100:
                await ctx.progress(done, f"waited {int((time.monotonic() - start) * 1000)} ms")
        return {"delayedMs": ms}


class Approval(NodeType):
    """Waits until resumed through the API; a rejection fails the node (and so the run).

    params: `prompt` (shown to the approver), `timeoutMs` (optional; no answer fails).
    Output: {"approved": true, "by": ..., "data": ...}.
    """

    uses_default_timeout = False

    def check(self, params: Mapping[str, Any]) -> list[str]:
        timeout: Any = params.get("timeoutMs")
        if timeout is not None and not (_is_int(timeout) and timeout > 0):
            return ["approval timeoutMs must be a positive integer"]
        return []

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        answer = await ctx.wait_for_resume(params.get("prompt"), params.get("timeoutMs"))
        if not answer.get("approved", True):
            raise NodeError(f"rejected by {answer.get('by')}", retryable=False)
        return {"approved": True, "by": answer.get("by"), "data": answer.get("data")}


BUILTIN_TYPES: dict[str, type[NodeType]] = {
    "noop": Noop,
    "transform": Transform,
    "condition": Condition,
    "delay": Delay,
    "approval": Approval,
    "fail": Fail,
}
