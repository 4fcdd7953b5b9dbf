"""The house's arrows point down: no import circles, and no computing package knows the report or the CLI.

Read from the source with `ast` (every import, function-local ones included: a lazy import is still an arrow), so
the check needs no import of torch and fails on the commit that adds the arrow, whichever test run comes first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "leafbench"
COMPUTING = ("search", "store", "evaluate", "distill", "deploy", "throughput", "executors", "datasets")
CORE = ("transforms", "precisions", "kernels", "metrics", "search", "store")  # DESIGN.md: no CLI, rich, matplotlib
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = ("leafbench", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module (of leafbench or outside it) that `name` imports; `from pkg import mod` names the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v] & graph.keys()):
            if w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _in(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == f"leafbench.{p}" or name.startswith(f"leafbench.{p}.") for p in packages)


def _is_front(name: str) -> bool:
    """The report and the command line: what renders results and parses arguments."""
    return (_in(name, ("report", "cli", "runner")) or name.endswith("_cli")) and name.startswith("leafbench")


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_computing_packages_never_import_the_report_or_the_cli() -> None:
    upward = sorted(f"{m} -> {t}" for m, targets in _graph().items() if _in(m, COMPUTING)
                    for t in targets if _is_front(t))
    assert upward == []


def test_the_core_never_imports_rich_or_matplotlib() -> None:
    bad = sorted(f"{m} -> {t}" for m, targets in _graph().items() if _in(m, CORE)
                 for t in targets if t.split(".")[0] in ("rich", "matplotlib"))
    assert bad == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_the_circle_finder_finds_circles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _circles(graph) == expected


def test_an_upward_arrow_is_seen(tmp_path: Path) -> None:
    """The reader sees function-local and relative imports (the kinds an upward arrow hides in)."""
    pkg = tmp_path / "leafbench" / "deploy"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "analysis.py").write_text("def f():\n    from ..report import data\n    import leafbench.cli\n")
    found = _imports("leafbench.deploy.analysis", pkg / "analysis.py", {})
    assert {"leafbench.report", "leafbench.cli"} <= found
    assert all(_is_front(t) for t in found)
