"""What grading hands back: the grades CSV, HTML feedback, Gradescope's results.json, the gradebook.

Everything a student reads is built here from the grader's own verdicts (points, the checks'
messages, hints, findings); no cell output, traceback or test source of the executed notebook
is copied, and every text passes :func:`autograder.verify.redact` (hidden-test lines removed)
once more before it is written.
"""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from .verify import FLAG_TEXT, ZEROING, redact

STATUS_TEXT = {
    "ok": "graded",
    "unrecognised_filename": "the file name does not say whose it is (see --pattern)",
    "unknown_assignment": "not a notebook of any known assignment",
    "invalid_notebook": "the file is not a valid notebook",
    "wrong_kernel": "the notebook is for another language",
    "missing_cells": "none of the assignment's graded cells is in the notebook",
    "missing_notebook": "no notebook in the submission folder",
    "duplicate": "an older submission (a newer one was graded)",
    "grading_error": "the grader failed on this submission (see detail)",
}


def _fmt(x) -> str:
    if x is None:
        return ""
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def row_flags(row: dict) -> list[str]:
    flags = []
    for r in row.get("results", []):
        flags += r.get("flags", [])
    for f in row.get("findings", []):
        if not f.get("tests"):
            flags.append(f["flag"])
    return sorted(set(flags))


def row_status(row: dict) -> str:
    """``ok``, a reason a submission was not graded, or the findings (``flagged: a, b``)."""
    if row["status"] != "ok":
        return row["status"]
    flags = row_flags(row)
    return "ok" if not flags else "flagged: " + ", ".join(flags)


def totals(row: dict) -> tuple[float | None, float]:
    res = row.get("results", [])
    total = sum(r["points"] or 0 for r in res)
    maximum = sum(r["max_points"] for r in res)
    return total, maximum


def write_csv(rows: list[dict], course, path: Path) -> None:
    """``grades.csv``: student, assignment, ex1..exN (points), total, maximum, status, detail."""
    n = max((len(course.assignment(s).exercises) + len(course.assignment(s).manual)
             for s in course.slugs), default=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment"] + [f"ex{i + 1}" for i in range(n)]
                   + ["total", "maximum", "status", "detail"])
        for row in sorted(rows, key=lambda r: (r["assignment"], r["student"], r["origin"])):
            max_score = (course.assignment(row["assignment"]).max_score
                         if row["assignment"] in course.slugs else "")
            if row["status"] == "ok" or row.get("results"):
                pts = [_fmt(r["points"]) for r in row["results"]]
                total, maximum = totals(row)
                detail = "; ".join(f"{f['flag']} ({f['detail']})" for f in row.get("findings", []))
            else:
                pts, total = [], 0
                maximum = max_score
                detail = f"{row['origin']}: {row.get('detail') or STATUS_TEXT.get(row['status'], '')}"
            w.writerow([row["student"], row["assignment"]] + pts + [""] * (n - len(pts))
                       + [_fmt(total), _fmt(maximum), row_status(row), detail[:500]])


def write_assignment_csvs(rows: list[dict], course, folder: Path) -> list[Path]:
    """One CSV per assignment with the exercises' grade ids as column names."""
    paths = []
    for slug in course.slugs:
        a = course.assignment(slug)
        cols = [ex.test_id for ex in a.exercises] + list(a.manual)
        mine = [r for r in rows if r["assignment"] == slug]
        if not mine:
            continue
        p = folder / f"{slug}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["student"] + cols + ["total", "maximum", "status"])
            for row in sorted(mine, key=lambda r: r["student"]):
                by_id = {r["grade_id"]: r["points"] for r in row.get("results", [])}
                total, maximum = totals(row) if row.get("results") else (0, a.max_score)
                w.writerow([row["student"]] + [_fmt(by_id.get(c, "")) for c in cols]
                           + [_fmt(total), _fmt(maximum), row_status(row)])
        paths.append(p)
    return paths


