"""The lesson notebooks as files: committed executed, one per number, exercises graded, solutions present.

nbval (``make notebooks``) re-runs them and compares outputs; these checks are the cheap part that needs no
kernel: a notebook committed without its outputs, a lesson whose exercise has no check or no solution file,
or a lesson that redefines a package function would pass nbval unnoticed.
"""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXERCISE_LESSONS = [p for p in LESSONS if not p.name.startswith(("00_", "07_"))]


def _code(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_lessons_are_numbered_00_to_08_without_gaps():
    assert [p.name[:2] for p in LESSONS] == [f"{k:02d}" for k in range(9)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_code_cell_was_executed_in_order_and_outputs_are_committed(path):
    cells = [c for c in _code(path) if c.source.strip()]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), path.name
    assert sum(bool(c.outputs) for c in cells) >= len(cells) // 2, f"{path.name}: most cells show nothing"
    assert not any(o.get("output_type") == "error" for c in cells for o in c.outputs), path.name


@pytest.mark.parametrize("path", EXERCISE_LESSONS, ids=lambda p: p.stem)
def test_each_exercise_has_a_stub_a_check_and_a_solution_that_passes_in_the_committed_output(path):
    sources = [c.source for c in _code(path)]
    stubs = [s for s in sources if re.search(r"^\s+raise NotImplementedError\b", s, re.M)]
    assert stubs, f"{path.name} has no exercise stub"
    for stub in stubs:
        assert re.search(r"checks\.check_\w+\(", stub), f"{path.name}: a stub cell without its check"
    solutions = set(re.findall(r"solutions/(lesson\d\d_\w+)\.py", "\n".join(sources)))
    assert solutions, f"{path.name} names no solution file"
    for name in solutions:
        assert (NOTEBOOKS / "solutions" / f"{name}.py").is_file(), name
    text = "\n".join("".join(o.get("text", "")) for c in _code(path) for o in c.outputs)
    assert "✗ not attempted yet" in text and "✓ correct" in text, path.name


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lessons_import_the_package_and_never_redefine_it(path):
    sources = "\n".join(c.source for c in _code(path))
    assert re.search(r"^(import nst_edu|from nst_edu\b)", sources, re.M), path.name
    import nst_edu
    from nst_edu.core import costs, noise, transfer
    from nst_edu.output import animation, plots

    public = {
        name
        for module in (nst_edu, animation, costs, noise, plots, transfer)
        for name in getattr(module, "__all__", dir(module))
        if not name.startswith("_")
    }
    stub_names = {
        m
        for s in sources.split("\n\n\n")
        if "NotImplementedError" in s
        for m in re.findall(r"^def (\w+)", s, re.M)
    }
    redefined = set(re.findall(r"^def (\w+)", sources, re.M)) & public - stub_names
    assert not redefined, f"{path.name} redefines {sorted(redefined)} from the package"
