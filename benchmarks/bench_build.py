"""Time the book's build: a cold strict build and rebuilds with nothing changed, printed as a table.

    python benchmarks/bench_build.py                 # cold build with 2 workers, 3 no-change rebuilds
    python benchmarks/bench_build.py --jobs 1 2      # cold builds side by side: 1 vs 2 parallel chapters
    python benchmarks/bench_build.py --rebuilds 5

Builds into build/bench/ (the site in _build/ is left alone) with the same code as `make book`:
``autograder.site.build_site``. Cold: output folder and execution cache deleted, every page read
(``--all``), every chapter executed. No-change rebuilds: ``--all`` (as the tests and CI build) and
incremental (as ``make book`` builds), chapters from the cache. Targets (issue 3): cold <= 10 min on 2
cores, no-change rebuild <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.release import BUILD_DIR, chapter_sources, release  # noqa: E402
from autograder.site import build_site, chapter_slug, toc_entries  # noqa: E402

BENCH = BUILD_DIR / "bench"


PER_CHAPTER: dict[str, dict[int, float]] = {}   # slug -> {workers: execution seconds in a cold build}


def one_build(*, clean: bool, force: bool, jobs: int) -> tuple[float, int, int]:
    result = build_site(solutions=True, force=force, clean=clean, jobs=jobs, release_first=False,
                        book_src=BENCH / "book", out_dir=BENCH / "_build", quiet=True)
    executed = {slug: s for slug, s in result.executed.items() if s is not None}
    for slug, seconds in executed.items():
        PER_CHAPTER.setdefault(slug, {})[jobs] = seconds
    return result.seconds, len(executed), result.warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[2], help="workers for the cold builds")
    parser.add_argument("--rebuilds", type=int, default=3, help="no-change rebuilds of each kind")
    args = parser.parse_args()

    chapters = [e for e in toc_entries() if chapter_slug(e)]
    rows = []
    start = time.perf_counter()
    release(check=True)
    rows.append(("release --check (nbgrader generate_assignment)", 1, time.perf_counter() - start, "-", "-"))
    for jobs in args.jobs:
        shutil.rmtree(BENCH, ignore_errors=True)
        seconds, executed, warnings = one_build(clean=True, force=True, jobs=jobs)
        rows.append((f"cold strict build, {jobs} worker(s)", 1, seconds, executed, warnings))
    for label, force in (("no-change rebuild, --all (tests, CI)", True), ("no-change rebuild, incremental (make book)", False)):
        runs = [one_build(clean=False, force=force, jobs=args.jobs[-1]) for _ in range(args.rebuilds)]
        rows.append((label, len(runs), statistics.median(r[0] for r in runs), max(r[1] for r in runs),
                     max(r[2] for r in runs)))

    print(f"\nbook build on {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{len(chapters)} chapter(s) in the toc, {len(chapter_sources())} source(s)")
    print(f"{'scenario':<48} {'runs':>4} {'median s':>9} {'executed':>9} {'warnings':>9}")
    for label, n, seconds, executed, warnings in rows:
        print(f"{label:<48} {n:>4} {seconds:>9.1f} {executed!s:>9} {warnings!s:>9}")
    print("\nexecution of each chapter in the cold build(s), seconds (with w workers, w chapters run at once and "
          "each has cores/w threads; target <= 60 s on 2 cores)")
    print(f"{'chapter':<28}" + "".join(f"{f'{j} worker(s)':>14}" for j in args.jobs))
    for slug in sorted(PER_CHAPTER):
        print(f"{slug:<28}" + "".join(f"{PER_CHAPTER[slug].get(j, float('nan')):>14.1f}" for j in args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