CSS = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem .6rem;vertical-align:top}
th{background:#f3f3f3;text-align:left}.ok{color:#1a7f37}.bad{color:#b42318}pre{white-space:pre-wrap;margin:0;
font-family:ui-monospace,monospace;font-size:.85rem}.flag{background:#fff4e5;border-left:4px solid #f79009;
padding:.5rem .8rem;margin:.5rem 0}small{color:#666}"""


def feedback_html(row: dict, assignment) -> str:
    """The feedback page of one student for one assignment (self-contained HTML, no scripts)."""
    e = html.escape
    secrets = assignment.secret_lines if assignment else []
    total, maximum = totals(row)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>Feedback: {e(row['assignment'])} ({e(row['student'])})</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{e(row['assignment'])}</h1><p>Student: <b>{e(row['student'])}</b> &middot; "
             f"score <b>{_fmt(total)} / {_fmt(maximum)}</b></p>"]
    if row["status"] != "ok" and not row.get("results"):
        parts.append(f"<p class='bad'>This submission was not graded: "
                     f"{e(STATUS_TEXT.get(row['status'], row['status']))}.</p>")
        if row.get("detail") and row["status"] != "grading_error":
            parts.append(f"<pre>{e(redact(row['detail'], secrets))}</pre>")
    parts.append("<table><tr><th>Exercise</th><th>Points</th><th>What the tests found</th></tr>")
    for r in row.get("results", []):
        cls = "ok" if r["passed"] else "bad"
        pts = "to be graded by hand" if r["points"] is None else f"{_fmt(r['points'])} / {_fmt(r['max_points'])}"
        title = f"Exercise {r['number']}: {r['title']}" if r.get("number") else r["title"]
        checks = "".join(
            f"<li class='{'ok' if c['passed'] else 'bad'}'>{e(c['name'])}: "
            f"{'passed' if c['passed'] else 'failed'}</li>" for c in r.get("checks", []))
        parts.append(f"<tr><td>{e(title)}</td><td class='{cls}'>{e(pts)}</td><td>"
                     f"<pre>{e(redact(r['message'], secrets))}</pre>"
                     + (f"<ul>{checks}</ul>" if checks else "") + "</td></tr>")
    parts.append("</table>")
    notes = []
    for f in row.get("findings", []):
        text = FLAG_TEXT.get(f["flag"], f["flag"])
        where = f" (cell {f['cell'] + 1})" if f.get("cell") is not None else ""
        if f["flag"] in ZEROING or f["flag"] == "solution_cell_missing":
            notes.append(f"<div class='flag'><b>{e(f['flag'])}</b>{e(where)}: {e(text)}<br>"
                         f"<small>{e(redact(f['detail'], secrets))}</small></div>")
    if notes:
        parts.append("<h2>What the grader noticed</h2>" + "".join(notes))
    parts.append("<p><small>Warnings printed by correct code cost nothing. Graded in a sandbox "
                 f"({e(row.get('sandbox') or '?')}); the verdicts were recomputed outside your "
                 "notebook.</small></p></body></html>")
    return redact("".join(parts), secrets)


def gradescope_json(row: dict, assignment) -> dict:
    """Gradescope's autograder ``results.json`` for one submission."""
    secrets = assignment.secret_lines if assignment else []
    total, maximum = totals(row)
    tests = []
    for r in row.get("results", []):
        title = f"Exercise {r['number']}: {r['title']}" if r.get("number") else r["title"]
        tests.append({"name": title, "score": r["points"] or 0, "max_score": r["max_points"],
                      "status": "passed" if r["passed"] else "failed",
                      "output": redact(r["message"], secrets), "visibility": "visible"})
    out = {"score": total, "tests": tests, "visibility": "visible", "stdout_visibility": "hidden"}
    if row["status"] != "ok" and not row.get("results"):
        out.update(score=0, output=f"Not graded: {STATUS_TEXT.get(row['status'], row['status'])}. "
                                   f"{redact(row.get('detail', ''), secrets)}")
    elif row_flags(row):
        out["output"] = "Flagged: " + ", ".join(row_flags(row))
    return out


def _public(row: dict, course) -> dict:
    a = course.assignment(row["assignment"]) if row["assignment"] in course.slugs else None
    secrets = a.secret_lines if a else []

    def scrub(v):
        if isinstance(v, str):
            return redact(v, secrets)
        if isinstance(v, dict):
            return {k: scrub(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [scrub(x) for x in v]
        return v
    return scrub({k: v for k, v in row.items() if k != "key"})


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "_"


def write_all(rows: list[dict], course, out_dir: Path, *, gradescope: bool = False) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"csv": out_dir / "grades.csv", "feedback": [], "gradescope": [],
             "json": out_dir / "grading.json"}
    write_csv(rows, course, files["csv"])
    # everything, machine-readable (instructors' tools; redacted like the feedback)
    files["json"].write_text(json.dumps([_public(r, course) for r in rows], indent=1, default=str))
    files["assignment_csvs"] = write_assignment_csvs(rows, course, out_dir / "by_assignment")
    for row in rows:
        if not row["student"] or row["status"] == "duplicate":
            continue
        a = course.assignment(row["assignment"]) if row["assignment"] in course.slugs else None
        p = out_dir / "feedback" / _safe(row["student"]) / f"{_safe(row['assignment'] or 'unknown')}.html"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(feedback_html(row, a), encoding="utf-8")
        files["feedback"].append(p)
        if gradescope:
            g = out_dir / "gradescope" / _safe(row["student"]) / _safe(row["assignment"] or "unknown") / "results.json"
            g.parent.mkdir(parents=True, exist_ok=True)
            g.write_text(json.dumps(gradescope_json(row, a), indent=1), encoding="utf-8")
            files["gradescope"].append(g)
    return files


def save_gradebook(rows: list[dict], course) -> None:
    """Write every graded submission into nbgrader's gradebook (``course.db_url``)."""
    from nbgrader.api import Gradebook, MissingEntry

    graded = [r for r in rows if r.get("results") and r["student"]]
    if not graded:
        return
    with Gradebook(course.db_url) as gb:
        for row in graded:
            gb.update_or_create_student(row["student"])
            kw = {"timestamp": row["timestamp"]} if row.get("timestamp") else {}
            gb.update_or_create_submission(row["assignment"], row["student"], **kw)
            for r in row["results"]:
                try:
                    grade = gb.find_grade(r["grade_id"], row["assignment"], row["assignment"],
                                          row["student"])
                except MissingEntry:
                    continue
                if r["points"] is not None:
                    grade.auto_score = r["points"]
                grade.needs_manual_grade = grade.manual_score is not None or r["points"] is None
                try:
                    sol = r["grade_id"].removesuffix("-tests")
                    comment = gb.find_comment(sol, row["assignment"], row["assignment"], row["student"])
                    comment.auto_comment = r["message"][:2000]
                except MissingEntry:
                    pass
            gb.db.commit()
