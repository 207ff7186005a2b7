"""Workflow definitions: parse the JSON of DESIGN section 3 and refuse what cannot run.

The fields are checked by the model of schema.py; here are the rules a model cannot
say (duplicate ids, unknown `after` ids, cycles, branch edges from non-conditions,
templates that read nodes not upstream), and the parsed form the engine runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.workflows.schema import definition_errors
from service.workflows.templates import TemplateError, references

if TYPE_CHECKING:
    from service.engine.registry import NodeRegistry


class WorkflowInvalid(ValueError):
    """A definition that cannot be saved; `errors` is a list of {nodeId, message} (and
    `path`, the field's, for problems the model found)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(
            f"{e['nodeId']}: {e['message']}" if e.get("nodeId") else e["message"] for e in errors
        ))
        self.errors = errors

    @property
    def node_ids(self) -> list[str]:
        return sorted({e["nodeId"] for e in self.errors if e.get("nodeId")})


@dataclass(frozen=True, slots=True)
class Edge:
    """An incoming edge; `branch` is set when it follows one branch of a condition."""

    node: str
    branch: bool | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff_ms: int = 0
    multiplier: float = 2.0

    def delay_ms(self, attempt: int) -> float:
        """Backoff before attempt `attempt + 1`, exponential in the attempts made."""
        return self.backoff_ms * (self.multiplier ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class NodeDef:
    id: str
    type: str
    name: str
    params: dict[str, Any]
    after: tuple[Edge, ...]
    retry: RetryPolicy
    timeout_ms: int | None


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    name: str
    nodes: dict[str, NodeDef]
    static_data: dict[str, Any]
    continue_on_disconnect: bool
    timeout_ms: int | None
    successors: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sinks(self) -> list[str]:
        """Nodes with no successors: their outputs make the run's output."""
        return [node_id for node_id in self.nodes if not self.successors[node_id]]


class _Parser:
    def __init__(self, registry: NodeRegistry, stored: bool) -> None:
        self.registry = registry
        self.stored = stored
        self.errors: list[dict[str, Any]] = []

    def error(self, node_id: str | None, message: str) -> None:
        self.errors.append({"nodeId": node_id, "message": message})

    def parse(self, raw: Any) -> WorkflowDefinition:
        if not isinstance(raw, Mapping):
            raise WorkflowInvalid([{"nodeId": None, "message": "definition must be an object"}])
        # Every field, each node's params by its type's model; then what a model cannot say.
        # A stored version was checked when it was saved, by the rules of its day: read it
        # as it is (the engine tolerates what older rules let through), so it still runs.
        if not self.stored:
            self.errors.extend(definition_errors(self.registry, raw))
        raw_nodes = raw.get("nodes")
        nodes: dict[str, NodeDef] = {}
        for item in raw_nodes if isinstance(raw_nodes, list) else []:
            node = self.node(item)
            if node is None:
                continue
            if node.id in nodes:
                self.error(node.id, "duplicate node id")
                continue
            nodes[node.id] = node
        successors = self.check_graph(nodes)
        if not self.errors:
            self.check_templates(nodes)
        if self.errors:
            raise WorkflowInvalid(self.errors)
        trigger = raw.get("trigger") or {}
        if not isinstance(trigger, Mapping):
            trigger = {}
        static_data = trigger.get("staticData")
        timeout_ms = raw.get("timeoutMs")
        return WorkflowDefinition(
            name=str(raw.get("name") or "").strip(), nodes=nodes,
            static_data=dict(static_data) if isinstance(static_data, Mapping) else {},
            continue_on_disconnect=bool(trigger.get("continueOnDisconnect", False)),
            timeout_ms=timeout_ms if isinstance(timeout_ms, int) else None,
            successors=successors,
        )

    def node(self, item: Any) -> NodeDef | None:
        """The node as the engine reads it; its fields were checked by the model."""
        if not isinstance(item, Mapping):
            return None
        node_id, node_type = item.get("id"), item.get("type")
        if not isinstance(node_id, str) or not node_id or "." in node_id:
            return None
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            params = {}
        elif isinstance(node_type, str) and node_type in self.registry.names():
            for message in self.registry.check_params(node_type, params):
                self.error(node_id, message)
        retry = item.get("retry")
        name = item.get("name")
        return NodeDef(
            id=node_id, type=str(node_type), name=name if isinstance(name, str) else node_id,
            params=dict(params), after=_edges(item.get("after")),
            retry=_retry(retry) if isinstance(retry, Mapping) else RetryPolicy(),
            timeout_ms=timeout if isinstance(timeout := item.get("timeoutMs"), int) else None,
        )

    def check_graph(self, nodes: dict[str, NodeDef]) -> dict[str, tuple[str, ...]]:
        successors: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for node in nodes.values():
            seen: set[str] = set()
            for edge in node.after:
                if edge.node not in nodes:
                    self.error(node.id, f"after names unknown node {edge.node!r}")
                    continue
                if edge.node == node.id:
                    self.error(node.id, "a node cannot come after itself")
                    continue
                if edge.node in seen:
                    self.error(node.id, f"after names {edge.node!r} twice")
                    continue
                if edge.branch is not None and nodes[edge.node].type != "condition":
                    self.error(node.id, f"branch edge from {edge.node!r}, which is not a condition")
                seen.add(edge.node)
                successors[edge.node].append(node.id)
        # Kahn: whatever is never freed sits on (or behind) a cycle.
        indegree = {node_id: 0 for node_id in nodes}
        for targets in successors.values():
            for target in targets:
                indegree[target] += 1
        ready = [node_id for node_id, degree in indegree.items() if degree == 0]
        freed = 0
        while ready:
            current = ready.pop()
            freed += 1
            for target in successors[current]:
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        if freed < len(nodes):
            for node_id in _cycle_members(nodes, successors, indegree):
                self.error(node_id, "node is part of a cycle")
        return {node_id: tuple(targets) for node_id, targets in successors.items()}

    def check_templates(self, nodes: dict[str, NodeDef]) -> None:
        for node in nodes.values():
            try:
                refs = list(references(node.params))
            except TemplateError as exc:
                self.error(node.id, f"bad template: {exc}")
                continue
            node_refs = [ref.node_id for ref in refs if ref.node_id is not None]
            upstream = ancestors(nodes, node.id) if node_refs else set()
            for ref_node in node_refs:
                if ref_node not in nodes:
                    self.error(node.id, f"template reads unknown node {ref_node!r}")
                elif ref_node not in upstream:
                    self.error(node.id, f"template reads {ref_node!r}, which is not upstream")


def _retry(raw: Mapping[str, Any]) -> RetryPolicy:
    """The policy as written; fields of the wrong type (in versions stored under older
    rules) fall back to their defaults."""
    attempts, backoff, multiplier = (raw.get(key) for key in
                                     ("maxAttempts", "backoffMs", "multiplier"))
    return RetryPolicy(
        attempts if isinstance(attempts, int) and attempts >= 1 else 1,
        backoff if isinstance(backoff, int) and backoff >= 0 else 0,
        float(multiplier) if isinstance(multiplier, int | float) and multiplier >= 1 else 2.0,
    )


def _edges(raw: Any) -> tuple[Edge, ...]:
    edges = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, str):
            edges.append(Edge(entry))
        elif isinstance(entry, Mapping) and isinstance(entry.get("node"), str):
            branch = entry.get("branch")
            edges.append(Edge(entry["node"], branch if isinstance(branch, bool) else None))
    return tuple(edges)


