"""Finding the submissions to grade, in the three shapes instructors get them.

(a) nbgrader's layout: ``[submitted/]<student>/<assignment>/<notebook>.ipynb`` (an optional
    ``timestamp.txt`` beside it);
(b) a folder of loose notebooks named the way an LMS names its downloads, the student id in
    the name (:data:`LMS_PATTERNS`, or your own regular expression with a ``student`` group and
    an optional ``assignment`` or ``notebook`` group, matched against the path relative to the
    folder);
(c) the zip an LMS exports (either of the above inside; unpacked into a temporary folder, with
    the usual zip-slip and zip-bomb guards).

Nothing here writes to the submitted files: they are read, hashed and copied.

Every file becomes a :class:`Submission`; those that cannot be graded keep a ``status`` that
says why (``unrecognised_filename``, ``unknown_assignment``, ``invalid_notebook``,
``wrong_kernel``, ``missing_cells``, ``duplicate``) and are reported in the grades CSV.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: LMS download names, tried in order (matched against the path inside the folder or zip).
LMS_PATTERNS = {
    # Canvas: lastfirst_12345_6789012_Original-Name.ipynb, lastfirst_LATE_..., resubmissions -1, -2
    "canvas": r"^(?:.*/)?(?P<student>[A-Za-z0-9]+)(?:_LATE)?_\d+_\d+_(?P<notebook>.+?)(?:-(?P<attempt>\d+))?\.ipynb$",
    # Moodle: Full Name_12345_assignsubmission_file_/notebook.ipynb (or the file name appended)
    "moodle": r"^(?:.*/)?[^/]*?_(?P<student>\d+)_assignsubmission_file_/?(?:.*/)?(?P<notebook>[^/]+)\.ipynb$",
    # Blackboard: Assignment_student_attempt_2024-01-31-12-00-00_notebook.ipynb
    "blackboard": r"^(?:.*/)?.+?_(?P<student>[^_/]+)_attempt_(?P<attempt>[\d-]+)_(?P<notebook>[^/]+)\.ipynb$",
    # a folder per student: student/notebook.ipynb
    "folders": r"^(?P<student>[^/]+)/(?P<notebook>[^/]+)\.ipynb$",
    # student__notebook.ipynb
    "plain": r"^(?P<student>[^/_]+)__(?P<notebook>[^/]+)\.ipynb$",
}
IGNORED = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints|\.DS_Store)(/|$)|(^|/)\._")
MAX_UNZIPPED = 2 * 2**30
MAX_MEMBER = 200 * 2**20


@dataclass
class Submission:
    student: str
    assignment: str
    path: Path | None          # the notebook to grade (a temporary copy for zips)
    origin: str                # where it came from, as the instructor knows it
    status: str = "ok"
    detail: str = ""
    timestamp: str | None = None
    attempt: int = 0
    sha256: str = ""
    extra_files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SubmissionError(ValueError):
    pass


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def match_assignment(notebook: str, assignments: dict[str, str]) -> str | None:
    """The assignment whose notebook name matches (ignoring case, spaces, punctuation, an LMS
    ``-1`` suffix and a leading ``Copy of``)."""
    base = re.sub(r"(?i)^copy of ", "", notebook.strip())
    for cand in (base, re.sub(r"[-_ ]?\(?\d+\)?$", "", base)):
        want = _norm_name(cand)
        for name, nb in assignments.items():
            if want in (_norm_name(nb), _norm_name(name)):
                return name
    return None


def inspect_notebook(path: Path, expected_ids: set[str], language: str = "python") -> tuple[str, str]:
    """(status, detail) for a notebook file: can it be graded at all?"""
    import nbformat
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return "invalid_notebook", f"not a readable JSON notebook ({type(exc).__name__}: {str(exc)[:120]})"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # noqa: BLE001
        return "invalid_notebook", f"not a Jupyter notebook ({type(exc).__name__}: {str(exc)[:120]})"
    spec = nb.metadata.get("kernelspec", {}) or {}
    lang = str(spec.get("language") or nb.metadata.get("language_info", {}).get("name") or "").lower()
    name = str(spec.get("name", ""))
    bad = lang != language if lang else bool(name) and not re.match(
        r"(?i)^(python|py\d|conda|ipykernel|venv)", name)
    if bad:
        return "wrong_kernel", f"kernel {name or '?'} ({lang or '?'}); this assignment needs {language}"
    ids = {(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") for c in nb.cells}
    if expected_ids and not (ids & expected_ids):
        return "missing_cells", ("none of this assignment's graded cells is in the notebook (a different "
                                 "notebook, or every graded cell deleted)")
    del data
    return "ok", ""


def _safe_extract(zpath: Path, dest: Path) -> None:
    total = 0
    with zipfile.ZipFile(zpath) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or IGNORED.search(name):
                continue
            target = (dest / name).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep):
                raise SubmissionError(f"{zpath.name}: refusing a member outside the folder: {name!r}")
            if info.file_size > MAX_MEMBER:
                raise SubmissionError(f"{zpath.name}: member {name!r} is larger than {MAX_MEMBER >> 20} MiB")
            total += info.file_size
            if total > MAX_UNZIPPED:
                raise SubmissionError(f"{zpath.name}: unpacks to more than {MAX_UNZIPPED >> 30} GiB")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            if name.lower().endswith(".zip"):  # an LMS zip of zips (one per student)
                inner = target.with_suffix("")
                inner.mkdir(exist_ok=True)
                _safe_extract(target, inner)
                target.unlink()


def _is_nbgrader_layout(root: Path, assignments: dict[str, str]) -> bool:
    for student in root.iterdir() if root.is_dir() else []:
        if student.is_dir():
            for adir in student.iterdir():
                if adir.is_dir() and adir.name in assignments:
                    return True
    return False


def discover(path: Path | str, assignments: dict[str, str], *, pattern: str | None = None,
             assignment: str | None = None, expected_ids: dict[str, set[str]] | None = None,
             tmpdir: Path | None = None) -> list[Submission]:
    """Every submission under ``path`` (a folder, a zip or one notebook), with its status.

    Args:
        path: nbgrader's ``submitted/`` folder (or its parent), a folder of LMS downloads, an LMS
            zip, or a single notebook.
        assignments: assignment name -> notebook name (without ``.ipynb``) of every known assignment.
        pattern: a regular expression for LMS file names (groups ``student`` and optionally
            ``assignment`` / ``notebook`` / ``attempt``) or a key of :data:`LMS_PATTERNS`;
            default: try them all.
        assignment: grade every loose notebook as this assignment.
        expected_ids: assignment -> its grade ids (to recognise a notebook of another assignment);
            ``None``: do not open the notebooks yet (call :func:`check` later).
        tmpdir: where to unpack a zip (default: a new temporary folder; the caller removes it).
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.is_file() and path.suffix.lower() == ".zip":
        dest = Path(tmpdir or tempfile.mkdtemp(prefix="ag-zip-"))
        try:
            _safe_extract(path, dest)
        except zipfile.BadZipFile as exc:
            raise SubmissionError(f"{path} is not a readable zip file: {exc}") from None
        subs = discover(dest, assignments, pattern=pattern, assignment=assignment,
                        expected_ids=expected_ids)
        for s in subs:
            s.origin = f"{path.name}:{s.origin}"
        return subs
    if path.is_dir() and (path / "submitted").is_dir():
        path = path / "submitted"
    if path.is_dir() and _is_nbgrader_layout(path, assignments):
        subs = _nbgrader_layout(path, assignments)
    else:
        subs = _loose(path, assignments, pattern, assignment)
    subs = _dedupe(subs)
    if expected_ids is not None:
        check(subs, expected_ids)
    return sorted(subs, key=lambda s: (s.assignment, s.student, s.origin))


