"""``python -m autograder grade``: grade a class in parallel, sandboxed, cached.

The flow (each step is nbgrader's where nbgrader has one):

1. :class:`autograder.course.Course` regenerates the assignments (nbgrader
   ``generate_assignment``) when a chapter source changed, and registers them in the gradebook;
2. :func:`autograder.submissions.discover` finds the submissions (nbgrader layout, LMS folder or
   zip) and sets aside the ones that cannot be graded, with a reason;
3. each gradable submission is looked up in the cache by the hash of (submission, tests,
   environment); identical submissions are graded once;
4. the rest go to a pool of worker processes (default: one per core). A worker copies the
   submission into a private nbgrader course folder (with a copy of the template gradebook) and
   runs nbgrader's ``Autograde`` converter with the grader's preprocessors
   (:class:`autograder.preprocessors.GradingAutograde`): the kernel is sandboxed, experiment
   cells are skipped, verdicts are recomputed in the worker;
5. the parent writes every result into the gradebook (nbgrader's ``Gradebook`` API), the grades
   CSV, one HTML feedback file per student and assignment, and optionally Gradescope's
   ``results.json`` (module :mod:`autograder.reports`).

The submitted files are only read.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .course import ROOT, WORKSPACE, Course, environment_fingerprint
from .submissions import Submission, check, discover

SAMPLE_CLASS = Path(__file__).resolve().parent / "sample_class"


@dataclass
class GradeOptions:
    workers: int = 0                      # 0: every core
    out_dir: Path | None = None           # default: <workspace>/results
    workspace: Path | None = None
    db_url: str | None = None
    use_cache: bool = True
    gradescope: bool = False
    pattern: str | None = None
    assignment: str | None = None
    progress: bool = True
    sandbox: str = "auto"                 # auto | bwrap | none
    cell_timeout: int = 60
    notebook_timeout: int = 600
    memory_mb: int = 4096
    cpu_seconds: int = 600
    skip_experiments: bool = True
    keep_autograded: bool = False


@dataclass
class GradeRun:
    results: list[dict]                   # one per submission (graded or not)
    course: Course
    out_dir: Path
    seconds: float
    graded: int = 0
    cached: int = 0
    files: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- one submission
def _config(course_dir: Path, opts: GradeOptions, protected: list[str], db_url: str):
    from .nbgrader_config import nbgrader_config
    c = nbgrader_config(course_dir, db_url=db_url)
    c.SandboxedExecute.timeout = opts.cell_timeout
    c.SandboxedExecute.notebook_timeout = opts.notebook_timeout
    c.SandboxedExecute.skip_tags = ["experiment"] if opts.skip_experiments else []
    c.SandboxKernelManager.backend = opts.sandbox
    c.SandboxKernelManager.memory_mb = opts.memory_mb
    c.SandboxKernelManager.cpu_seconds = opts.cpu_seconds
    c.SandboxKernelManager.protected_paths = protected
    c.Execute.skip_cells_with_tag = "experiment" if opts.skip_experiments else "skip-execution"
    c.Autograde.create_student = True
    c.BaseConverter.force = True
    return c


def grade_one(job: dict) -> dict:
    """Grade one submission in a private nbgrader course folder (runs in a worker process)."""
    import logging
    import nbformat
    from nbgrader.coursedir import CourseDirectory
    from .preprocessors import GradingAutograde
    from .course import load_cached

    start = time.perf_counter()
    opts = GradeOptions(**job["options"])
    slug, student = job["assignment"], "student"  # the real id never enters the sandbox
    tmp = Path(tempfile.mkdtemp(prefix="ag-job-"))
    result = {"key": job["key"], "assignment": slug, "status": "ok", "results": [], "findings": [],
              "sandbox": "", "seconds": 0.0, "error": ""}
    try:
        cdir = tmp / "course"
        (cdir / "source").mkdir(parents=True)
        shutil.copytree(Path(job["source_dir"]), cdir / "source" / slug)
        shutil.copyfile(job["template_db"], cdir / "gradebook.db")
        sub_dir = cdir / "submitted" / student / slug
        sub_dir.mkdir(parents=True)
        shutil.copyfile(job["path"], sub_dir / f"{slug}.ipynb")
        for extra in job.get("extra_files", []):
            rel = Path(extra).name
            if not rel.endswith(".ipynb"):
                shutil.copyfile(extra, sub_dir / rel)
        if job.get("timestamp"):
            (sub_dir / "timestamp.txt").write_text(job["timestamp"])
        config = _config(cdir, opts, job["protected"], f"sqlite:///{cdir / 'gradebook.db'}")
        config.SandboxKernelManager.scratch_files = str(cdir / "autograded" / student / slug)
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = slug
        coursedir.student_id = student
        model = load_cached(job["source"], job["release"], slug, job["source_sha"])
        log = logging.getLogger(f"autograder.{os.getpid()}")
        log.setLevel(logging.ERROR)
        log.propagate = False
        errors = _Collect()
        log.handlers = [errors]
        converter = GradingAutograde(coursedir=coursedir, config=config, assignment=model, log=log)
        try:
            converter.start()
        except Exception as exc:  # noqa: BLE001 - nbgrader reports its own failures this way
            result["status"] = "grading_error"
            result["error"] = f"{type(exc).__name__}: {exc}\n" + "\n".join(errors.lines)[-3000:]
        out = cdir / "autograded" / student / slug / f"{slug}.ipynb"
        if out.is_file():
            nb = nbformat.read(out, as_version=4)
            ag = nb.metadata.get("autograder", {})
            result["results"] = ag.get("results", [])
            result["findings"] = ag.get("findings", [])
            result["kernel_restarts"] = ag.get("kernel_restarts", 0)
            if job.get("keep"):
                Path(job["keep"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out, job["keep"])
            if result["status"] == "grading_error" and result["results"]:
                result["status"] = "ok"
        elif result["status"] == "ok":
            result["status"] = "grading_error"
            result["error"] = "nbgrader produced no autograded notebook"
        from .sandbox import bwrap_works
        result["sandbox"] = "none" if opts.sandbox == "none" else (
            "bwrap" if bwrap_works(os.geteuid() == 0)[0] else "none")
    except Exception as exc:  # noqa: BLE001 - one broken submission never stops the batch
        result["status"] = "grading_error"
        result["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        result["seconds"] = time.perf_counter() - start
    return result


class _Collect(__import__("logging").Handler):
    """Keeps nbgrader's error log lines (its exceptions are reported through the log)."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def quiet_nbgrader() -> None:
    """nbgrader 0.9.6's gradebook code triggers SQLAlchemy 2.x warnings that mean nothing here."""
    import warnings
    try:
        from sqlalchemy.exc import SAWarning
        warnings.filterwarnings("ignore", category=SAWarning)
    except ImportError:
        pass


