"""The layering of harness/: no import cycle between its packages, and nothing points outside the repo."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from .conftest import REPO

HARNESS = REPO / "harness"


def _unit(module: str) -> str:
    """The layering unit of a module: its package under harness/ (harness.core, ...), or the top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Unit -> the units its modules import (at any depth of the module, function-level imports included)."""
    graph: dict[str, set[str]] = {}
    for path in HARNESS.rglob("*.py"):
        source = _unit(_module_name(path))
        edges = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("harness.") and _unit(name) != source:
                    edges.add(_unit(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle_between_the_packages_of_harness() -> None:
    graph = import_graph()
    assert {"harness.core", "harness.plan", "harness.timeline", "harness.result", "harness.report"} <= set(graph)
    assert cycles(graph) == []


def test_the_core_depends_on_nothing_else_of_the_harness() -> None:
    assert import_graph()["harness.core"] == set()


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_nothing_in_the_repo_points_outside_it() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO / name
        if path.suffix not in (".py", ".md", ".toml", ".sh", "") or not path.is_file() or name == Path(__file__).name:
            continue
        text = path.read_text(errors="replace")
        if "ARCHITECTURE.md" in text or "../shared" in text or "design/ARCHITECTURE" in text:
            offenders.append(name)
    assert [o for o in offenders if not o.endswith("test_layering.py")] == []
