"""The authoring pipeline: one source per chapter, everything else generated from it.

``solutions/NN_slug.md`` (a MyST Markdown notebook, read with jupytext) is the single source of a chapter.
``release()`` checks it against the rules of ``solutions/AUTHORING.md``, writes it into nbgrader's course
directory (``build/nbgrader/source/NN_slug/NN_slug.ipynb``), runs nbgrader's ``generate_assignment``
(solutions become stubs, hidden tests are removed, cells are locked and checksummed) and copies the result
to ``chapters/NN_slug.ipynb``: the student notebook, committed, without outputs.

``validate_chapters()`` runs ``nbgrader validate`` on every solution (all tests, hidden ones included, must
pass) and ``nbgrader validate --invert`` on every student notebook (every test must fail on the stubs), in
parallel processes.
"""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

from .myst_to_jupyter import student_markdown
from .nbgrader_config import EXPERIMENT_TAG, nbgrader_config

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = ROOT / "solutions"
CHAPTERS_DIR = ROOT / "chapters"
BUILD_DIR = ROOT / "build"
COURSE_DIR = BUILD_DIR / "nbgrader"

#: Only ``NN_slug.md`` files are chapters (two digits, an underscore); AUTHORING.md is not.
CHAPTER_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.md$")
EXERCISE_HEADING = re.compile(
    r"^###\s+Exercise\s+(\d+)\s*:\s*(.+?)\s*\((\d+(?:\.\d+)?)\s+points?\)\s*$", re.MULTILINE
)
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Notebook metadata that a student notebook keeps; everything else (jupytext pairing, ...) is dropped.
KEPT_NOTEBOOK_METADATA = ("kernelspec",)
#: The first code cell of every student notebook: where `actlab` is missing (Google Colab), install it
#: from the repository named in _config.yml.
SETUP_CELL = """\
# Setup: on Google Colab (or wherever the book's library is missing) install `actlab` from the repository.
try:
    import actlab
except ImportError:
    %pip install --quiet "actlab @ git+{url}"
    import actlab"""


class SourceError(ValueError):
    """A chapter source breaks the authoring rules (solutions/AUTHORING.md)."""


# --------------------------------------------------------------------------------------------------
# reading a source


def chapter_sources(solutions_dir: Path | str = SOLUTIONS_DIR) -> list[Path]:
    """All chapter sources ``NN_slug.md`` in ``solutions_dir``, in chapter order."""
    solutions_dir = Path(solutions_dir)
    return sorted(p for p in solutions_dir.glob("*.md") if CHAPTER_NAME.match(p.name))


def _stable_ids(nb: NotebookNode) -> None:
    """Give every cell an id derived from its content, so regenerated notebooks are byte-identical."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def read_source(path: Path | str) -> NotebookNode:
    """Read a chapter source (MyST Markdown via jupytext) as a notebook with stable cell ids."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no chapter source at {path}")
    nb = jupytext.read(path)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    _stable_ids(nb)
    return nb


# --------------------------------------------------------------------------------------------------
# the authoring rules


def nbgrader_meta(cell: NotebookNode) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_solution(cell: NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell: NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """Split a test cell into its visible part and its hidden-test regions (markers excluded)."""
    visible, hidden, current = [], [], None
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            current = []
        elif END_HIDDEN in line and current is not None:
            hidden.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
        else:
            visible.append(line)
    return "\n".join(visible), hidden


def strip_solution_markers(source: str) -> str:
    """The worked solution as a reader should see it: the solution markers removed."""
    return "\n".join(
        line for line in source.split("\n") if BEGIN_SOLUTION not in line and END_SOLUTION not in line
    )


def _code_lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if ln.strip() and not ln.strip().startswith("#")]


def _check_heading(cells: list, i: int, number: int, points, where: str, problems: list[str]) -> None:
    """The markdown cell before an exercise's answer cell carries ``### Exercise N: title (P points)``."""
    prev = cells[i - 1] if i > 0 else None
    headings = EXERCISE_HEADING.findall(prev.source) if prev is not None and prev.cell_type == "markdown" else []
    if not headings:
        problems.append(f"{where}: the markdown cell before it must hold the heading "
                        f"'### Exercise {number}: title (P points)'")
        return
    n, _title, p = headings[-1]
    if int(n) != number:
        problems.append(f"{where}: heading says Exercise {n}, expected Exercise {number} (exercises are "
                        "numbered 1, 2, ... in order)")
    if points is not None and float(p) != float(points):
        problems.append(f"{where}: heading says {p} points but the nbgrader metadata says {points}")


