"""The authoring pipeline: solutions/NN_slug.md -> nbgrader -> chapters/NN_slug.ipynb.

Parametrized over every chapter source, so a new chapter is checked as soon as its source lands:
chapters/ is not stale, the authoring rules hold, every solution passes ``nbgrader validate`` and every stub
fails ``nbgrader validate --invert``. The fixture chapter (tests/fixtures/solutions/) runs through the same
machinery, and deliberately broken variants of it show that each check can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.release import (BEGIN_HIDDEN, CHAPTERS_DIR, END_HIDDEN, SETUP_CELL, chapter_sources,
                                check_source, generate_assignments, read_source, release, repository_url,
                                solution_notebook, source_problems, split_hidden,
                                validate_notebooks)

FIXTURE = Path(__file__).parent / "fixtures" / "solutions" / "98_fixture.md"
SOURCES = chapter_sources()
IDS = [s.stem for s in SOURCES]


# ------------------------------------------------------------------------------------------------ release


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory):
    """Every chapter regenerated from its source into a temporary folder: {slug: notebook text}."""
    course = tmp_path_factory.mktemp("course")
    return generate_assignments(SOURCES + [FIXTURE], course)


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_chapters_not_stale(source, regenerated):
    committed = CHAPTERS_DIR / f"{source.stem}.ipynb"
    assert committed.is_file(), f"{committed} is missing: run `python -m autograder release` and commit it"
    assert _normalized(committed.read_text(encoding="utf-8")) == _normalized(regenerated[source.stem]), (
        f"{committed} is stale: run `python -m autograder release` and commit chapters/")


def _normalized(text: str) -> dict:
    """A notebook without what may vary between equal notebooks (outputs, counts, language_info)."""
    nb = json.loads(text)
    nb["metadata"].pop("language_info", None)
    for cell in nb["cells"]:
        cell.pop("execution_count", None)
        cell.pop("outputs", None)
    return nb


def test_every_chapter_notebook_has_a_source():
    sources = {s.stem for s in SOURCES}
    orphans = [p.name for p in CHAPTERS_DIR.glob("*.ipynb") if p.stem not in sources]
    assert not orphans, f"chapters/ has notebooks without a source in solutions/: {orphans}"


def test_committed_notebooks_carry_no_outputs():
    for path in sorted(CHAPTERS_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not with_outputs, f"{path.name}: cells {with_outputs} carry outputs"


@pytest.mark.parametrize("source", SOURCES + [FIXTURE], ids=IDS + ["fixture"])
def test_student_notebook_has_no_solutions_or_hidden_tests(source, regenerated):
    text = regenerated[source.stem]
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{source.stem}: the student notebook contains {marker!r}"
    nb = nbformat.reads(text, as_version=4)
    shown = "\n".join(c.source for c in nb.cells)
    src = check_source(source)
    for cell in src.cells:
        for region in split_hidden(cell.source)[1]:
            for line in region.split("\n"):
                if len(line.strip()) >= 8 and line.strip() not in _visible_text(src):
                    assert line.strip() not in shown, f"{source.stem}: hidden test line in the notebook: {line!r}"
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs if c.cell_type == "code")


def _visible_text(nb) -> str:
    return "\n".join(split_hidden(c.source)[0] for c in nb.cells)


def test_student_notebook_installs_actlab_from_the_configured_repository(regenerated):
    nb = nbformat.reads(regenerated[FIXTURE.stem], as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == SETUP_CELL.format(url=repository_url())
    assert "https://github.com/" in first_code.source


def test_release_writes_only_what_changed(tmp_path):
    chapters = tmp_path / "chapters"
    first = release([FIXTURE], chapters_dir=chapters, course_dir=tmp_path / "course")
    assert [p.name for p in first.written] == ["98_fixture.ipynb"] and not first.unchanged
    again = release([FIXTURE], chapters_dir=chapters, course_dir=tmp_path / "course")
    assert not again.written and [p.name for p in again.unchanged] == ["98_fixture.ipynb"]
    (chapters / "98_fixture.ipynb").write_text("{}")
    check = release([FIXTURE], chapters_dir=chapters, course_dir=tmp_path / "course", check=True)
    assert check.stale and (chapters / "98_fixture.ipynb").read_text() == "{}", "--check must write nothing"


def test_regeneration_is_deterministic(tmp_path, regenerated):
    again = generate_assignments([FIXTURE], tmp_path / "course")
    assert again[FIXTURE.stem] == regenerated[FIXTURE.stem]


# ------------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_source_follows_the_authoring_rules(source):
    nb = read_source(source)
    assert source_problems(nb, source.name) == []
    exercises = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(exercises) >= 3, f"{source.name}: a chapter has at least 3 autograded exercises"


def test_fixture_follows_the_authoring_rules():
    assert source_problems(read_source(FIXTURE)) == []


def _broken(edit):
    nb = read_source(FIXTURE)
    solution = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    edit(nb, solution, nb.cells[solution], nb.cells[solution + 1])
    return "\n".join(source_problems(nb))


def test_rules_catch_a_duplicate_grade_id():
    def edit(nb, i, sol, test):
        test.metadata["nbgrader"]["grade_id"] = sol.metadata["nbgrader"]["grade_id"]
    assert "already used" in _broken(edit)


def test_rules_catch_missing_points():
    def edit(nb, i, sol, test):
        del test.metadata["nbgrader"]["points"]
    assert "points > 0" in _broken(edit)


def test_rules_catch_a_test_cell_not_right_after_its_solution():
    def edit(nb, i, sol, test):
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell("x = 1"))
    problems = _broken(edit)
    assert "followed directly by its test cell" in problems and "directly after its solution" in problems


def test_rules_catch_missing_hidden_tests():
    def edit(nb, i, sol, test):
        test.source = split_hidden(test.source)[0]
    assert "needs hidden tests" in _broken(edit)


def test_rules_catch_missing_visible_tests():
    def edit(nb, i, sol, test):
        test.source = "\n".join([BEGIN_HIDDEN] + split_hidden(test.source)[1] + [END_HIDDEN])
    assert "visible tests" in _broken(edit)


def test_rules_catch_points_that_disagree_with_the_heading():
    def edit(nb, i, sol, test):
        test.metadata["nbgrader"]["points"] = 5
    assert "heading says 2 points" in _broken(edit)


def test_rules_catch_a_graded_experiment_cell():
    def edit(nb, i, sol, test):
        sol.metadata["tags"] = ["experiment"]
    assert "cannot be tagged 'experiment'" in _broken(edit)


def test_rules_catch_a_wrong_test_grade_id():
    def edit(nb, i, sol, test):
        test.metadata["nbgrader"]["grade_id"] = "ex1-other"
    assert "expected 'ex1-fixture-abs-tests'" in _broken(edit)


# ------------------------------------------------------------------------------------------------ validate


@pytest.fixture(scope="session")
def validations(tmp_path_factory, regenerated):
    """Every ``nbgrader validate`` of the session at once, in parallel processes (one per core).

    Each solution must pass all its tests (hidden included); each student notebook must fail all of them
    (``--invert``). Two broken notebooks made from the fixture show that both verdicts can fail.
    """
    tmp = tmp_path_factory.mktemp("validate")
    tasks = []
    for source in SOURCES + [FIXTURE]:
        student = tmp / "students" / f"{source.stem}.ipynb"
        student.parent.mkdir(exist_ok=True)
        committed = CHAPTERS_DIR / f"{source.stem}.ipynb"
        student.write_text(committed.read_text() if committed.is_file() else regenerated[source.stem])
        tasks += [(solution_notebook(source, tmp / "solutions"), False, source.stem),
                  (student, True, source.stem)]

    wrong = check_source(FIXTURE)       # a wrong solution: must fail validate
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("solution"))
    cell.source = cell.source.replace("np.maximum(-x, 0)", "np.maximum(x, 0)")
    nbformat.write(wrong, tmp / "wrong_solution.ipynb")
    lenient = nbformat.reads(regenerated[FIXTURE.stem], as_version=4)   # tests a stub passes: must fail --invert
    test = next(c for c in lenient.cells if c.metadata.get("nbgrader", {}).get("grade"))
    test.source = "assert True"
    test.metadata["nbgrader"].pop("checksum", None)
    nbformat.write(lenient, tmp / "lenient_tests.ipynb")
    tasks += [(tmp / "wrong_solution.ipynb", False, "wrong-solution"),
              (tmp / "lenient_tests.ipynb", True, "lenient-tests")]
    return {(v.slug, v.invert): v for v in validate_notebooks(tasks, progress=False)}


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES + [FIXTURE], ids=IDS + ["fixture"])
def test_solution_passes_nbgrader_validate(source, validations):
    result = validations[(source.stem, False)]
    assert result.ok, f"nbgrader validate {source.name} failed:\n{result.details}"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES + [FIXTURE], ids=IDS + ["fixture"])
def test_every_stub_fails_nbgrader_validate_invert(source, validations):
    result = validations[(source.stem, True)]
    assert result.ok, f"nbgrader validate --invert chapters/{source.stem}.ipynb: a test passes on the stubs:\n{result.details}"


@pytest.mark.slow
def test_validate_can_fail(validations):
    wrong = validations[("wrong-solution", False)]
    assert not wrong.ok and "failed" in wrong.details
    lenient = validations[("lenient-tests", True)]
    assert not lenient.ok and "passed" in lenient.details


# ------------------------------------------------------------------------------------------------ site pages


@pytest.mark.parametrize("title", ["Worked solution: Exercise 1 (plain)",
                                   "Worked solution: Exercise 3 (a `torch.autograd.Function`)"])
@pytest.mark.parametrize("answer", ["y = x\n", "s = '''\n```\n~~~~~\n'''\n"])
def test_solution_toggle_parses_as_one_admonition(title, answer):
    """The toggle must reach Sphinx as a directive even when its title holds backticks (a backtick fence's
    info string may not) and its answer holds fences of either kind."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    from autograder.site import solution_toggle

    cell = nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{answer}### END SOLUTION\n")
    toggle = solution_toggle(cell, title, "c1-solution")
    tokens = create_md_parser(MdParserConfig(enable_extensions={"colon_fence"}), RendererHTML).parse(toggle.source)
    assert [t.type for t in tokens] == ["fence"], toggle.source
    assert tokens[0].info == "{admonition} " + title
    assert answer.strip("\n") in tokens[0].content


