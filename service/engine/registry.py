"""Node types by name: the built-ins and the `runstream.nodes` plugins.

What a node type is (and how a plugin registers) is told in `service.engine.node_api`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import structlog
from pydantic import BaseModel

from service.engine.nodes.agent import Agent
from service.engine.nodes.builtin import BUILTIN_TYPES
from service.engine.nodes.http import HttpRequest
from service.engine.nodes.subworkflow import Subworkflow

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "runstream.nodes"


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
    registry = NodeRegistry()
    for name, node_type in {
        **BUILTIN_TYPES, "http_request": HttpRequest, "subworkflow": Subworkflow,
        "agent": Agent,
    }.items():
        registry.register(name, node_type)
    return registry


@functools.cache
def default_registry(group: str = ENTRY_POINT_GROUP) -> NodeRegistry:
    """The built-ins plus the installed plugins (loaded once per process)."""
    registry = builtin_registry()
    registry.load_entry_points(group)
    return registry
