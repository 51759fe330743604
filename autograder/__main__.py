"""Command line: ``python -m autograder <command>``; ``python -m autograder <command> --help`` for details."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _release(args: argparse.Namespace) -> int:
    from .release import ROOT, SourceError, chapter_sources, release

    sources = [Path(s) for s in args.sources] or None
    try:
        report = release(sources, check=args.check)
    except SourceError as err:
        print(err, file=sys.stderr)
        return 2
    n = len(sources or chapter_sources())
    for path in report.written:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    for path in report.orphans:
        print(f"{'orphan' if args.check else 'removed'}: {path.relative_to(ROOT)} (no source in solutions/)")
    print(f"{n} chapter(s): {len(report.written)} {'stale' if args.check else 'written'}, "
          f"{len(report.unchanged)} unchanged, {len(report.orphans)} orphan(s)")
    if args.check and report.stale:
        print("chapters/ is stale: run `python -m autograder release` and commit chapters/", file=sys.stderr)
        return 1
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .release import SourceError, validate_chapters

    try:
        results = validate_chapters([Path(s) for s in args.sources] or None, jobs=args.jobs)
    except SourceError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"\n{'chapter':<32} {'check':<34} {'result':<6} {'seconds':>7}")
    for r in results:
        check = "stubs fail every test (--invert)" if r.invert else "solution passes every test"
        print(f"{r.slug:<32} {check:<34} {'ok' if r.ok else 'FAIL':<6} {r.seconds:7.1f}")
        if not r.ok:
            print("    " + r.details.replace("\n", "\n    "))
    return 0 if all(r.ok for r in results) else 1


def _book(args: argparse.Namespace) -> int:
    from .release import SourceError
    from .site import BuildError, build_site

    try:
        result = build_site(solutions=args.solutions, force=args.force, clean=args.clean, jobs=args.jobs)
    except (BuildError, SourceError) as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    executed = {k: v for k, v in result.executed.items() if v is not None}
    print(f"\nbuilt {result.html_dir}/index.html in {result.seconds:.1f} s "
          f"({len(executed)} chapter(s) executed, {len(result.executed) - len(executed)} from the cache; "
          f"{result.warnings} warnings; solutions {'shown in toggles' if args.solutions else 'left out'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("release", help="regenerate the student notebooks chapters/ from solutions/",
                       description="solutions/NN_slug.md -> nbgrader generate_assignment -> chapters/NN_slug.ipynb")
    p.add_argument("sources", nargs="*", help="chapter sources (default: every solutions/NN_*.md)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if chapters/ is stale")
    p.set_defaults(func=_release)

    p = sub.add_parser("validate", help="nbgrader validate every solution, and --invert every stub",
                       description="Every solution must pass all its tests (hidden ones included) and every "
                                   "student stub must fail all of them. Runs the notebooks in parallel.")
    p.add_argument("sources", nargs="*", help="chapter sources (default: every solutions/NN_*.md)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="notebooks at once (default: every core)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("book", help="build the website strictly into _build/html",
                       description="Regenerate chapters/, stage the page notebooks into build/book/, execute "
                                   "them in parallel and run `jupyter-book build -W -n --keep-going`.")
    p.add_argument("--no-solutions", dest="solutions", action="store_false",
                   help="leave the worked solutions out of the site (for a graded cohort)")
    p.add_argument("--force", action="store_true", help="re-read every page (jupyter-book --all)")
    p.add_argument("--clean", action="store_true", help="delete _build/ first, execution cache included")
    p.add_argument("-j", "--jobs", type=int, default=None, help="chapters executed at once (default: every core)")
    p.set_defaults(func=_book)

    from .cli import add_check_parser, add_grade_parser  # grading and the self-check (cli.py)
    add_grade_parser(sub)
    add_check_parser(sub)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