def source_problems(nb: NotebookNode, name: str = "notebook") -> list[str]:
    """Every way ``nb`` breaks the authoring rules of solutions/AUTHORING.md (empty list: none).

    Checked: the python3 kernel; nbgrader metadata (schema 3, unique grade ids, points); each code solution
    cell is followed by its test cell ``<grade_id>-tests``; each test cell has visible tests and a
    non-empty hidden-test region, and the grader can replay it from literals and imports alone; the
    exercise heading and its points; no ``experiment`` tag on graded cells; solution and hidden-test markers
    only in the cells meant for them.
    """
    problems: list[str] = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{name}: the kernelspec must be python3 (see the jupytext header in AUTHORING.md)")
    cells = nb.cells
    seen_ids: dict[str, int] = {}
    number = 0
    for i, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        where = f"{name}, cell {i + 1}" + (f" ({meta['grade_id']})" if meta.get("grade_id") else "")
        src = cell.source
        if cell.cell_type == "code" and cell.get("outputs"):
            problems.append(f"{where}: committed sources carry no outputs")
        if BEGIN_SOLUTION in src and not meta.get("solution"):
            problems.append(f"{where}: '{BEGIN_SOLUTION}' outside a solution cell")
        if BEGIN_HIDDEN in src and not meta.get("grade"):
            problems.append(f"{where}: '{BEGIN_HIDDEN}' outside a test cell")
        if not meta:
            continue
        gid = meta.get("grade_id")
        if not gid:
            problems.append(f"{where}: nbgrader metadata without a grade_id")
        elif gid in seen_ids:
            problems.append(f"{where}: grade_id {gid!r} already used by cell {seen_ids[gid] + 1}")
        else:
            seen_ids[gid] = i
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader schema_version must be 3")
        if EXPERIMENT_TAG in cell.metadata.get("tags", []):
            problems.append(f"{where}: a graded cell cannot be tagged '{EXPERIMENT_TAG}'")

        if meta.get("solution") and cell.cell_type == "code":
            number += 1
            if meta.get("grade") or meta.get("locked"):
                problems.append(f"{where}: a code solution cell has grade: false and locked: false")
            if BEGIN_SOLUTION not in src or END_SOLUTION not in src:
                problems.append(f"{where}: a solution cell wraps its answer in '{BEGIN_SOLUTION}' ... "
                                f"'{END_SOLUTION}'")
            if gid and not gid.startswith(f"ex{number}-"):
                problems.append(f"{where}: grade_id should start with 'ex{number}-' (exercise {number})")
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is None or not is_test(nxt):
                problems.append(f"{where}: a solution cell must be followed directly by its test cell")
                _check_heading(cells, i, number, None, where, problems)
                continue
            test_meta = nbgrader_meta(nxt)
            if gid and test_meta.get("grade_id") != f"{gid}-tests":
                problems.append(f"{where}: its test cell's grade_id is {test_meta.get('grade_id')!r}, "
                                f"expected {gid + '-tests'!r}")
            _check_heading(cells, i, number, test_meta.get("points"), where, problems)
        elif meta.get("solution"):  # a written answer, graded by hand
            number += 1
            if not meta.get("grade") or not meta.get("points"):
                problems.append(f"{where}: a written-answer cell needs grade: true and points")
            _check_heading(cells, i, number, meta.get("points"), where, problems)
        elif is_test(cell):
            if not meta.get("locked"):
                problems.append(f"{where}: a test cell is locked: true")
            points = meta.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                problems.append(f"{where}: a test cell needs points > 0")
            prev = cells[i - 1] if i > 0 else None
            if prev is None or not (is_solution(prev) and prev.cell_type == "code"):
                problems.append(f"{where}: a test cell must come directly after its solution cell")
            visible, hidden = split_hidden(src)
            if src.count(BEGIN_HIDDEN) != src.count(END_HIDDEN):
                problems.append(f"{where}: unbalanced '{BEGIN_HIDDEN}' / '{END_HIDDEN}'")
            if not _code_lines(visible):
                problems.append(f"{where}: a test cell starts with visible tests a student can run")
            if not hidden or not any(_code_lines(h) for h in hidden):
                problems.append(f"{where}: a test cell needs hidden tests between '{BEGIN_HIDDEN}' and "
                                f"'{END_HIDDEN}'")
            problems += [f"{where}: {p}" for p in _replay_problems(nb, src)]
    return problems


