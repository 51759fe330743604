"""The embedded sample class: a dozen synthetic students per chapter, generated from the chapter.

``python -m autograder.samples`` writes ``autograder/sample_class/<student>/<slug>/<slug>.ipynb``
(nbgrader's ``submitted/`` layout) for every chapter ``solutions/NN_slug.md``, starting from the
committed student notebook ``chapters/NN_slug.ipynb`` and filling its answer cells with the
chapter's own solutions, whole or mutated the way students get them wrong. Nothing here is chapter-specific,
so a new chapter gets its sample students by rerunning the script (a test fails while the
committed ones are stale).

The students (``STUDENTS``): full marks; full marks with extra cells of their own; two
untouched notebooks (graded once: they are identical); the first half of the exercises; the
second half; only the first; all but the last; ``return`` forgotten in every answer; the sign
of every answer flipped; every answer right but the first with a syntax error; every answer
right but the function of the second renamed (the tests cannot find it).
"""
from __future__ import annotations

import argparse
import ast
import copy
import math
import sys
from pathlib import Path

import nbformat

from .verify import nbg

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_class"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _region(source: str) -> tuple[list[str], int, int]:
    lines = source.split("\n")
    b = next(i for i, ln in enumerate(lines) if BEGIN in ln)
    e = next(i for i, ln in enumerate(lines) if END in ln)
    return lines, b, e


def solved(source: str) -> str:
    """The instructor's answer cell without the solution markers (what a good student writes)."""
    lines, b, e = _region(source)
    return "\n".join(lines[:b] + lines[b + 1:e] + lines[e + 1:])


def _last_return(source: str) -> tuple[list[str], ast.Return] | None:
    """The last ``return`` inside the solution region of an answer cell."""
    lines, b, e = _region(source)
    text = "\n".join(lines[:b] + lines[b + 1:e] + lines[e + 1:])
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    rets = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None
            and b <= n.lineno - 1 < e - 1]
    if not rets:
        return None
    return text.split("\n"), max(rets, key=lambda n: (n.lineno, n.col_offset))


def _rewrite_return(source: str, make) -> str | None:
    found = _last_return(source)
    if found is None:
        return None
    lines, node = found
    text = "\n".join(lines)
    seg = ast.get_source_segment(text, node.value)
    if isinstance(node.value, ast.Tuple) and node.value.elts and make is _negate:
        parts = [ast.get_source_segment(text, e) for e in node.value.elts]
        seg = None
        new = f"return -({parts[0]}), " + ", ".join(parts[1:])  # only the first output flipped
        first, last = node.lineno - 1, node.end_lineno - 1
        head, tail = lines[first][:node.col_offset], lines[last][node.end_col_offset:]
        return "\n".join(lines[:first] + [head + new + tail] + lines[last + 1:])
    first, last = node.lineno - 1, node.end_lineno - 1
    head, tail = lines[first][:node.col_offset], lines[last][node.end_col_offset:]
    return "\n".join(lines[:first] + [head + make(seg) + tail] + lines[last + 1:])


def forgot_return(source: str) -> str | None:
    return _rewrite_return(source, lambda v: f"result = {v}")


def _negate(v: str) -> str:
    return f"return -({v})"


def flipped_sign(source: str) -> str | None:
    return _rewrite_return(source, _negate)


def syntax_error(source: str) -> str:
    text = solved(source)
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if ln.rstrip().endswith(":"):
            lines[i] = ln.rstrip()[:-1]  # the classic missing colon
            return "\n".join(lines)
    return text + "\n)"


def renamed(source: str) -> str | None:
    text = solved(source)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return text.replace(f"def {node.name}(", f"def {node.name}_v2(", 1).replace(
                f"class {node.name}", f"class {node.name}_v2", 1)
    return None


EXTRA_CELLS = [
    "# my own scratch work\nimport numpy as np\nprint('trying things out:', np.arange(3))",
    "import warnings\nwarnings.warn('a warning printed by my own cell costs nothing')",
]


def _answers(n: int):
    half = math.ceil(n / 2)
    return {
        "s01_full_marks": {i: "solved" for i in range(n)},
        "s02_full_marks_extra_cells": {i: "solved" for i in range(n)},
        "s03_untouched": {},
        "s04_untouched_too": {},
        "s05_first_half": {i: "solved" for i in range(half)},
        "s06_second_half": {i: "solved" for i in range(half, n)},
        "s07_only_first": {0: "solved"},
        "s08_all_but_last": {i: "solved" for i in range(n - 1)},
        "s09_forgot_return": {i: "forgot_return" for i in range(n)},
        "s10_flipped_sign": {i: "flipped_sign" for i in range(n)},
        "s11_syntax_error_first": {**{i: "solved" for i in range(n)}, 0: "syntax_error"},
        "s12_renamed_second": {**{i: "solved" for i in range(n)}, min(1, n - 1): "renamed"},
    }


STUDENTS = list(_answers(2))
MUTATIONS = {"solved": solved, "forgot_return": forgot_return, "flipped_sign": flipped_sign,
             "syntax_error": syntax_error, "renamed": renamed}


def sample_notebooks(source_md: Path, release_nb: Path) -> dict[str, nbformat.NotebookNode]:
    """{student: notebook} for one chapter."""
    from .release import read_source

    source = read_source(source_md)
    release = nbformat.read(release_nb, as_version=4)
    answers = {nbg(c)["grade_id"]: c.source for c in source.cells
               if nbg(c).get("solution") and c.cell_type == "code"}
    order = [nbg(c)["grade_id"] for c in release.cells
             if nbg(c).get("solution") and c.cell_type == "code" and nbg(c).get("grade_id") in answers]
    out = {}
    for student, plan in _answers(len(order)).items():
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = nbg(cell).get("grade_id")
            if gid in order and order.index(gid) in plan:
                text = MUTATIONS[plan[order.index(gid)]](answers[gid])
                if text is not None:  # (a mutation that does not apply leaves the stub)
                    cell.source = text
        if student == "s02_full_marks_extra_cells":
            first_test = next(i for i, c in enumerate(nb.cells) if nbg(c).get("grade"))
            for j, text in enumerate(EXTRA_CELLS):
                cell = nbformat.v4.new_code_cell(text)
                cell.id = f"extra{j}"
                nb.cells.insert(first_test + 1 + j, cell)
        out[student] = nb
    return out


def _text(nb) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def generate(sources: list[Path] | None = None, out: Path = SAMPLE_DIR, *, check: bool = False,
             chapters_dir: Path = ROOT / "chapters") -> list[Path]:
    """Write (or with ``check``: list without writing) the sample notebooks that differ."""
    from .release import chapter_sources

    sources = [Path(s) for s in (sources or chapter_sources())]
    changed, expected = [], set()
    for src in sources:
        release = chapters_dir / f"{src.stem}.ipynb"
        if not release.is_file():
            raise FileNotFoundError(f"{release} is missing: run `python -m autograder release` first")
        for student, nb in sample_notebooks(src, release).items():
            path = out / student / src.stem / f"{src.stem}.ipynb"
            expected.add(path)
            text = _text(nb)
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if sources and out.is_dir():
        known = {s.stem for s in sources}
        for path in sorted(out.glob("*/*/*.ipynb")):
            if path.parent.name in known and path not in expected:
                changed.append(path)
                if not check:
                    path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.samples", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="*", help="chapter sources (default: every solutions/NN_*.md)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = p.parse_args(argv)
    changed = generate([Path(s) for s in args.sources] or None, check=args.check)
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    print(f"{len(changed)} sample notebook(s) {'stale' if args.check else 'written'}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
