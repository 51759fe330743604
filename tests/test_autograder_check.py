"""``python -m autograder check``: the students' self-check (visible tests only) and the committed
sample class (not stale)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from _autograder_support import FIXTURE, SLUG, set_answer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fixture_notebooks(tmp_path_factory):
    from autograder.course import Course
    from autograder.samples import sample_notebooks

    ws = tmp_path_factory.mktemp("ws")
    course = Course.create([FIXTURE], ws)
    return sample_notebooks(FIXTURE, course.release_path(SLUG))


def check(folder: Path, name: str, *extra):
    # run from the notebook's folder, as the last cell of a chapter does
    return subprocess.run([sys.executable, "-m", "autograder", "check", name, *extra],
                          capture_output=True, text=True, cwd=folder, timeout=300)


@pytest.mark.slow
def test_self_check_scores_visible_tests(fixture_notebooks, tmp_path):
    stubs = fixture_notebooks["s03_untouched"]
    assert "autograder check" in stubs.cells[-1].source   # it ends with the self-check cell
    nbformat.write(stubs, tmp_path / f"{SLUG}.ipynb")
    res = check(tmp_path, f"{SLUG}.ipynb")
    assert res.returncode == 1, res.stderr
    assert "total" in res.stdout and "0/6" in res.stdout and res.stdout.count("FAIL") == 3
    assert "NotImplementedError" in res.stdout

    full = fixture_notebooks["s01_full_marks"]
    # a sigmoid that passes the visible test but overflows at -1000 (only hidden tests catch it)
    set_answer(full, "ex2-sigmoid", "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))")
    nbformat.write(full, tmp_path / "mine.ipynb")
    res = check(tmp_path, "mine", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = json.loads(res.stdout)
    assert [r["passed"] for r in rows] == [True, True, True]
    assert [r["exercise"] for r in rows] == ["ex1-square", "ex2-sigmoid", "ex3-count"]


@pytest.mark.slow
def test_self_check_of_an_instructor_source_strips_hidden_tests(tmp_path):
    shutil.copy(FIXTURE, tmp_path / FIXTURE.name)
    res = check(tmp_path, FIXTURE.name, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = json.loads(res.stdout)
    assert [r["checks_total"] for r in rows] == [1, 1, 1]    # one visible check each, no hidden one


def test_self_check_explains_a_missing_notebook(tmp_path):
    res = check(tmp_path, "nowhere.ipynb")
    assert res.returncode == 2 and "Save the notebook first" in res.stderr


def test_sample_class_is_not_stale():
    from autograder.samples import generate
    stale = generate(check=True)
    assert stale == [], f"run `python -m autograder.samples` ({len(stale)} stale: {stale[:3]})"


def test_every_chapter_ends_with_the_self_check_line():
    from autograder.release import chapter_sources, read_source
    for source in chapter_sources():
        last = [c for c in read_source(source).cells if c.cell_type == "code"][-1]
        assert last.source.strip() == f"!python -m autograder check {source.stem}.ipynb", source.name
