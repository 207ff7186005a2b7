"""The import graph of service/, eventstore/ and projections/ has the shape DESIGN.md draws.

Every module is parsed (not imported) with `ast`, so an import counts wherever it is
written: at module level, inside a function (a late import) or under `if TYPE_CHECKING:`
(a type-only import). A circle closed by a late or type-only import is still a circle:
it is only hidden: the modules on it still cannot be understood or moved one without
the others. Failures name every edge with its kind and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "eventstore", "projections")

# The modules of app keys: every module reads its state through them, so they import
# nothing of ours at run time; the types they name for the type checker point back into
# the app by design and are the only type-only imports a circle may pass through.
LEAVES = ("service.keys", "service.auth.keys")

@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    kind: str  # "module" (runs on import), "function" (late) or "type-only"
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind}, line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


MODULES = our_modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind, walking into functions and guards."""

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "type-only" if kind == "type-only" else "function")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "type-only")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, "module")


def _resolve(source: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of ours an import statement loads (a name imported from a package
    that is a submodule counts as that submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = source if MODULES[source].name == "__init__.py" else source.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            for alias in node.names]


def import_edges() -> list[Edge]:
    edges = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, kind in _imports(tree):
            for target in _resolve(name, node):
                if target in MODULES and target != name:
                    edges.append(Edge(name, target, kind, node.lineno))
    return edges


EDGES = import_edges()


def _external_imports() -> list[tuple[str, str, int]]:
    """(module, top-level package imported, line) for imports of code not ours."""
    found = []
    for name, path in MODULES.items():
        for node, _kind in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            targets = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""])
            found.extend((name, target.partition(".")[0], node.lineno) for target in targets)
    return found


def circles(edges: list[Edge]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def _describe(component: set[str], edges: list[Edge]) -> str:
    inside = {edge for edge in edges if edge.source in component and edge.target in component}
    return "\n  ".join(str(edge) for edge in sorted(inside, key=lambda e: (e.source, e.line)))


def _assert_no_circle(edges: list[Edge]) -> None:
    found = circles(edges)
    assert not found, "import circles:\n  " + "\n\n  ".join(
        _describe(component, edges) for component in found)


def test_the_graph_is_built_from_every_module_and_every_kind_of_import() -> None:
    assert "service.app" in MODULES
    assert "eventstore.records" in MODULES
    kinds = {edge.kind for edge in EDGES}
    assert kinds == {"module", "function", "type-only"}, kinds


def test_there_is_no_import_circle_at_run_time() -> None:
    """Module-level and late (function-level) imports: a late import hides a circle from
    the interpreter, not from a reader."""
    _assert_no_circle([edge for edge in EDGES if edge.kind != "type-only"])


def test_there_is_no_import_circle_through_type_only_imports_either() -> None:
    _assert_no_circle([edge for edge in EDGES
                       if not (edge.kind == "type-only" and edge.source in LEAVES)])


@pytest.mark.parametrize("leaf", LEAVES)
def test_the_app_keys_modules_are_leaves(leaf: str) -> None:
    """Everything reads its state through the keys; if they imported any of ours at run
    time, every reader would load that too (`service.keys` once loaded the engine)."""
    runtime = [str(edge) for edge in EDGES if edge.source == leaf and edge.kind != "type-only"]
    assert not runtime, "\n".join(runtime)


@pytest.mark.parametrize("package", ["eventstore", "projections"])
def test_the_log_and_its_read_models_know_nothing_of_the_service_or_http(package: str) -> None:
    inward = [str(edge) for edge in EDGES if edge.source.partition(".")[0] == package
              and edge.target.partition(".")[0] == "service"]
    http = [f"{module} imports aiohttp (line {line})" for module, target, line
            in _external_imports()
            if module.partition(".")[0] == package and target == "aiohttp"]
    assert not inward + http, "\n".join(inward + http)


def test_the_event_log_imports_nothing_of_ours_but_itself() -> None:
    outward = [str(edge) for edge in EDGES if edge.source.partition(".")[0] == "eventstore"
               and edge.target.partition(".")[0] != "eventstore"]
    assert not outward, "\n".join(outward)


def test_identity_and_access_never_import_the_views() -> None:
    upward = [str(edge) for edge in EDGES if edge.source.startswith("service.auth")
              and edge.target.startswith("service.views")]
    assert not upward, "\n".join(upward)


def test_node_types_are_written_against_the_node_api_alone() -> None:
    """Built-in node types import of the engine only what a plugin could: the node API,
    the params models and the guarded HTTP client, never the driver or the engine (and
    their own modules, as a plugin's package has: the agent's client and stream reader)."""
    allowed = {"service.engine.node_api", "service.engine.params", "service.engine.http_client"}
    reaching = [str(edge) for edge in EDGES if edge.source.startswith("service.engine.nodes.")
                and edge.target.startswith("service.") and edge.target not in allowed
                and not edge.target.startswith("service.engine.nodes.")]
    assert not reaching, "\n".join(reaching)


def test_the_engine_package_loads_only_the_node_api() -> None:
    """Importing any `service.engine.*` module runs the package first: it must not load
    the engine (a workflow module importing the registry would close a circle)."""
    loaded = {edge.target for edge in EDGES if edge.source == "service.engine"}
    assert loaded <= {"service.engine.node_api", "service.engine.params"}, loaded
