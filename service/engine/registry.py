"""Node types: the interface a node implements, the built-ins and `runstream.nodes` plugins.

A node type is an object with:

- ``async def run(self, params, inputs, ctx) -> output``: ``params`` are the node's
  params with every template rendered; ``inputs`` maps each completed predecessor's
  id to its output; ``ctx`` is a :class:`~service.engine.context.NodeContext` with
  ``await ctx.progress(pct, message)``, ``await ctx.thinking(text)``, ``ctx.attempt``,
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
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from pydantic import BaseModel

if TYPE_CHECKING:
    from service.engine.context import NodeContext

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "runstream.nodes"


class NodeError(Exception):
    """A node's failure, with the message the log records; `retryable=False` skips retries."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


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

    def check(self, params: Mapping[str, Any]) -> list[str]:
        return []

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        return self.run_inline(params, inputs)

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        raise NotImplementedError


class NodeRegistry:
    """Node types by name."""

    def __init__(self, types: Mapping[str, Any] | None = None) -> None:
        self._types: dict[str, Any] = dict(types or {})

    def register(self, name: str, node_type: Any) -> None:
        if inspect.isclass(node_type):
            node_type = node_type()
        if not callable(getattr(node_type, "run", None)):
            raise TypeError(f"node type {name!r} has no run method")
        self._types[name] = node_type

    def get(self, name: str) -> Any:
        return self._types[name]

    def names(self) -> frozenset[str]:
        return frozenset(self._types)

    def check_params(self, name: str, params: Mapping[str, Any]) -> list[str]:
        """A plugin's own `check` (beside its params model, if it has one)."""
        check = getattr(self._types[name], "check", None)
        return list(check(params)) if check is not None else []

    def params_model(self, name: str) -> type[BaseModel] | None:
        model = getattr(self._types[name], "params_model", None)
        return model if isinstance(model, type) and issubclass(model, BaseModel) else None

    def description(self, name: str) -> str:
        doc = type(self._types[name]).__doc__ or ""
        return doc.strip().split("\n\n")[0]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Add every plugin of `group`; a plugin that fails to load is logged and skipped."""
        for entry in entry_points(group=group):
            try:
                self.register(entry.name, entry.load())
            except Exception as exc:  # a broken plugin must not stop the service
                log.warning("node_plugin_failed", plugin=entry.name, error=str(exc))


def builtin_registry() -> NodeRegistry:
    from service.engine.nodes.builtin import BUILTIN_TYPES
    from service.engine.nodes.http import HttpRequest
    from service.engine.nodes.subworkflow import Subworkflow

    registry = NodeRegistry()
    for name, node_type in {
        **BUILTIN_TYPES, "http_request": HttpRequest, "subworkflow": Subworkflow,
    }.items():
        registry.register(name, node_type)
    return registry


@functools.cache
def default_registry(group: str = ENTRY_POINT_GROUP) -> NodeRegistry:
    """The built-ins plus the installed plugins (loaded once per process)."""
    registry = builtin_registry()
    registry.load_entry_points(group)
    return registry