def test_rules_catch_a_test_cell_the_grader_cannot_replay():
    """A check whose cases use a notebook variable (here SCALE) would flag every honest student as a forger."""
    def cell(expected):
        check = ("checks.check_function(fixture_abs, checks.cases.literal(checks.case(\n"
                 f"    'x = -2', -2.0, expected={expected})), exercise='ex1-fixture-abs', name='{{}}')\n")
        return ("from actlab import checks\n" + check.format("visible: -2") + BEGIN_HIDDEN + "\n"
                + check.format("hidden: -2") + END_HIDDEN + "\n")

    def edit(nb, i, sol, test):
        test.source = cell("SCALE")
    problems = _broken(edit)
    assert "cannot replay this test cell" in problems and "only the notebook defines" in problems

    def fine(nb, i, sol, test):   # the same checks with a literal pass the rules
        test.source = cell("2.0")
    assert _broken(fine) == ""


def test_page_kernels_talk_over_unix_sockets(tmp_path, capfd):
    """The book's page kernels use ZeroMQ's ipc transport: no "Kernel is running over TCP without encryption"
    warning per chapter in `make book`, and the notebook still runs."""
    from autograder.site import _execute_one

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    _, text, seconds, error = _execute_one(str(path), timeout=60, threads=1)
    assert error is None and seconds > 0
    assert nbformat.reads(text, as_version=4).cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in "".join(capfd.readouterr())