def check(subs: list[Submission], expected_ids: dict[str, set[str]]) -> None:
    """Hash every gradable notebook and set aside those that cannot be graded at all."""
    for s in subs:
        if s.ok and s.path is not None:
            s.sha256 = hashlib.sha256(s.path.read_bytes()).hexdigest()
            s.status, s.detail = inspect_notebook(s.path, expected_ids.get(s.assignment, set()))


def _nbgrader_layout(root: Path, assignments: dict[str, str]) -> list[Submission]:
    subs = []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()):
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            origin = f"{sdir.name}/{adir.name}"
            if adir.name not in assignments:
                subs.append(Submission(sdir.name, adir.name, None, origin, "unknown_assignment",
                                       f"no assignment named {adir.name!r}"))
                continue
            ts_file = adir / "timestamp.txt"
            ts = ts_file.read_text().strip() if ts_file.is_file() else None
            wanted = adir / f"{assignments[adir.name]}.ipynb"
            notebooks = sorted(p for p in adir.glob("*.ipynb") if not IGNORED.search(p.name))
            for nb in notebooks:
                if nb != wanted:
                    subs.append(Submission(sdir.name, adir.name, None, f"{origin}/{nb.name}",
                                           "unrecognised_filename",
                                           f"expected {wanted.name}, got {nb.name}"))
            extra = [p for p in adir.rglob("*") if p.is_file() and p.suffix != ".ipynb"
                     and p.name != "timestamp.txt" and not IGNORED.search(str(p))]
            if wanted.is_file():
                subs.append(Submission(sdir.name, adir.name, wanted, f"{origin}/{wanted.name}",
                                       timestamp=ts, extra_files=extra))
            elif not notebooks:
                subs.append(Submission(sdir.name, adir.name, None, origin, "missing_notebook",
                                       f"no {wanted.name} in {origin}"))
    return subs


