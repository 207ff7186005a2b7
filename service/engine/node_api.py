"""What a node type is, and what it may ask of the run that drives it.

A node type is an object with:

- ``async def run(self, params, inputs, ctx) -> output``: ``params`` are the node's
  params with every template rendered; ``inputs`` maps each completed predecessor's
  id to its output; ``ctx`` is a :class:`NodeContext` with
  ``await ctx.progress(pct, message)``, ``await ctx.thinking(text)``,
  ``await ctx.answer_delta(text, call)``, ``ctx.attempt``,
  ``ctx.run_id`` and ``ctx.node_id``. Return a JSON-able output. Raise
  :class:`NodeError` (or any exception) to fail the attempt; the engine retries it
  per the node's ``retry`` policy. Cancellation (run cancelled, timed out, or a
  sibling failed) arrives as ``asyncio.CancelledError``: clean up and re-raise.
- optionally ``params_model``, a :class:`~service.engine.params.ParamsModel` subclass
  (pydantic): the params are checked against it when a definition is saved (unknown
  fields and wrong types are refused, with the field's path), and it describes the node
  type in the workflow JSON Schema. Use ``templated(T)`` for a field that may also be
  a template. Without one, any object is accepted.
- optionally ``def check(self, params) -> list[str]``, run when a definition is
  saved: further problems with the raw params (before rendering), as messages.

Register a plugin in its distribution's metadata::

    [project.entry-points."runstream.nodes"]
    slack_post = "mypkg.nodes:SlackPost"

The entry point's name is the node type name; the object may be a class (it is
instantiated without arguments) or an instance.

Nothing here knows the engine: a node reaches its run through `NodeHost`, which the
run's driver implements, so node modules (built-in or plugin) import only this module
and `service.engine.params`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from projections.vocabulary import EventType, RunStatus
from service.engine.http_client import HttpClient
from service.settings.llm import LlmEndpoint

# The namespace of effect idempotency keys (uuid5 of run, node, attempt and scope).
EFFECT_KEYS = uuid.UUID("5b0e2d4c-3f1a-4c8e-9a57-6d2b8e1f4a90")


class NodeError(Exception):
    """A node's failure, with the message the log records; `retryable=False` skips retries."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """How a child run ended: its status, and its output (completed) or error."""

    status: RunStatus
    output: Any = None
    error: Any = None


class NodeHost(Protocol):
    """What a running node may ask of its run; every report is durable before it returns."""

    @property
    def run_id(self) -> str: ...

    @property
    def workspace_id(self) -> str: ...

    @property
    def http(self) -> HttpClient: ...

    async def report(self, node_id: str, attempt: int, type_: str,
                     data: dict[str, Any]) -> None:
        """Record a progress, thinking or answer delta event of this attempt."""

    def checkpoints(self, node_id: str) -> list[Any]:
        """What the node's attempts recorded with `checkpoint`, oldest first."""

    async def enter_waiting(self, node_id: str, attempt: int,
                            prompt: Any) -> tuple[asyncio.Future[dict[str, Any]], str | None]:
        """Record that the node waits; the answer to come, and since when it has waited."""

    async def start_child(self, node_id: str, params: dict[str, Any]) -> str:
        """Start a child run of this node (a subworkflow); its id."""

    async def find_child(self, node_id: str) -> str | None:
        """The child an earlier attempt of this node started, if it did not fail."""

    async def wait_for_child(self, child_id: str) -> ChildOutcome:
        """Wait until the child run ends."""

    async def cancel_child(self, child_id: str, reason: str, by: str) -> str:
        """Cancel the child run; the cancel outcome."""

    def node_type(self, name: str) -> Any:
        """The registered node type of that name (KeyError when there is none)."""

    def render_args(self, value: Any, args: Mapping[str, Any]) -> Any:
        """`value` with its `{{args.x}}` templates rendered from `args`."""


