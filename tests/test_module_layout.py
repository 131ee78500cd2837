"""The layout holds: no module of the product imports, directly or through others, a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("offboarding", "accounts", "sandbox")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every product module `path` imports, at the top or inside a function (`from a import b` counts a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    known = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, known) - {module_name(p)} for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (the first again at the end), or [] when there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return []
        for imported in sorted(graph.get(module, ())):
            if cycle := visit(imported, [*path, module]):
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        if cycle := visit(module, []):
            return cycle
    return []


class TestImports:
    def test_no_module_imports_itself_back_through_others(self):
        cycle = find_cycle(import_graph())
        assert not cycle, " -> ".join(cycle)

    def test_the_check_sees_a_cycle_through_a_function_level_import(self, tmp_path):
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
        assert find_cycle(graph) == ["a", "b", "c", "a"]
        module = tmp_path / "m.py"
        module.write_text("def f():\n    from offboarding import revocation\n")
        assert imports_of(module, {"offboarding", "offboarding.revocation"}) == {
            "offboarding",
            "offboarding.revocation",
        }

    @pytest.mark.parametrize(
        "lower, upper",
        [
            ("offboarding.models", "offboarding.decisions"),
            ("offboarding.revocation", "offboarding.decisions"),
            ("offboarding.revocation", "offboarding.sync"),
            ("offboarding.steps", "offboarding.revocation"),
            ("offboarding.clients.okta", "offboarding.models"),
            ("offboarding.decisions", "offboarding.views"),
        ],
    )
    def test_imports_run_from_the_pages_down_to_the_models_and_clients(self, lower, upper):
        graph = import_graph()
        assert upper not in graph[lower], f"{lower} imports {upper}"
