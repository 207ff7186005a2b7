"""Workflow definitions: parse the JSON of DESIGN section 3 and refuse what cannot run."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.workflows.templates import TemplateError, references

MAX_NODES = 5000

# Checks a node type's params; returns problems as messages (empty when fine).
ParamCheck = Callable[[str, Mapping[str, Any]], list[str]]


class WorkflowInvalid(ValueError):
    """A definition that cannot be saved; `errors` is a list of {nodeId, message}."""

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


def _positive_int(value: Any, allow_zero: bool = False) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (
        value >= 0 if allow_zero else value > 0
    )


class _Parser:
    def __init__(self, known_types: Collection[str], check_params: ParamCheck | None) -> None:
        self.known_types = known_types
        self.check_params = check_params
        self.errors: list[dict[str, Any]] = []

    def error(self, node_id: str | None, message: str) -> None:
        self.errors.append({"nodeId": node_id, "message": message})

    def parse(self, raw: Any) -> WorkflowDefinition:
        if not isinstance(raw, Mapping):
            raise WorkflowInvalid([{"nodeId": None, "message": "definition must be an object"}])
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.error(None, "name is required")
        trigger = raw.get("trigger") or {}
        if not isinstance(trigger, Mapping):
            self.error(None, "trigger must be an object")
            trigger = {}
        static = trigger.get("staticData") or {}
        if not isinstance(static, Mapping):
            self.error(None, "trigger.staticData must be an object")
            static = {}
        timeout = raw.get("timeoutMs")
        if timeout is not None and not _positive_int(timeout):
            self.error(None, "timeoutMs must be a positive integer")
        raw_nodes = raw.get("nodes")
        if not isinstance(raw_nodes, list) or not raw_nodes:
            self.error(None, "nodes must be a non-empty list")
            raw_nodes = []
        if len(raw_nodes) > MAX_NODES:
            self.error(None, f"at most {MAX_NODES} nodes")
        nodes: dict[str, NodeDef] = {}
        for index, item in enumerate(raw_nodes):
            node = self.parse_node(index, item)
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
        return WorkflowDefinition(
            name=str(name).strip(), nodes=nodes, static_data=dict(static),
            continue_on_disconnect=bool(trigger.get("continueOnDisconnect", False)),
            timeout_ms=timeout, successors=successors,
        )

    def parse_node(self, index: int, item: Any) -> NodeDef | None:
        if not isinstance(item, Mapping):
            self.error(None, f"nodes[{index}] must be an object")
            return None
        node_id = item.get("id")
        if not isinstance(node_id, str) or not node_id or "." in node_id or len(node_id) > 200:
            self.error(None, f"nodes[{index}] needs an id (a string without dots)")
            return None
        node_type = item.get("type")
        if not isinstance(node_type, str) or node_type not in self.known_types:
            self.error(node_id, f"unknown node type {node_type!r}")
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            self.error(node_id, "params must be an object")
            params = {}
        elif self.check_params is not None and isinstance(node_type, str) \
                and node_type in self.known_types:
            for message in self.check_params(node_type, params):
                self.error(node_id, message)
        after = self.parse_after(node_id, item.get("after") or [])
        retry = self.parse_retry(node_id, item.get("retry"))
        timeout = item.get("timeoutMs")
        if timeout is not None and not _positive_int(timeout):
            self.error(node_id, "timeoutMs must be a positive integer")
            timeout = None
        name = item.get("name")
        return NodeDef(
            id=node_id, type=str(node_type), name=name if isinstance(name, str) else node_id,
            params=dict(params), after=after, retry=retry, timeout_ms=timeout,
        )

    def parse_after(self, node_id: str, raw: Any) -> tuple[Edge, ...]:
        if not isinstance(raw, list):
            self.error(node_id, "after must be a list")
            return ()
        edges = []
        for entry in raw:
            if isinstance(entry, str):
                edges.append(Edge(entry))
            elif isinstance(entry, Mapping) and isinstance(entry.get("node"), str) \
                    and isinstance(entry.get("branch", True), bool):
                edges.append(Edge(entry["node"], entry.get("branch")))
            else:
                self.error(node_id, f"bad after entry {entry!r}")
        return tuple(edges)

    def parse_retry(self, node_id: str, raw: Any) -> RetryPolicy:
        if raw is None:
            return RetryPolicy()
        if not isinstance(raw, Mapping):
            self.error(node_id, "retry must be an object")
            return RetryPolicy()
        attempts = raw.get("maxAttempts", 1)
        backoff = raw.get("backoffMs", 0)
        multiplier = raw.get("multiplier", 2.0)
        if not _positive_int(attempts) or attempts > 100:
            self.error(node_id, "retry.maxAttempts must be an integer 1-100")
            return RetryPolicy()
        if not _positive_int(backoff, allow_zero=True):
            self.error(node_id, "retry.backoffMs must be a non-negative integer")
            return RetryPolicy()
        if not isinstance(multiplier, int | float) or not 1 <= multiplier <= 10:
            self.error(node_id, "retry.multiplier must be a number 1-10")
            return RetryPolicy()
        return RetryPolicy(attempts, backoff, float(multiplier))

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


def parse_definition(
    raw: Any, known_types: Collection[str], check_params: ParamCheck | None = None
) -> WorkflowDefinition:
    """Parse and validate a definition; raise WorkflowInvalid listing every problem found."""
    return _Parser(known_types, check_params).parse(raw)
