"""The suite itself: every test checks something, and test modules share code only through plain modules.

Read from the source with `ast`, so a test that asserts nothing (or only that nothing raised) or a
test module importing another cannot slip in unnoticed.
"""

import ast
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# What counts as checking: pytest's and Playwright's ways, besides `assert` and `raise AssertionError`.
CHECKS = {"pytest.raises", "pytest.fail", "pytest.warns", "expect"}


@cache
def modules(directory: Path = TESTS) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(directory.glob("*.py"))}


def checks_directly(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None and "AssertionError" in ast.unparse(node.exc):
            return True
        if isinstance(node, ast.Call) and ast.unparse(node.func) in CHECKS:
            return True
    return False


def called_names(function: ast.FunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            called = node.func
            names.add(called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", ""))
    return names


def unchecked_tests(directory: Path = TESTS) -> list[str]:
    trees = modules(directory)
    calls: dict[str, set[str]] = {}  # helper -> what it calls (over every helper of that name)
    checking = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_"):
                calls.setdefault(node.name, set()).update(called_names(node))
                if checks_directly(node):
                    checking.add(node.name)
    # A helper checks if it asserts, or calls a helper that does.
    while grown := {name for name, called in calls.items() if name not in checking and called & checking}:
        checking |= grown
    found = []
    for path, tree in trees.items():
        if not path.name.startswith("test_"):
            continue
        for node in ast.walk(tree):
            is_test = isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            if is_test and not checks_directly(node) and not called_names(node) & checking:
                found.append(f"{path.name}:{node.lineno} {node.name}")
    return found


def test_every_test_checks_something():
    assert unchecked_tests() == []


def test_test_modules_import_no_other_test_module():
    imports = []
    for path, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.test_"):
                imports.append(f"{path.name}:{node.lineno} from {node.module}")
            elif isinstance(node, ast.Import):
                imports += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if "tests.test_" in a.name]
    assert imports == []


def test_the_checks_see_a_test_that_checks_nothing(tmp_path):
    (tmp_path / "test_example.py").write_text(
        "def helper():\n    assert 1\n\n"
        "def test_checks():\n    helper()\n\n"
        "def test_only_runs():\n    print('no check')\n"
    )
    assert unchecked_tests(tmp_path) == ["test_example.py:7 test_only_runs"]
