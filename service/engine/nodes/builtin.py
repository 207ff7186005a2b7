"""The small built-ins: noop, transform, condition, delay, approval, fail."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from service.engine.node_api import NodeContext, NodeError, NodeType
from service.engine.params import ParamsModel, templated

CONDITION_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists")
MAX_DELAY_MS = 7 * 24 * 3600 * 1000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class NoParams(ParamsModel):
    """No params."""


class TransformParams(ParamsModel):
    value: Any = Field(description="The node's output, with templates resolved.")


class ConditionParams(ParamsModel):
    left: Any = Field(description="The value tested, usually a template.")
    op: Literal[CONDITION_OPS] = Field(  # type: ignore[valid-type]
        description="eq ne gt gte lt lte contains exists")
    right: Any = Field(None, description="What `left` is compared with (not for exists).")

    @model_validator(mode="after")
    def right_unless_exists(self) -> ConditionParams:
        if self.op != "exists" and "right" not in self.model_fields_set:
            raise ValueError(f"condition op {self.op} needs params.right")
        return self


class FailParams(ParamsModel):
    message: Any = Field(None, description="The error the node fails with.")


class DelayParams(ParamsModel):
    ms: templated(Annotated[int, Field(ge=0, le=MAX_DELAY_MS)]) = Field(  # type: ignore[valid-type]
        description="How long to wait, in milliseconds.")


class ApprovalParams(ParamsModel):
    prompt: Any = Field(None, description="Shown to whoever answers.")
    timeoutMs: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Without an answer by then the node fails.")


class Noop(NodeType):
    """Does nothing; its output is null (a join point or placeholder)."""

    pure = True
    params_model = NoParams

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return None


class Transform(NodeType):
    """Output = rendered `params.value`."""

    pure = True
    params_model = TransformParams

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
    params_model = ConditionParams

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return {"result": _compare(params["op"], params.get("left"), params.get("right"))}


class Fail(NodeType):
    """Fails with `params.message` (never retried)."""

    pure = True
    params_model = FailParams

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        raise NodeError(str(params.get("message") or "failed by a fail node"), retryable=False)


class Delay(NodeType):
    """Waits `params.ms`, reporting progress on long waits; cancellable."""

    # A long delay is what the user asked for, not a hang: only an explicit timeoutMs applies.
    uses_default_timeout = False
    params_model = DelayParams

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
    params_model = ApprovalParams

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
