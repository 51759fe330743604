"""Run a chapter's exercise tests against any solution source: the grading-fairness tests of every chapter use
this (see tests/test_ch00_exercises.py for the pattern to copy).

    from exercise_harness import Chapter
    ch = Chapter("00_why_activation")
    result = ch.run("ex1-collapse", '''
    def collapse(layers):
        ...
    ''')
    assert result.full_marks, result.report()
    assert result.failed_checks == ["hidden: random and edge-case stacks"]

What happens: the chapter source (``solutions/NN_slug.md``) is read with jupytext; its setup cells (code cells
before the first exercise that are neither graded nor tagged ``experiment``) run once per call in a fresh
namespace; then the given solution source, then the exercise's test cell, hidden tests included, one
top-level statement at a time, so that every check gets a verdict even after one has failed. Points follow
nbgrader: the test cell's points if every check passes, else 0.
"""
from __future__ import annotations

import ast
import dataclasses
import textwrap
from pathlib import Path

import jupytext

from actlab import checks

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


def _python(source: str) -> str:
    """IPython magics and shell escapes become comments."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


@dataclasses.dataclass
class CheckOutcome:
    name: str
    passed: bool
    message: str


@dataclasses.dataclass
class ExerciseResult:
    grade_id: str
    points: float             # what nbgrader would award
    max_points: float
    checks: list              # CheckOutcome per check, in order
    errors: list              # exceptions that were not check failures (a broken test cell or solution)

    @property
    def full_marks(self) -> bool:
        return self.points == self.max_points

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def message(self, name: str) -> str:
        return next(c.message for c in self.checks if c.name == name)

    def report(self) -> str:
        lines = [f"{self.grade_id}: {self.points:g}/{self.max_points:g} points"]
        lines += [f"  {'ok  ' if c.passed else 'FAIL'} {c.name}" + ("" if c.passed else f"\n{textwrap.indent(c.message, '       ')}")
                  for c in self.checks]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


class Chapter:
    """A chapter source and its exercises, by ``grade_id``."""

    def __init__(self, slug: str, solutions_dir: Path = SOLUTIONS):
        self.path = Path(solutions_dir) / f"{slug}.md"
        self.nb = jupytext.read(self.path)
        self.setup: list[str] = []
        self.solutions: dict[str, str] = {}
        self.tests: dict[str, tuple[str, float]] = {}
        for cell in self.nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            if meta.get("solution"):
                self.solutions[meta["grade_id"]] = cell.source
            elif meta.get("grade"):
                self.tests[meta["grade_id"].removesuffix("-tests")] = (cell.source, float(meta["points"]))
            elif not self.solutions and "experiment" not in cell.metadata.get("tags", []):
                self.setup.append(_python(cell.source))

    @property
    def exercises(self) -> list[str]:
        return list(self.solutions)

    def solution(self, grade_id: str) -> str:
        """The instructor's solution cell with the nbgrader markers removed."""
        return "\n".join(line for line in self.solutions[grade_id].split("\n")
                         if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))

    def stub(self, grade_id: str) -> str:
        """What a student starts from: the solution cell with its answer replaced by nbgrader's stub."""
        out, inside = [], False
        for line in self.solutions[grade_id].split("\n"):
            if line.strip() == BEGIN_SOLUTION:
                inside = True
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()")
            elif line.strip() == END_SOLUTION:
                inside = False
            elif not inside:
                out.append(line)
        return "\n".join(out)

    def run(self, grade_id: str, solution_source: str, hidden: bool = True) -> ExerciseResult:
        """Grade ``solution_source`` (the code of a solution cell) with the exercise's test cell."""
        test_source, points = self.tests[grade_id]
        if not hidden:
            test_source = test_source.split("### BEGIN HIDDEN TESTS")[0]
        ns: dict = {"__name__": "__main__"}
        for code in self.setup:
            exec(compile(code, f"<{self.path.name} setup>", "exec"), ns)  # noqa: S102 - our own source
        errors = []
        try:
            exec(compile(textwrap.dedent(solution_source), "<solution>", "exec"), ns)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - a solution that does not even define its function
            errors.append(f"the solution cell raised {type(exc).__name__}: {exc}")
        outcomes: list[CheckOutcome] = []
        tree = ast.parse(_python(test_source))
        for stmt in tree.body:
            code = compile(ast.Module(body=[stmt], type_ignores=[]), "<test cell>", "exec")
            with checks.capture() as records:
                try:
                    exec(code, ns)  # noqa: S102
                except AssertionError:
                    pass  # the record says which check failed, and why
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"line {stmt.lineno}: {type(exc).__name__}: {exc}")
            outcomes += [CheckOutcome(r["name"], r["passed"], r["message"]) for r in records]
        ok = not errors and outcomes and all(o.passed for o in outcomes)
        return ExerciseResult(grade_id, points if ok else 0.0, points, outcomes, errors)


def fairness_tests(ch: Chapter, points: dict, check_names: dict, correct: dict, wrong: dict):
    """The three grading-fairness tests every chapter runs, for its test module to bind at top level:

        (test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
         test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(CH, POINTS, CHECKS, CORRECT, WRONG)

    ``points``: {grade_id: points}; ``check_names``: {grade_id: the names of its checks, in order};
    ``correct``: {grade_id: {label: source}} (full marks); ``wrong``: {grade_id: {label: (source, the checks that
    must fail, a phrase of the first failure's message)}} (zero points, failing exactly those checks)."""
    import pytest

    @pytest.mark.parametrize("grade_id", list(points))
    def test_the_instructor_solution_gets_full_marks_and_the_stub_none(grade_id):
        assert ch.tests[grade_id][1] == points[grade_id]
        result = ch.run(grade_id, ch.solution(grade_id))
        assert result.full_marks, result.report()
        assert [c.name for c in result.checks] == check_names[grade_id]
        stub = ch.run(grade_id, ch.stub(grade_id))
        assert stub.points == 0 and stub.failed_checks == check_names[grade_id], stub.report()
        assert "replace `raise NotImplementedError()`" in stub.checks[0].message

    @pytest.mark.parametrize("grade_id, label", [(g, k) for g, alts in correct.items() for k in alts])
    def test_correct_alternatives_get_full_marks(grade_id, label):
        result = ch.run(grade_id, correct[grade_id][label])
        assert result.full_marks, result.report()

    @pytest.mark.parametrize("grade_id, label", [(g, k) for g, alts in wrong.items() for k in alts])
    def test_typical_mistakes_lose_the_points_at_the_right_check(grade_id, label):
        source, must_fail, phrase = wrong[grade_id][label]
        result = ch.run(grade_id, source)
        assert result.points == 0 and not result.errors, result.report()
        assert result.failed_checks == must_fail, result.report()
        assert phrase in result.message(must_fail[0]), result.report()

    return (test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
            test_typical_mistakes_lose_the_points_at_the_right_check)
