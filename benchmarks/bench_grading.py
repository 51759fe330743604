"""Grading throughput: stock sequential ``nbgrader autograde`` vs ``python -m autograder grade``.

    python benchmarks/bench_grading.py                   # the whole sample class, 2 workers
    python benchmarks/bench_grading.py --chapters 00     # one chapter
    python benchmarks/bench_grading.py --repeat 3        # medians of 3 runs of each

Both grade the embedded sample class (``autograder/sample_class``: a dozen synthetic students
per chapter) from the same nbgrader ``submitted/`` layout, each in a fresh course folder under
``build/bench-grading/``; only the grading command is timed (``generate_assignment`` and the
autograder's workspace preparation are done before). Rows:

* stock ``nbgrader autograde <assignment>``, one notebook after another, nbgrader's defaults
  (every cell runs, experiments included; the cell timeout raised to the book's 120 s);
* the same with this project's nbgrader configuration (``Execute.skip_cells_with_tag =
  "experiment"``), to separate what skipping experiments buys from the rest;
* ``python -m autograder grade`` with every core, cache emptied (cold) -- the comparison the
  issue asks for -- and again with the cache warm.

The scores of every student and grade cell must be identical between stock nbgrader and the
autograder (asserted; the script exits 1 otherwise). Target (issue 7): >= 3x stock's
throughput on 2 cores.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.release import chapter_sources  # noqa: E402
from autograder.samples import SAMPLE_DIR  # noqa: E402

BENCH = ROOT / "build" / "bench-grading"
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def stock_course(folder: Path, slugs: list[str], skip_experiments: bool) -> Path:
    """An nbgrader course folder with the assignments generated and the sample class submitted."""
    from autograder.course import Course
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "source").mkdir(parents=True)
    prepared = Course.create([s for s in chapter_sources() if s.stem in slugs], BENCH / "prep")
    for slug in slugs:
        shutil.copytree(prepared.source_path(slug).parent, folder / "source" / slug)
    lines = ["c = get_config()", f"c.CourseDirectory.root = {str(folder)!r}",
             f"c.CourseDirectory.db_url = {'sqlite:///' + str(folder / 'gradebook.db')!r}",
             "c.Execute.timeout = 120"]
    if skip_experiments:
        lines.append('c.Execute.skip_cells_with_tag = "experiment"')
    (folder / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    for slug in slugs:
        subprocess.run(["nbgrader", "generate_assignment", slug, "--force", "--log-level=ERROR"],
                       cwd=folder, env=ENV, check=True, capture_output=True)
        for nb in sorted(SAMPLE_DIR.glob(f"*/{slug}/{slug}.ipynb")):
            dest = folder / "submitted" / nb.parent.parent.name / slug / nb.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nb, dest)
    return folder


def run_stock(folder: Path, slugs: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    for slug in slugs:
        subprocess.run(["nbgrader", "autograde", slug, "--force", "--log-level=ERROR"], cwd=folder,
                       env=ENV, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, gradebook_scores(f"sqlite:///{folder / 'gradebook.db'}", slugs)


def gradebook_scores(db_url: str, slugs: list[str]) -> dict:
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(db_url) as gb:
        for slug in slugs:
            for sub in gb.assignment_submissions(slug):
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        if grade.max_score:
                            scores[(sub.student.id, slug, grade.name)] = float(grade.auto_score or 0)
    return scores


def run_ours(workspace: Path, slugs: list[str], jobs: int, cache: bool) -> tuple[float, dict, str]:
    out = workspace / "results"
    cmd = [sys.executable, "-m", "autograder", "grade", str(SAMPLE_DIR), "-q", "-j", str(jobs),
           "--workspace", str(workspace), "-o", str(out)]
    cmd += [a for s in chapter_sources() if s.stem in slugs for a in ("--source", str(s))]
    if not cache:
        shutil.rmtree(workspace / "cache", ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"python -m autograder grade failed:\n{proc.stderr[-3000:]}")
    return seconds, gradebook_scores(f"sqlite:///{workspace / 'gradebook.db'}", slugs), proc.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chapters", nargs="*", help="chapter numbers or slugs (default: all with a sample class)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="autograder workers")
    p.add_argument("--repeat", type=int, default=1, help="runs of each (medians are reported)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()

    slugs = [s.stem for s in chapter_sources() if any(SAMPLE_DIR.glob(f"*/{s.stem}/{s.stem}.ipynb"))]
    if args.chapters:
        slugs = [s for s in slugs if any(s == c or s.startswith(c + "_") for c in args.chapters)]
    if not slugs:
        raise SystemExit("no chapter with a sample class (python -m autograder.samples)")
    n = sum(len(list(SAMPLE_DIR.glob(f"*/{slug}/{slug}.ipynb"))) for slug in slugs)
    print(f"grading {n} sample notebooks of {', '.join(slugs)}; {args.repeat} run(s) of each", flush=True)

    ws = BENCH / "autograder"
    run_ours(ws, slugs, args.jobs, cache=True)  # prepares the workspace (not timed), warms nothing else
    times = {k: [] for k in ("stock", "stock_skip", "ours_cold", "ours_warm")}
    scores = {}
    for r in range(args.repeat):
        for key, skip in (("stock", False), ("stock_skip", True)):
            folder = stock_course(BENCH / key, slugs, skip)
            seconds, scores[key] = run_stock(folder, slugs)
            times[key].append(seconds)
            print(f"  run {r + 1}: {key:<11} {seconds:7.1f} s", flush=True)
        seconds, scores["ours"], stdout = run_ours(ws, slugs, args.jobs, cache=False)
        times["ours_cold"].append(seconds)
        print(f"  run {r + 1}: ours (cold)  {seconds:7.1f} s", flush=True)
        seconds, _, _ = run_ours(ws, slugs, args.jobs, cache=True)
        times["ours_warm"].append(seconds)
        print(f"  run {r + 1}: ours (warm)  {seconds:7.1f} s", flush=True)

    same = scores["stock"] == scores["ours"] == scores["stock_skip"]
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        ("nbgrader autograde, sequential, nbgrader defaults (experiments run)", 1, med["stock"]),
        ("nbgrader autograde, sequential, project config (experiments skipped)", 1, med["stock_skip"]),
        ("python -m autograder grade, cold cache (sandboxed)", args.jobs, med["ours_cold"]),
        ("python -m autograder grade, warm cache", args.jobs, med["ours_warm"]),
    ]
    print(f"\ngrading throughput on {platform.node()}: {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; {n} notebooks "
          f"({len(slugs)} chapter(s)); medians of {args.repeat}\n")
    print(f"| {'grader':<70} | workers | seconds | notebooks/min | vs stock |")
    print(f"|{'-' * 72}|--------:|--------:|--------------:|---------:|")
    for label, workers, s in rows:
        print(f"| {label:<70} | {workers:>7} | {s:7.1f} | {60 * n / s:13.1f} | {med['stock'] / s:7.2f}x |")
    print(f"\nidentical scores (stock vs autograder, {len(scores['stock'])} grade cells): {same}")
    print(f"speed-up vs stock sequential nbgrader autograde (cold cache): {med['stock'] / med['ours_cold']:.2f}x "
          f"(target >= 3x); vs stock with experiments skipped: {med['stock_skip'] / med['ours_cold']:.2f}x")
    if not same:
        diff = {k: (scores["stock"].get(k), scores["ours"].get(k))
                for k in set(scores["stock"]) | set(scores["ours"])
                if scores["stock"].get(k) != scores["ours"].get(k)}
        print("DIFFERENT SCORES:", json.dumps({str(k): v for k, v in sorted(diff.items())}, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"notebooks": n, "chapters": slugs, "times": times, "medians": med,
                                         "identical_scores": same, "cores": os.cpu_count(),
                                         "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                                         "command": " ".join(sys.argv)}, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
