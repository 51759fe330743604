"""The ``grade`` and ``check`` subcommands of ``python -m autograder`` (added by ``__main__``)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

GRADE_HELP = """Grade submissions with nbgrader: sandboxed kernels, in parallel, cached, verdicts recomputed
outside the students' code. SUBMISSIONS is nbgrader's submitted/ folder (or its parent), a folder of LMS
downloads (the student id in each file name; see --pattern), an LMS zip, or one notebook. Without it, the
embedded sample class (autograder/sample_class) is graded. Writes grades.csv, by_assignment/*.csv,
feedback/<student>/<assignment>.html (and gradescope/.../results.json) and the nbgrader gradebook."""


def add_grade_parser(sub) -> None:
    from .submissions import LMS_PATTERNS

    p = sub.add_parser("grade", help="grade submissions (default: the embedded sample class)",
                       description=GRADE_HELP)
    p.add_argument("submissions", nargs="?", help="submitted/ folder, LMS folder or zip, or a notebook")
    p.add_argument("--source", action="append", default=[], metavar="NN_slug.md",
                   help="chapter source(s) defining the assignments (default: every solutions/NN_*.md)")
    p.add_argument("--assignment", help="grade every loose notebook as this assignment")
    p.add_argument("--pattern", help="LMS file-name pattern: one of "
                   f"{', '.join(LMS_PATTERNS)} or a regex with (?P<student>...) and optionally "
                   "(?P<assignment>...) or (?P<notebook>...) (default: try them all)")
    p.add_argument("-o", "--out", type=Path, help="output folder (default: build/autograder/results)")
    p.add_argument("--workspace", type=Path, help="grading workspace (default: build/autograder)")
    p.add_argument("--db-url", help="nbgrader gradebook URL, e.g. postgresql://... "
                   "(default: sqlite:///build/autograder/gradebook.db)")
    p.add_argument("-j", "--jobs", type=int, default=0, help="parallel workers (default: every core)")
    p.add_argument("--no-cache", action="store_true", help="grade everything again")
    p.add_argument("--gradescope", action="store_true", help="also write Gradescope results.json files")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="bwrap: require the sandbox; none: resource limits only (default: auto)")
    p.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook (default 600)")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory limit per kernel (default 4096)")
    p.add_argument("--run-experiments", action="store_true",
                   help="also run cells tagged experiment (skipped by default: nothing graded needs them)")
    p.add_argument("--keep-autograded", action="store_true",
                   help="keep the executed notebooks under OUT/autograded/ (for instructors only)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_grade)


def run_grade(args: argparse.Namespace) -> int:
    from .grade import GradeOptions, grade
    from .reports import row_status, totals
    from .submissions import SubmissionError

    opts = GradeOptions(workers=args.jobs, out_dir=args.out, workspace=args.workspace,
                        db_url=args.db_url, use_cache=not args.no_cache, gradescope=args.gradescope,
                        pattern=args.pattern, assignment=args.assignment, progress=not args.quiet,
                        sandbox=args.sandbox, cell_timeout=args.cell_timeout,
                        notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                        skip_experiments=not args.run_experiments,
                        keep_autograded=args.keep_autograded)
    try:
        run = grade(args.submissions, [Path(s) for s in args.source] or None, opts)
    except (SubmissionError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max([len(r["student"] or r["origin"]) for r in run.results] + [7])
    print(f"\n{'student':<{width}}  {'assignment':<24} {'score':>11}  status")
    for r in sorted(run.results, key=lambda r: (r["assignment"], r["student"], r["origin"])):
        total, maximum = totals(r) if r.get("results") else (None, None)
        score = f"{total:g}/{maximum:g}" if total is not None else "-"
        print(f"{(r['student'] or r['origin']):<{width}}  {r['assignment'] or '?':<24} {score:>11}  {row_status(r)}")
    sandboxes = {r.get("sandbox") for r in run.results if r.get("results")}
    print(f"\n{len(run.results)} submission(s): {run.graded} graded, {run.cached} from the cache, "
          f"{sum(1 for r in run.results if r['status'] not in ('ok',))} not gradable; "
          f"{run.seconds:.1f} s; sandbox: {', '.join(sorted(s for s in sandboxes if s)) or '-'}")
    print(f"grades:   {_rel(run.files['csv'])}")
    print(f"feedback: {_rel(run.out_dir / 'feedback')}/<student>/<assignment>.html")
    if args.gradescope:
        print(f"gradescope: {_rel(run.out_dir / 'gradescope')}/<student>/<assignment>/results.json")
    print(f"gradebook: {run.course.db_url}")
    return 0


def _rel(p: Path) -> str:
    try:
        return os.path.relpath(p)
    except ValueError:
        return str(p)


def add_check_parser(sub) -> None:
    from .check import add_arguments

    p = sub.add_parser("check", help="a student's self-check: run a notebook's visible tests, print a score table",
                       description="Runs the notebook (as saved) in a fresh kernel, experiment cells skipped, and "
                                   "prints a score table of its visible tests (no hidden tests are involved).")
    add_arguments(p)
    p.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from .check import run
    return run(args)