class NodeContext:
    """Handed to `NodeType.run`: one attempt of one node, and what it may ask of its run."""

    def __init__(self, host: NodeHost, node_id: str, attempt: int, node_name: str,
                 node_type: str) -> None:
        self._host = host
        self.run_id = host.run_id
        self.node_id = node_id
        self.attempt = attempt
        self.node_name = node_name
        self.node_type = node_type
        self.workspace_id = host.workspace_id
        # Set by the engine before it cancels the node because the run is ending
        # (cancel, timeout, a failed sibling); None when the engine is only shutting down.
        self.cancel_reason: dict[str, Any] | None = None
        # Which effect of this attempt is under way: the tool call an agent runs now
        # (run_node_type's `scope`), so each call's requests carry keys of their own.
        self.effect_scope = ""

    @property
    def http(self) -> HttpClient:
        """The engine's guarded HTTP client (private targets refused)."""
        return self._host.http

    def idempotency_key(self) -> str:
        """The key of this attempt's effect outside the database (an HTTP request): the
        same each time this run's node, attempt and tool call asks, different for any
        other, so a receiver that keeps keys can drop a repeated delivery."""
        return str(uuid.uuid5(EFFECT_KEYS, "\n".join(
            (self.run_id, self.node_id, str(self.attempt), self.effect_scope))))

    def llm_endpoint(self, name: str) -> LlmEndpoint | None:
        """The deployment's model endpoint of that name (`[llm_endpoints.NAME]`), if any."""
        return self.http.settings.llm_endpoints.get(name)

    async def progress(self, pct: float, message: str = "") -> None:
        """Report progress 0-100 with a short message."""
        pct = max(0.0, min(100.0, float(pct)))
        await self._host.report(self.node_id, self.attempt, EventType.NODE_PROGRESS,
                                {"progress": round(pct, 1), "message": str(message)})

    async def thinking(self, text: str) -> None:
        """Report a piece of thinking text (streamed to clients as it comes)."""
        await self._host.report(self.node_id, self.attempt, EventType.NODE_THINKING,
                                {"text": str(text)})

    async def answer_delta(self, text: str, call: int = 0) -> None:
        """Report a piece of answer text as it is generated (the whole answer goes in the
        output); `call`: which of the node's model calls it belongs to (0, 1, ...)."""
        await self._host.report(self.node_id, self.attempt, EventType.NODE_ANSWER_DELTA,
                                {"text": str(text), "call": int(call)})

    async def checkpoint(self, data: Any) -> None:
        """Record a step to continue from (durable when this returns); every later attempt,
        after a restart too, reads it back in `checkpoints`."""
        await self._host.report(self.node_id, self.attempt, EventType.NODE_CHECKPOINT,
                                {"data": data})

    @property
    def checkpoints(self) -> list[Any]:
        """The node's checkpoints so far, of this attempt and earlier ones, oldest first."""
        return list(self._host.checkpoints(self.node_id))

    async def wait_for_resume(
        self, prompt: Any, timeout_ms: int | None = None
    ) -> dict[str, Any]:
        """Put the node (and run) in `waiting` until `Engine.resume`; returns {by, data, approved}.

        Survives restarts: a node already waiting keeps waiting (its timeout counts
        from when it first waited); one already resumed returns at once.
        """
        answer, waiting_since = await self._host.enter_waiting(self.node_id, self.attempt, prompt)
        if timeout_ms is None:
            return await answer
        remaining = epoch_seconds(waiting_since) + timeout_ms / 1000 - time.time()
        try:
            return await asyncio.wait_for(answer, max(remaining, 0.0))
        except TimeoutError:
            raise NodeError(f"no answer within {timeout_ms} ms", retryable=False) from None

    async def start_child(self, params: dict[str, Any]) -> str:
        """Start a child run (`params`: workflowId or workflow, version, inputs); its id."""
        return await self._host.start_child(self.node_id, params)

    async def find_child(self) -> str | None:
        """The child run an interrupted earlier attempt of this node started, to adopt."""
        return await self._host.find_child(self.node_id)

    async def wait_for_child(self, child_id: str) -> ChildOutcome:
        return await self._host.wait_for_child(child_id)

    async def cancel_child(self, child_id: str, reason: str, by: str) -> str:
        return await self._host.cancel_child(child_id, reason, by)

    async def run_node_type(self, name: str, params: dict[str, Any],
                            args: Mapping[str, Any] | None = None, scope: str = "") -> Any:
        """Run another node type within this attempt (an agent's tool); its output.

        `args`: what `{{args.x}}` in `params` reads; `scope`: what sets its effects apart
        from the attempt's others (a tool call's id), in their idempotency keys. Its reports
        are this node's; a failure raises NodeError.
        """
        try:
            node_type = self._host.node_type(name)
        except KeyError:
            raise NodeError(f"no node type named {name!r}", retryable=False) from None
        if args is not None:
            params = self._host.render_args(params, args)
        outer, self.effect_scope = self.effect_scope, scope
        try:
            return await node_type.run(params, {}, self)
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(f"{type(exc).__name__}: {exc}") from None
        finally:
            self.effect_scope = outer


class NodeType:
    """Base class for node types (plugins may subclass it or just provide `run`)."""

    # Pure nodes have no side effects and do not wait: the engine runs them inline
    # and records NodeStarted and NodeCompleted in one commit.
    pure: ClassVar[bool] = False
    # Whether the engine's default node timeout applies when a node sets none.
    uses_default_timeout: ClassVar[bool] = True
    # The model of the node's `params` (a `service.engine.params.ParamsModel`): checked
    # when a workflow is saved and published in the workflow JSON Schema. None: any
    # object, checked only by `check`.
    params_model: ClassVar[type[BaseModel] | None] = None
    # Params whose values the log never records (NodeStarted's input shows *** instead):
    # credentials given in the definition rather than through {{secrets.NAME}}.
    secret_params: ClassVar[frozenset[str]] = frozenset()

    def check(self, params: Mapping[str, Any]) -> list[str]:
        return []

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        return self.run_inline(params, inputs)

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        raise NotImplementedError


def epoch_seconds(iso: str | None) -> float:
    """A recorded timestamp as seconds since the epoch (now when there is none)."""
    if not iso:
        return time.time()
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
