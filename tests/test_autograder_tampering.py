"""The grader against students who cheat, crash or submit broken files (issue 7, items 7 and 9).

One batch grades every case of ``_autograder_support.TAMPERING`` plus the malformed files, in
parallel, exactly as ``python -m autograder grade`` would; the tests then check each outcome.
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import re

import nbformat
import pytest

from _autograder_support import FIXTURE, SLUG, TAMPERING, malformed, write_nb

pytestmark = pytest.mark.slow


def _hashes(folder):
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def grading_course(tmp_path_factory):
    from autograder.course import Course
    from autograder.samples import solved
    from autograder.verify import nbg

    ws = tmp_path_factory.mktemp("agws")
    course = Course.create([FIXTURE], ws)
    release = nbformat.read(course.release_path(SLUG), as_version=4)
    source = nbformat.read(course.source_path(SLUG), as_version=4)
    answers = {nbg(c)["grade_id"]: solved(c.source) for c in source.cells if nbg(c).get("solution")}
    full = nbformat.from_dict(json.loads(nbformat.writes(release)))
    for cell in full.cells:
        if nbg(cell).get("grade_id") in answers:
            cell.source = answers[nbg(cell)["grade_id"]]
    return ws, course, release, full


@pytest.fixture(scope="session")
def tamper_run(grading_course, tmp_path_factory):
    from autograder.grade import GradeOptions, grade

    ws, course, release, full = grading_course
    root = tmp_path_factory.mktemp("submissions") / "submitted"
    for case in TAMPERING:
        nb = case.build(nbformat.from_dict(json.loads(nbformat.writes(full))))
        write_nb(nb, root / case.name / SLUG / f"{SLUG}.ipynb")
    expected_bad = malformed(root, release)
    before = _hashes(root)
    out = tmp_path_factory.mktemp("results")
    run = grade(root, [FIXTURE], GradeOptions(workspace=ws, out_dir=out, cell_timeout=10,
                                              notebook_timeout=180, memory_mb=2048,
                                              gradescope=True, progress=False))
    rows = {r["student"] or r["origin"]: r for r in run.results}
    return run, rows, expected_bad, before, root


@pytest.mark.parametrize("case", TAMPERING, ids=[c.name for c in TAMPERING])
def test_tampering_outcome(tamper_run, case):
    run, rows, *_ = tamper_run
    row = rows[case.name]
    assert row["status"] == "ok", row.get("detail")
    got = tuple(r["points"] for r in row["results"])
    assert got == tuple(float(p) for p in case.points), (case.name, got, row["findings"])
    for i, flags in case.flags.items():
        for flag in flags:
            assert flag in row["results"][i]["flags"], (case.name, i, row["results"][i]["flags"])
    from autograder.reports import row_status
    status = row_status(row)
    if case.name in ("full_marks", "warning_from_correct_code", "honest_extras"):
        assert status == "ok", status
    else:
        assert status.startswith("flagged: ") or got != (2.0, 3.0, 1.0), status


def test_malformed_submissions_are_reported_and_skipped(tamper_run):
    run, rows, expected_bad, *_ = tamper_run
    by_origin = {r["origin"].split("/")[0]: r for r in run.results}
    for student, status in expected_bad.items():
        row = by_origin[student]
        assert row["status"] == status, (student, row["status"], row["detail"])
        assert not row.get("results")
    text = run.files["csv"].read_text()
    for student, status in expected_bad.items():
        assert re.search(rf"^{student},.*,{status},", text, re.M) or status in text


def test_submitted_files_are_never_modified(tamper_run):
    run, rows, expected_bad, before, root = tamper_run
    assert _hashes(root) == before


def test_feedback_never_shows_hidden_tests_or_tracebacks(tamper_run, grading_course):
    run, rows, *_ = tamper_run
    ws, course, *_ = grading_course
    secrets = course.assignment(SLUG).secret_lines
    assert secrets, "the fixture has hidden tests"

    def strings(v):
        if isinstance(v, str):
            return [v]
        if isinstance(v, dict):
            return [x for val in v.values() for x in strings(val)]
        return [x for val in v for x in strings(val)] if isinstance(v, list) else []

    def readable(path):  # the text as written, unescaped (HTML) and decoded (JSON)
        text = path.read_text()
        try:
            decoded = "\n".join(strings(json.loads(text)))
        except ValueError:
            decoded = ""
        return text + html.unescape(text) + decoded

    student_facing = [readable(p) for p in run.files["feedback"] + run.files["gradescope"]]
    for text in student_facing + [readable(run.files["csv"]), readable(run.files["json"])]:
        for line in secrets:
            assert line not in text
    for text in student_facing:
        assert "BEGIN HIDDEN" not in text and "Traceback" not in text and "\x1b[" not in text
    # the exfiltration attempt really put the test cell's source into its error message
    exfil = rows["exfiltrate_hidden_tests"]["results"][0]
    assert "introspection" in exfil["flags"]
    assert any("[hidden test]" in c["message"] for c in exfil["checks"]), exfil["checks"]


def test_feedback_is_actionable(tamper_run):
    run, rows, *_ = tamper_run
    msg = rows["from_scratch_violation"]["results"][1]["message"]
    assert "scipy.special" in msg and "from scratch" in msg
    page = next(p for p in run.files["feedback"] if p.parent.name == "full_marks").read_text()
    assert "6 / 6" in page and "Exercise 2: a stable sigmoid from scratch" in page


def test_grades_csv_and_gradescope(tamper_run):
    run, rows, *_ = tamper_run
    with open(run.files["csv"]) as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:5] == ["student", "assignment", "ex1", "ex2", "ex3"]
    assert {"total", "maximum", "status"} <= set(table[0])
    full = next(r for r in table if r["student"] == "full_marks")
    assert (full["ex1"], full["ex2"], full["ex3"], full["total"], full["maximum"], full["status"]) == \
        ("2", "3", "1", "6", "6", "ok")
    for r in table:
        if r["total"]:
            assert float(r["total"]) <= float(r["maximum"]) == 6.0
    gs = json.loads(next(p for p in run.files["gradescope"] if p.parent.parent.name == "edit_points").read_text())
    assert gs["score"] == 4 and [t["max_score"] for t in gs["tests"]] == [2.0, 3.0, 1.0]


def test_grades_are_in_nbgraders_gradebook(tamper_run, grading_course):
    from nbgrader.api import Gradebook

    ws, course, *_ = grading_course
    with Gradebook(course.db_url) as gb:
        sub = gb.find_submission(SLUG, "full_marks")
        assert sub.score == 6 and sub.max_score == 6
        assert gb.find_submission(SLUG, "edit_points").score == 4
        assert gb.find_submission(SLUG, "edit_points").max_score == 6
