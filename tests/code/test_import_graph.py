"""No import cycles between production modules, and the layers point one way.

Module-level imports only (a function-level import is the documented way to defer one), read
with `ast`: `from a.b import c` is an edge to `a.b.c` when that is a module, else to `a.b`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "training", "serving", "evaluation", "monitoring")
# who may import whom (README "Rules of the house": features -> training -> serving)
ALLOWED = {
    "features": {"features"},
    "training": {"features", "training"},
    "serving": {"features", "serving"},
    "evaluation": {"features", "training", "serving", "evaluation"},
    "monitoring": {"features", "training", "serving", "monitoring"},
}


def _modules() -> dict[str, Path]:
    out = {"dosewise_cli": ROOT / "dosewise_cli.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue  # Alembic loads these by path
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If | ast.Try):  # still runs at import time
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]
    return found


def _graph(all_levels: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = (
            [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
            if all_levels
            else _top_level_imports(tree)
        )
        edges: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif node.module and node.level == 0 and node.module.split(".")[0] in ALLOWED:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    edges.add(sub if sub in modules else node.module)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_production_modules() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_import_only_downwards_even_lazily() -> None:
    wrong = [
        f"{src} -> {dst}"
        for src, dsts in _graph(all_levels=True).items()
        for dst in dsts
        if src != "dosewise_cli" and dst.split(".")[0] not in ALLOWED[src.split(".")[0]]
    ]
    assert wrong == []
