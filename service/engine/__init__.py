"""The execution engine: runs workflow DAGs, every transition through the event log.

The package exports what a node type (built-in or plugin) is written against; the
engine itself is `service.engine.engine.Engine`. Importing the package loads no more
than that, so code that only needs node types does not load the engine.
"""

from service.engine.node_api import NodeContext, NodeError, NodeType
from service.engine.params import ParamsModel, templated

__all__ = ["NodeContext", "NodeError", "NodeType", "ParamsModel", "templated"]