def _init_worker(slots) -> None:
    os.environ["AUTOGRADER_SLOT"] = str(slots.get())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    quiet_nbgrader()


# --------------------------------------------------------------------------- the class
def cache_key(sub: Submission, course: Course, env: str, opts: GradeOptions) -> str:
    a = course.assignment(sub.assignment)
    settings = json.dumps([opts.sandbox, opts.cell_timeout, opts.notebook_timeout, opts.memory_mb,
                           opts.cpu_seconds, opts.skip_experiments])
    h = hashlib.sha256()
    for part in (sub.sha256, a.fingerprint, env, course.library_fingerprint(sub.assignment), settings):
        h.update(part.encode())
        h.update(b"\0")
    for extra in sorted(sub.extra_files):
        h.update(Path(extra).name.encode() + Path(extra).read_bytes())
    return h.hexdigest()


def grade(submissions: Path | str | None = None, sources: list[Path] | None = None,
          options: GradeOptions | None = None) -> GradeRun:
    """Grade every submission under ``submissions`` (default: the embedded sample class).

    Args:
        submissions: an nbgrader ``submitted/`` folder (or its parent), a folder of LMS
            downloads, an LMS zip or one notebook.
        sources: the chapter sources (``solutions/NN_slug.md``) that define the assignments;
            default: every chapter in ``solutions/``.
        options: see :class:`GradeOptions`.
    """
    from .release import chapter_sources
    from . import reports

    opts = options or GradeOptions()
    quiet_nbgrader()
    t0 = time.perf_counter()
    sources = [Path(s) for s in (sources or chapter_sources())]
    if not sources:
        raise ValueError("no chapter sources (solutions/NN_*.md) to grade against")
    workspace = Path(opts.workspace or WORKSPACE).resolve()
    out_dir = Path(opts.out_dir or workspace / "results").resolve()
    target = Path(submissions) if submissions else SAMPLE_CLASS
    with tempfile.TemporaryDirectory(prefix="ag-unzip-") as unzip:
        subs = discover(target, {s.stem: s.stem for s in sources}, pattern=opts.pattern,
                        assignment=opts.assignment, expected_ids=None, tmpdir=Path(unzip))
        # only the assignments someone submitted are (re)generated
        wanted = {s.assignment for s in subs if s.ok}
        course = Course.create([s for s in sources if s.stem in wanted] or sources[:1], workspace,
                               opts.db_url)
        for sub in subs:
            if sub.ok and sub.assignment in course.broken:
                sub.status, sub.detail = "assignment_unavailable", course.broken[sub.assignment]
        ids = {slug: {ex.test_id for ex in course.assignment(slug).exercises}
               | {s for ex in course.assignment(slug).exercises for s in ex.solution_ids}
               for slug in course.slugs}
        check(subs, ids)
        run = _grade_submissions(subs, course, opts, out_dir)
    run.seconds = time.perf_counter() - t0
    run.files = reports.write_all(run.results, course, out_dir, gradescope=opts.gradescope)
    reports.save_gradebook(run.results, course)
    return run


