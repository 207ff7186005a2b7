"""The execution engine: runs workflow DAGs, every transition through the event log."""

from service.engine.context import NodeContext
from service.engine.engine import Engine, EngineNotRunning, RunNotFound
from service.engine.registry import NodeError, NodeRegistry, NodeType, default_registry
from service.engine.settings import EngineSettings

__all__ = [
    "Engine", "EngineNotRunning", "EngineSettings", "NodeContext", "NodeError",
    "NodeRegistry", "NodeType", "RunNotFound", "default_registry",
]
