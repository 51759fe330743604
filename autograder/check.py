"""``python -m autograder check NOTEBOOK``: a student's self-check.

Runs a notebook (as last saved) in a fresh kernel, experiments and the self-check cell itself
skipped, and prints a score table of its **visible** tests. Hidden tests are never involved: a
student notebook has none, and from an instructor source they are stripped first. The verdicts
are recomputed from the check records with ``actlab.checks.verify``, as the grader does.

The last cell of every chapter notebook is::

    !python -m autograder check 00_why_activation.ipynb

It needs only what a student notebook needs anyway (numpy, ``actlab``, ``nbformat``,
``nbclient``, ``ipykernel``): no nbgrader, no gradebook. Where bubblewrap works the kernel is
sandboxed exactly as when grading, so "passes here" means the same thing there.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass
class Row:
    exercise: str
    points: float
    checks_passed: int = 0
    checks_total: int = 0
    message: str = ""
    errors: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.checks_total > 0 and self.checks_passed == self.checks_total


def _meta(cell) -> dict:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return m if isinstance(m, dict) else {}


def strip_hidden(source: str) -> str:
    out, hidden = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


def find_notebook(name: str) -> Path:
    """``name`` as given, else with ``.ipynb`` or ``.md`` (a jupytext chapter source)."""
    p = Path(name)
    for cand in (p, p.with_suffix(".ipynb"), p.with_suffix(".md")):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"{name} not found in {Path.cwd()}. Save the notebook first (this checks the saved file) and "
        "run the check from the folder that holds it. In Colab the notebook is not a file: download it "
        "(File > Download > .ipynb) and run `python -m autograder check <file>` where actlab is installed.")


def read(path: Path):
    import nbformat
    if path.suffix == ".md":
        import jupytext
        nb = jupytext.read(path)
    else:
        nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_hidden(cell.source)
            cell.outputs, cell.execution_count = [], None
    return nb


def run_checks(path: Path, timeout: int = 120, sandbox: str = "auto") -> tuple[list[Row], float]:
    """Execute the notebook's visible tests; one :class:`Row` per test cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from actlab import checks
    from .cells import is_skipped
    from .sandbox import SandboxKernelManager

    nb = read(path)
    for cell in nb.cells:
        if cell.cell_type == "code" and is_skipped(cell):
            cell.source = ""  # nbclient skips empty cells
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_manager_class=SandboxKernelManager,
                            resources={"metadata": {"path": str(path.parent.resolve())}},
                            shutdown_kernel="immediate")
    client.log.setLevel("CRITICAL")
    from traitlets.config import Config
    c = Config()
    c.SandboxKernelManager.backend = sandbox
    client.config = c
    died = None
    try:
        client.execute()
    except (DeadKernelError, CellTimeoutError) as exc:
        died = f"{type(exc).__name__}: the kernel died or a cell ran too long; cells after it did not run"
    except RuntimeError as exc:  # the kernel did not start
        raise SystemExit(f"could not start a Python kernel: {exc}. Is ipykernel installed? "
                         "(try --sandbox none)") from None
    seconds = time.perf_counter() - start
    rows = []
    for cell in nb.cells:
        meta = _meta(cell)
        is_test = (meta.get("grade") and not meta.get("solution")) or "checks.check_function" in cell.source
        if cell.cell_type != "code" or not is_test:
            continue
        records = [o["data"][checks.MIME] for o in cell.get("outputs", [])
                   if o.get("output_type") == "display_data" and checks.MIME in o.get("data", {})]
        name = meta.get("grade_id", "").removesuffix("-tests") or (records[0]["exercise"] if records else "?")
        row = Row(name, float(meta.get("points", 0) or 0))
        for rec in records:
            verdict = checks.verify(rec)
            row.checks_total += 1
            row.checks_passed += verdict.passed
            if not verdict.passed and not row.message:
                row.message = verdict.message
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not records:
            row.checks_total = max(1, row.checks_total)
            row.message = (f"the tests stopped before any check: {errors[0]['ename']}: {errors[0]['evalue']}"
                           if errors else died or "the test cell did not run")
        rows.append(row)
    return rows, seconds


def table(rows: list[Row], path: Path, seconds: float) -> str:
    width = max([len(r.exercise) for r in rows] + [8])
    lines = [f"Self-check of {path.name} (visible tests only; hidden tests run when graded)", "",
             f"{'exercise':<{width}}  {'checks':>7}  {'points':>9}  result"]
    got = total = 0.0
    for r in rows:
        pts = r.points if r.passed else 0.0
        got, total = got + pts, total + r.points
        lines.append(f"{r.exercise:<{width}}  {r.checks_passed:>3}/{r.checks_total:<3}  "
                     f"{pts:>4g}/{r.points:<4g}  {'pass' if r.passed else 'FAIL'}")
    lines += [f"{'total':<{width}}  {'':>7}  {got:>4g}/{total:<4g}", ""]
    for r in rows:
        if not r.passed:
            lines.append(f"{r.exercise}: {r.message}")
    lines.append(f"({len(rows)} test cells, {seconds:.1f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder check",
                                description="Run a notebook's visible tests and print a score table.")
    add_arguments(p)
    return run(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="the notebook (.ipynb, or a chapter source .md)")
    p.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="run the kernel in the grader's sandbox (default: when available)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    try:
        path = find_notebook(args.notebook)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    rows, seconds = run_checks(path, timeout=args.timeout, sandbox=args.sandbox)
    if args.json:
        print(json.dumps([{**vars(r), "passed": r.passed} for r in rows], indent=1))
    else:
        print(table(rows, path, seconds))
    return 0 if rows and all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