def _grade_submissions(subs: list[Submission], course: Course, opts: GradeOptions,
                       out_dir: Path) -> GradeRun:
    env = environment_fingerprint()
    cache_dir = course.workspace / "cache"
    cache_dir.mkdir(exist_ok=True)
    protected = course.protected_paths() + [str(out_dir)]
    jobs: dict[str, dict] = {}
    rows: list[dict] = []
    for sub in subs:
        row = {"student": sub.student, "assignment": sub.assignment, "origin": sub.origin,
               "status": sub.status, "detail": sub.detail, "timestamp": sub.timestamp}
        rows.append(row)
        if not sub.ok:
            continue
        key = cache_key(sub, course, env, opts)
        row["key"] = key
        if key not in jobs:
            a = course.source_path(sub.assignment)
            keep = (str(out_dir / "autograded" / sub.student / sub.assignment / f"{sub.assignment}.ipynb")
                    if opts.keep_autograded else None)
            jobs[key] = {"key": key, "assignment": sub.assignment, "path": str(sub.path),
                         "source_dir": str(a.parent), "source": str(a),
                         "release": str(course.release_path(sub.assignment)),
                         "source_sha": hashlib.sha256(a.read_bytes()).hexdigest(),
                         "template_db": str(course.template_db), "timestamp": sub.timestamp,
                         "extra_files": [str(p) for p in sub.extra_files], "protected": protected,
                         "options": {k: (str(v) if isinstance(v, Path) else v)
                                     for k, v in vars(opts).items()}, "keep": keep}
    done: dict[str, dict] = {}
    cached = 0
    if opts.use_cache:
        for key in list(jobs):
            f = cache_dir / f"{key}.json"
            if f.is_file() and not jobs[key]["keep"]:
                done[key] = json.loads(f.read_text())
                cached += 1
    todo = [j for k, j in jobs.items() if k not in done]
    workers = max(1, min(opts.workers or os.cpu_count() or 1, len(todo) or 1))
    bar = None
    if opts.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="grading", unit="nb", initial=len(done), file=sys.stderr)
    try:
        if todo:
            ctx = multiprocessing.get_context("spawn")
            slots = ctx.Queue()
            for i in range(workers):
                slots.put(i)
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(slots,)) as pool:
                futures = {pool.submit(grade_one, job): job["key"] for job in todo}
                for fut in as_completed(futures):
                    key = futures[fut]
                    try:
                        res = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker that died
                        res = {"key": key, "status": "grading_error", "results": [], "findings": [],
                               "error": f"worker failed: {type(exc).__name__}: {exc}"}
                    done[key] = res
                    if opts.use_cache and res["status"] == "ok":
                        (cache_dir / f"{key}.json").write_text(json.dumps(res))
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    fresh = {j["key"] for j in todo}
    for row in rows:
        if "key" in row:
            res = done[row["key"]]
            row.update(status=res["status"], detail=res.get("error", "")[:4000],
                       results=res.get("results", []), findings=res.get("findings", []),
                       sandbox=res.get("sandbox", ""), seconds=res.get("seconds", 0.0),
                       cached=row["key"] not in fresh)
    return GradeRun(rows, course, out_dir, 0.0, graded=len(todo), cached=cached)