def _cycle_members(
    nodes: dict[str, NodeDef], successors: dict[str, list[str]], indegree: dict[str, int]
) -> list[str]:
    """Of the nodes Kahn left behind, those that can reach themselves."""
    stuck = {node_id for node_id, degree in indegree.items() if degree > 0}
    members = []
    for start in stuck:
        stack, seen = list(successors[start]), set()
        while stack:
            current = stack.pop()
            if current == start:
                members.append(start)
                break
            if current in seen or current not in stuck:
                continue
            seen.add(current)
            stack.extend(successors[current])
    return sorted(members)


def ancestors(nodes: Mapping[str, NodeDef], node_id: str) -> set[str]:
    """Every node `node_id` transitively comes after."""
    found: set[str] = set()
    stack = [edge.node for edge in nodes[node_id].after]
    while stack:
        current = stack.pop()
        if current in found or current not in nodes:
            continue
        found.add(current)
        stack.extend(edge.node for edge in nodes[current].after)
    return found


def parse_definition(raw: Any, registry: NodeRegistry, stored: bool = False) -> WorkflowDefinition:
    """Parse and validate a definition; raise WorkflowInvalid listing every problem found.

    `stored`: a version read back from the database, checked leniently (see schema.py).
    """
    return _Parser(registry, stored).parse(raw)