def _loose(root: Path, assignments: dict[str, str], pattern: str | None,
           assignment: str | None) -> list[Submission]:
    if pattern:
        patterns = [LMS_PATTERNS.get(pattern, pattern)]
    else:
        patterns = list(LMS_PATTERNS.values())
    compiled = []
    for p in patterns:
        try:
            rx = re.compile(p)
        except re.error as exc:
            raise SubmissionError(f"invalid --pattern {p!r}: {exc}") from None
        if "student" not in rx.groupindex:
            raise SubmissionError(f"the --pattern {p!r} needs a named group (?P<student>...)")
        compiled.append(rx)
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not IGNORED.search(str(p.relative_to(root))))
    subs = []
    base = root.parent if root.is_file() else root
    for f in files:
        rel = f.relative_to(base).as_posix()
        if f.suffix.lower() != ".ipynb":
            continue
        m = next((m for rx in compiled for m in [rx.match(rel)] if m), None)
        if m is None:
            subs.append(Submission("", "", None, rel, "unrecognised_filename",
                                   "the file name matches no LMS pattern (see --pattern)"))
            continue
        g = m.groupdict()
        attempt = int(re.sub(r"\D", "", g.get("attempt") or "") or 0)
        name = g.get("assignment") or assignment
        if name is None:
            name = match_assignment(g.get("notebook") or "", assignments)
        elif name not in assignments:
            name = match_assignment(name, assignments) or name
        if name not in assignments:
            subs.append(Submission(g["student"], g.get("notebook") or "", None, rel, "unknown_assignment",
                                   f"{g.get('notebook')!r} is not the notebook of any assignment "
                                   f"({', '.join(sorted(assignments.values()))})"))
            continue
        subs.append(Submission(g["student"], name, f, rel, attempt=attempt))
    return subs


def _dedupe(subs: list[Submission]) -> list[Submission]:
    """One submission per (student, assignment): the latest attempt (then the newest file)."""
    best: dict[tuple, Submission] = {}
    for s in subs:
        if not s.ok:
            continue
        key = (s.student, s.assignment)
        cur = best.get(key)
        rank = (s.attempt, s.timestamp or "", s.path.stat().st_mtime if s.path else 0, s.origin)
        if cur is None or rank > (cur.attempt, cur.timestamp or "",
                                  cur.path.stat().st_mtime if cur.path else 0, cur.origin):
            best[key] = s
    for s in subs:
        if s.ok and best[(s.student, s.assignment)] is not s:
            keep = best[(s.student, s.assignment)]
            s.status, s.detail = "duplicate", f"superseded by {keep.origin}"
    return subs