def _replay_problems(nb: NotebookNode, test_source: str) -> list[str]:
    """What stops the grader from rebuilding a test cell's checks on its own (autograder.verify replays the
    cell with the notebook's imports only, so a check that uses a notebook variable would call every
    honest student a forger). Only cells that make their checks with ``actlab.checks`` are replayed: plain
    ``assert`` cells (the pipeline's fixture) are nbgrader's own business."""
    from .verify import _imports_of, trusted_specs
    if "checks." not in test_source:
        return []
    try:
        trusted_specs(test_source, _imports_of(nb))
    except Exception as exc:  # noqa: BLE001 - reported to the author
        return [f"the grader cannot replay this test cell: {type(exc).__name__}: {exc}"]
    return []


def check_source(path: Path | str) -> NotebookNode:
    """Read a chapter source and raise ``SourceError`` listing every broken authoring rule."""
    path = Path(path)
    nb = read_source(path)
    problems = source_problems(nb, name=_display(path))
    if problems:
        raise SourceError("\n".join([f"{_display(path)} breaks the authoring rules "
                                     "(solutions/AUTHORING.md):"] + [f"  - {p}" for p in problems]))
    return nb


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# generating the student notebooks


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository URL, written once in the book's _config.yml."""
    import yaml

    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config} sets no repository.url")
    return url.rstrip("/")


