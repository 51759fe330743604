"""Cells tagged ``experiment`` are skipped while grading: nothing graded may depend on them.

Two proofs for every chapter: a static one (no code cell that runs while grading reads a name that
only experiment cells define) and a dynamic one (the solution notebook, experiments skipped, passes
every check, visible and hidden, with the verdicts recomputed by the grader): the round trip's
full-marks sample student (test_autograder_roundtrip.py) and, here, the grading fixture graded both
ways with identical results.
"""
from __future__ import annotations

import ast
import builtins

import pytest

from autograder.cells import is_skipped
from autograder.release import chapter_sources, read_source
from autograder.verify import _python_only

CHAPTERS = chapter_sources()
IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit"}


def bound_and_free(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds (anywhere in it) and the names it reads without binding them."""
    tree = ast.parse(_python_only(source))
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, loaded - bound - set(dir(builtins)) - IPYTHON_NAMES


def experiment_dependencies(nb) -> list[str]:
    """(cell, name) pairs where a cell that runs while grading reads a name bound only by
    experiment cells before it."""
    problems, graded_bound, exp_bound = [], set(), set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, free = bound_and_free(cell.source)
        if is_skipped(cell):
            exp_bound |= bound
            continue
        for name in sorted(free & (exp_bound - graded_bound)):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            problems.append(f"cell {i + 1} {gid}: reads {name!r}, defined only in an experiment cell")
        graded_bound |= bound
    return problems


@pytest.mark.parametrize("source", CHAPTERS, ids=[s.stem for s in CHAPTERS])
def test_no_graded_cell_reads_what_only_experiments_define(source):
    nb = read_source(source)
    assert any(is_skipped(c) for c in nb.cells if c.cell_type == "code"), "no experiment cells?"
    assert experiment_dependencies(nb) == []


def test_the_static_check_catches_a_dependency():
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\ntable = np.ones(3)"),
                nbformat.v4.new_code_cell("def f(x):\n    return x + table.sum()"),
                nbformat.v4.new_code_cell("w = np.zeros(2)"),
                nbformat.v4.new_code_cell("print(w)")]
    nb.cells[0].metadata["tags"] = ["experiment"]
    nb.cells[2].metadata["tags"] = ["experiment"]
    assert experiment_dependencies(nb) == [
        "cell 2 : reads 'table', defined only in an experiment cell",
        "cell 4 : reads 'w', defined only in an experiment cell"]


@pytest.mark.slow
def test_grading_with_and_without_experiments_agrees(tmp_path):
    """The fixture's experiment cell sleeps 3 s: skipping it is faster and changes no score."""
    import nbformat
    from _autograder_support import FIXTURE, SLUG
    from autograder.course import Course
    from autograder.grade import GradeOptions, grade
    from autograder.samples import sample_notebooks

    ws = tmp_path / "ws"
    course = Course.create([FIXTURE], ws)
    subs = tmp_path / "submitted"
    for student, nb in sample_notebooks(FIXTURE, course.release_path(SLUG)).items():
        if student in ("s01_full_marks", "s05_first_half", "s11_syntax_error_first"):
            (subs / student / SLUG).mkdir(parents=True)
            nbformat.write(nb, subs / student / SLUG / f"{SLUG}.ipynb")
    runs = {}
    for skip in (True, False):
        run = grade(subs, [FIXTURE], GradeOptions(workspace=ws, out_dir=tmp_path / f"out{skip}",
                                                  skip_experiments=skip, progress=False))
        runs[skip] = {r["student"]: [x["points"] for x in r["results"]] for r in run.results}
    assert runs[True] == runs[False]
    assert runs[True]["s01_full_marks"] == [2.0, 3.0, 1.0]
