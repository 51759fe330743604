"""Finding submissions: nbgrader's layout, LMS folders and zips (autograder/submissions.py), and the
cache and the CLI around grading them."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from _autograder_support import FIXTURE, SLUG
from autograder.submissions import SubmissionError, discover, match_assignment

ASSIGNMENTS = {SLUG: SLUG, "00_why_activation": "00_why_activation"}
ROOT = Path(__file__).resolve().parents[1]


def nb_text(kernel="python3", language="python", cells=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": language}
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = {"grade_id": "ex1-square", "grade": False, "solution": True,
                                 "locked": False, "schema_version": 3}
    nb.cells = cells if cells is not None else [cell]
    return nbformat.writes(nb)


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def by_student(subs):
    return {s.student or s.origin: s for s in subs}


def test_nbgrader_layout(tmp_path):
    root = tmp_path / "course" / "submitted"
    put(root / "alice" / SLUG / f"{SLUG}.ipynb", nb_text())
    put(root / "alice" / SLUG / "timestamp.txt", "2024-05-01 12:00:00")
    put(root / "bob" / SLUG / f"{SLUG}.ipynb", nb_text())
    put(root / "bob" / SLUG / "scratch.ipynb", nb_text())
    put(root / "carol" / "99_unknown" / "99_unknown.ipynb", nb_text())
    subs = discover(tmp_path / "course", ASSIGNMENTS)   # the course folder or submitted/ itself
    assert [(s.student, s.status) for s in subs if s.ok] == [("alice", "ok"), ("bob", "ok")]
    assert by_student(subs)["alice"].timestamp == "2024-05-01 12:00:00"
    assert {s.status for s in subs if not s.ok} == {"unrecognised_filename", "unknown_assignment"}


@pytest.mark.parametrize("name, student", [
    (f"smithjohn_12345_6789012_{SLUG}.ipynb", "smithjohn"),                      # Canvas
    (f"smithjohn_LATE_12345_6789012_{SLUG}-2.ipynb", "smithjohn"),               # Canvas, late, resubmitted
    (f"John Smith_4242_assignsubmission_file_/{SLUG}.ipynb", "4242"),             # Moodle folder
    (f"Week 1_jsmith_attempt_2024-01-31-12-00-00_{SLUG}.ipynb", "jsmith"),        # Blackboard
    (f"jsmith/{SLUG}.ipynb", "jsmith"),                                           # a folder per student
    (f"jsmith__{SLUG}.ipynb", "jsmith"),                                          # plain
    (f"smithjohn_12345_6789012_Copy of {SLUG} (1).ipynb", "smithjohn"),
])
def test_lms_names(tmp_path, name, student):
    put(tmp_path / "lms" / name, nb_text())
    subs = discover(tmp_path / "lms", ASSIGNMENTS)
    assert [(s.student, s.assignment, s.status) for s in subs] == [(student, SLUG, "ok")]


def test_lms_problems_and_custom_pattern(tmp_path):
    lms = tmp_path / "lms"
    put(lms / f"smithjohn_1_2_{SLUG}.ipynb", nb_text())
    put(lms / f"smithjohn_1_3_{SLUG}-1.ipynb", nb_text())          # a resubmission: supersedes
    put(lms / "homework.ipynb", nb_text())                          # no student id
    put(lms / "doe_1_2_some_other_notebook.ipynb", nb_text())      # not an assignment
    put(lms / f"roe_1_2_{SLUG}.ipynb", "{ not json")
    put(lms / f"poe_1_2_{SLUG}.ipynb", nb_text(kernel="ir", language="R"))
    put(lms / f"moe_1_2_{SLUG}.ipynb", nb_text(cells=[]))
    put(lms / "notes.txt", "not a notebook")
    subs = discover(lms, ASSIGNMENTS, expected_ids={SLUG: {"ex1-square"}})
    status = {(s.student, s.origin): s.status for s in subs}
    assert status[("smithjohn", f"smithjohn_1_3_{SLUG}-1.ipynb")] == "ok"
    assert status[("smithjohn", f"smithjohn_1_2_{SLUG}.ipynb")] == "duplicate"
    assert status[("", "homework.ipynb")] == "unrecognised_filename"
    assert status[("doe", "doe_1_2_some_other_notebook.ipynb")] == "unknown_assignment"
    assert status[("roe", f"roe_1_2_{SLUG}.ipynb")] == "invalid_notebook"
    assert status[("poe", f"poe_1_2_{SLUG}.ipynb")] == "wrong_kernel"
    assert status[("moe", f"moe_1_2_{SLUG}.ipynb")] == "missing_cells"
    # a custom pattern: student id first, then the assignment, dashes between
    put(tmp_path / "custom" / f"s1234-{SLUG}.ipynb", nb_text())
    subs = discover(tmp_path / "custom", ASSIGNMENTS, pattern=r"^(?P<student>s\d+)-(?P<assignment>.+)\.ipynb$")
    assert [(s.student, s.assignment, s.status) for s in subs] == [("s1234", SLUG, "ok")]
    with pytest.raises(SubmissionError, match="student"):
        discover(tmp_path / "custom", ASSIGNMENTS, pattern=r"^(?P<who>.+)\.ipynb$")


def test_lms_zip_and_guards(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(f"smithjohn_1_2_{SLUG}.ipynb", nb_text())
        zf.writestr(f"__MACOSX/._smithjohn_1_2_{SLUG}.ipynb", "junk")
        inner = tmp_path / "inner.zip"
        with zipfile.ZipFile(inner, "w") as zi:
            zi.writestr(f"doejane_1_2_{SLUG}.ipynb", nb_text())
        zf.write(inner, "per-student.zip")
    before = hashlib.sha256(z.read_bytes()).hexdigest()
    subs = discover(z, ASSIGNMENTS, tmpdir=tmp_path / "unz")
    assert sorted((s.student, s.status) for s in subs) == [("doejane", "ok"), ("smithjohn", "ok")]
    assert all(s.origin.startswith("export.zip:") for s in subs)
    assert hashlib.sha256(z.read_bytes()).hexdigest() == before
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.ipynb", nb_text())
    with pytest.raises(SubmissionError, match="outside"):
        discover(evil, ASSIGNMENTS, tmpdir=tmp_path / "unz2")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(SubmissionError, match="zip"):
        discover(tmp_path / "broken.zip", ASSIGNMENTS, tmpdir=tmp_path / "unz3")


def test_match_assignment():
    assert match_assignment("00 Why Activation", ASSIGNMENTS) == "00_why_activation"
    assert match_assignment(f"Copy of {SLUG}", ASSIGNMENTS) == SLUG
    assert match_assignment(f"{SLUG}-3", ASSIGNMENTS) == SLUG
    assert match_assignment("homework", ASSIGNMENTS) is None


@pytest.mark.slow
def test_grade_an_lms_zip_from_the_command_line_with_the_cache(tmp_path):
    """The CLI on an LMS zip: grades, CSV, feedback, results.json; a second run is all cache hits;
    changing one notebook regrades only that one."""
    from autograder.course import Course
    from autograder.samples import sample_notebooks

    ws = tmp_path / "ws"
    course = Course.create([FIXTURE], ws)
    students = sample_notebooks(FIXTURE, course.release_path(SLUG))
    z = tmp_path / "canvas.zip"
    picked = ["s01_full_marks", "s03_untouched", "s05_first_half"]
    with zipfile.ZipFile(z, "w") as zf:
        for i, name in enumerate(picked):
            zf.writestr(f"{name.replace('_', '')}_{100 + i}_{200 + i}_{SLUG}.ipynb", nbformat.writes(students[name]))
        zf.writestr("readme.ipynb", nbformat.writes(students["s01_full_marks"]))
    out = tmp_path / "out"
    db_url = f"sqlite:///{tmp_path / 'elsewhere' / 'class.db'}"
    (tmp_path / "elsewhere").mkdir()

    def cli(*extra):
        cmd = [sys.executable, "-m", "autograder", "grade", str(z), "--source", str(FIXTURE),
               "--workspace", str(ws), "-o", str(out), "--gradescope", "-q", "--db-url", db_url, *extra]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)

    first = cli()
    assert first.returncode == 0, first.stderr[-3000:]
    assert "3 graded, 0 from the cache" in first.stdout, first.stdout
    with open(out / "grades.csv") as f:
        rows = {r["student"] or r["detail"]: r for r in csv.DictReader(f)}
    assert rows["s01fullmarks"]["total"] == "6" and rows["s03untouched"]["total"] == "0"
    assert rows["s05firsthalf"]["total"] == "5"
    assert any(r["status"] == "unrecognised_filename" for r in rows.values())
    assert (out / "feedback" / "s01fullmarks" / f"{SLUG}.html").is_file()
    gs = json.loads((out / "gradescope" / "s05firsthalf" / SLUG / "results.json").read_text())
    assert gs["score"] == 5 and len(gs["tests"]) == 3
    second = cli()
    assert "0 graded, 3 from the cache" in second.stdout, second.stdout
    assert (out / "grades.csv").read_text() == (out / "grades.csv").read_text()
    # one student resubmits: only that notebook is graded again
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(f"s03untouched_101_201_{SLUG}-1.ipynb", nbformat.writes(students["s07_only_first"]))
    third = cli()
    assert "1 graded, 2 from the cache" in third.stdout, third.stdout
    with open(out / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f) if r["status"] != "duplicate"}
    assert rows["s03untouched"]["total"] == "2"
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:   # nbgrader's gradebook at the --db-url given
        assert gb.find_submission(SLUG, "s05firsthalf").score == 5
        assert gb.find_submission(SLUG, "s03untouched").score == 2