def with_setup_cell(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` with ``SETUP_CELL`` before its first code cell."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(SETUP_CELL.format(url=repository_url()))
    cell.id = "setup-actlab"
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    return nb


def _with_venv_on_path() -> None:
    """nbgrader shells out to ``alembic`` (the gradebook's migrations): make the running env's bin visible."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def student_text(nb: NotebookNode) -> str:
    """A student notebook as committed: no outputs, only stable metadata, a trailing newline."""
    nb = copy.deepcopy(nb)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def generate_assignments(sources: list[Path], course_dir: Path | str = COURSE_DIR) -> dict[str, str]:
    """Run nbgrader ``generate_assignment`` on each source; return {slug: student notebook text}.

    One nbgrader assignment per chapter, named by its slug, holding one notebook of the same name.
    """
    from nbgrader.apps import NbGraderAPI

    course_dir = Path(course_dir).resolve()
    _with_venv_on_path()
    notebooks = {path.stem: check_source(path) for path in sources}
    paths = {path.stem: path for path in sources}
    for slug, nb in notebooks.items():
        for sub in ("source", "release"):
            shutil.rmtree(course_dir / sub / slug, ignore_errors=True)
        (course_dir / "source" / slug).mkdir(parents=True)
        # markdown cells: MyST-only syntax rewritten as Markdown that Jupyter and Colab render
        nb = student_markdown(nb, paths[slug])
        nbformat.write(with_setup_cell(nb), course_dir / "source" / slug / f"{slug}.ipynb")
    api = NbGraderAPI(config=nbgrader_config(course_dir))
    result = {}
    for slug in notebooks:
        out = api.generate_assignment(slug, force=True, create=True)
        if not out["success"]:
            raise RuntimeError(f"nbgrader generate_assignment failed for {slug}:\n{out['error']}\n{out['log']}")
        released = nbformat.read(course_dir / "release" / slug / f"{slug}.ipynb", as_version=4)
        result[slug] = student_text(released)
    return result


@dataclass
class ReleaseReport:
    written: list[Path] = field(default_factory=list)    # new or changed student notebooks
    unchanged: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)    # chapters/*.ipynb without a source (removed)

    @property
    def stale(self) -> bool:
        return bool(self.written or self.orphans)


def release(sources: list[Path] | None = None, *, chapters_dir: Path | str = CHAPTERS_DIR,
            course_dir: Path | str = COURSE_DIR, check: bool = False) -> ReleaseReport:
    """Regenerate the student notebooks ``chapters_dir/NN_slug.ipynb`` from their sources.

    Args:
        sources: chapter sources; default: every ``solutions/NN_*.md`` (then student notebooks without a
            source are removed).
        chapters_dir: where the student notebooks go.
        course_dir: nbgrader's course directory (a build folder).
        check: only report what would change; write nothing.
    """
    everything = sources is None
    sources = chapter_sources() if sources is None else [Path(s) for s in sources]
    chapters_dir = Path(chapters_dir)
    texts = generate_assignments(sources, course_dir)
    report = ReleaseReport()
    for slug, text in texts.items():
        target = chapters_dir / f"{slug}.ipynb"
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            report.unchanged.append(target)
            continue
        report.written.append(target)
        if not check:
            chapters_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if everything:
        for nb_path in sorted(chapters_dir.glob("*.ipynb")):
            if nb_path.stem not in texts:
                report.orphans.append(nb_path)
                if not check:
                    nb_path.unlink()
    return report


# --------------------------------------------------------------------------------------------------
# nbgrader validate


@dataclass
class Validation:
    slug: str
    invert: bool          # False: the solution must pass every test; True: the stubs must fail every test
    ok: bool
    seconds: float
    details: str          # nbgrader's findings, readable


def _validate(path: str, invert: bool, slug: str) -> Validation:
    """Run nbgrader's Validator (what ``nbgrader validate [--invert]`` runs) on a copy of ``path``."""
    from nbgrader.validator import Validator

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"validate-{slug}-") as tmp:
        copy_path = Path(tmp) / Path(path).name
        shutil.copyfile(path, copy_path)
        config = nbgrader_config(Path(tmp) / "course")
        config.Validator.invert = invert
        # the kernel on Unix sockets in this folder, not on TCP ports: with several validations at once, a port
        # that jupyter_client found free could be taken by another kernel before this one bound it (in CI:
        # "ZMQError: Address already in use", then "Kernel died before replying to kernel_info")
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(tmp) / "kernel")
        results = Validator(config=config).validate(str(copy_path))
    lines = []
    for key in ("type_changed", "changed", "failed", "passed"):
        for cell in results.get(key, []):
            first = cell["source"].split("\n", 1)[0]
            extra = cell.get("raw_error", "").strip().split("\n")[-1:] if key == "failed" else []
            lines.append(f"{key}: {first} {' '.join(extra)}".rstrip())
    return Validation(slug, invert, ok=not results, seconds=time.perf_counter() - start,
                      details="\n".join(lines))


def validate_notebooks(tasks: list[tuple[str, bool, str]], *, jobs: int | None = None,
                       progress: bool = True) -> list[Validation]:
    """Run ``nbgrader validate`` (``invert`` True: ``--invert``) on each (path, invert, name), ``jobs``
    notebooks at a time (default: the number of cores), each in its own process."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks) or 1))
    results = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_validate, str(path), invert, name) for path, invert, name in tasks]
        done = as_completed(futures)
        if progress:
            from tqdm.auto import tqdm
            done = tqdm(done, total=len(futures), desc=f"nbgrader validate ({jobs} workers)", unit="nb")
        for fut in done:
            results.append(fut.result())
    return sorted(results, key=lambda v: (v.slug, v.invert))


def solution_notebook(source: Path | str, folder: Path | str) -> Path:
    """Write a chapter source as ``folder/NN_slug.ipynb``, ready for ``nbgrader validate``."""
    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source.stem}.ipynb"
    nbformat.write(check_source(source), path)
    return path


def validate_chapters(sources: list[Path] | None = None, *, chapters_dir: Path | str = CHAPTERS_DIR,
                      jobs: int | None = None, progress: bool = True) -> list[Validation]:
    """``nbgrader validate`` every solution and ``nbgrader validate --invert`` every student notebook.

    Each validation executes its notebook (``experiment`` cells skipped, as when grading) in its own
    process, ``jobs`` at a time (default: the number of cores).
    """
    sources = chapter_sources() if sources is None else [Path(s) for s in sources]
    chapters_dir = Path(chapters_dir)
    with tempfile.TemporaryDirectory(prefix="validate-src-") as tmp:
        tasks = []
        for src in sources:
            student = chapters_dir / f"{src.stem}.ipynb"
            if not student.is_file():
                raise FileNotFoundError(f"{student} is missing: run `python -m autograder release`")
            tasks += [(str(solution_notebook(src, tmp)), False, src.stem), (str(student), True, src.stem)]
        return validate_notebooks(tasks, jobs=jobs, progress=progress)
