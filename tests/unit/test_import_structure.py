"""The shape of the code: no import goes round in a circle, and imports flow one way
through the layers (domain <- logic <- ports <- services <- shells), read from the
source with `ast` (every import, at module level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS = {
    "domain": 0,
    "logic": 1,
    "ports": 2,
    "adapters": 3,
    "services": 3,
    "lab": 3,  # the policy lab: simulations over trace adapters, as a service
    "agent": 4,
    "api": 4,
    "cli": 4,
    "sdk": 4,
    "platform": 4,
    "web": 4,
}
"""Lower numbers are imported by higher ones, never the other way."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "suanli").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                root = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*root, base] if base else root)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init(name: str, graph: dict[str, set[str]]) -> bool:
    return any(other.startswith(name + ".") for other in graph)


def test_no_import_circle() -> None:
    graph = _graph()
    # a package's __init__ that re-exports its submodules is not part of a circle through
    # them; count only imports between modules proper
    proper = {
        m: {t for t in deps if not (_is_package_init(t, graph) and m.startswith(t + "."))}
        for m, deps in graph.items()
    }
    assert _cycles(proper) == []


def test_imports_flow_one_way_through_the_layers() -> None:
    wrong = []
    for module, deps in _graph().items():
        layer = module.split(".")[1] if "." in module else None
        if layer not in LAYERS:
            continue
        for dep in deps:
            other = dep.split(".")[1] if "." in dep else None
            if other in LAYERS and LAYERS[other] > LAYERS[layer]:
                wrong.append(f"{module} imports {dep}")
    assert wrong == []
