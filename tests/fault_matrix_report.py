"""Pytest plugin: print the fault matrix (tests/test_fault_matrix.py) as a table after the run."""

from __future__ import annotations

# (step, fault) -> the outcome a cell saw; filled by the matrix tests of this run.
MATRIX: dict[tuple[str, str], str] = {}
# The steps and faults in order, and {step: {fault: outcome}} each cell must show: given by the matrix's module.
LAYOUT: dict = {}


def expect(steps: list[str], faults: list[str], expected: dict[str, dict[str, str]]) -> None:
    LAYOUT.update(steps=steps, faults=faults, expected=expected)


def render_table(cells, steps: list[str], faults: list[str]) -> str:
    """A Markdown table, steps down, faults across; `cells` is {step: {fault: outcome}} or MATRIX."""

    def cell(step: str, fault: str) -> str:
        if isinstance(cells, dict) and step in cells and isinstance(cells[step], dict):
            return cells[step].get(fault, "—")
        return cells.get((step, fault), "—")

    lines = ["| step \\ fault | " + " | ".join(faults) + " |", "|---" * (len(faults) + 1) + "|"]
    lines += [f"| {step} | " + " | ".join(cell(step, f) for f in faults) + " |" for step in steps]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not MATRIX:
        return
    expected = LAYOUT["expected"]
    terminalreporter.section("fault matrix: revocation step × fault (outcome seen in this run)")
    terminalreporter.write_line(render_table(MATRIX, LAYOUT["steps"], LAYOUT["faults"]))
    wrong = [f"{s} × {f}: saw {o!r}" for (s, f), o in MATRIX.items() if expected[s][f] != o]
    terminalreporter.write_line(f"{len(MATRIX)} cells run; " + ("; ".join(wrong) if wrong else "all as expected"))
