"""Verdicts computed in the grader's own process, never in the student's kernel.

The kernel only *computes*: each ``actlab.checks.check_function`` call in a test cell runs the
student's function on its cases and emits one record (a ``display_data`` output of MIME type
``actlab.checks.MIME``) holding the check's spec and the student's outputs. The grader then

1. rebuilds every check a test cell makes from the instructor's test cell alone (the source
   notebook, hidden tests included, executed here under ``checks.collect_specs()`` with the
   student's names bound to dummies): these *trusted specs* say which checks must appear;
2. takes from the executed test cell exactly one record per trusted spec, whose spec must be
   identical to the trusted one (a missing record: the tests did not get that far; two
   records, a changed spec, a record outside its test cell, a record for an unknown check:
   forged);
3. recomputes each verdict with ``actlab.checks.verify`` on the *trusted* spec plus the
   student's outputs, here, with this process's numpy: whatever the kernel patched
   (``np.allclose``, ``torch``, ``actlab.checks`` itself) does not reach this comparison;
4. adds its own static "from scratch" scan of the solution cell (``forbid`` entries used by
   name or through an import alias) to what the kernel reported.

An exercise scores its points only when every check passes and nothing in the submission
touched it (see :mod:`autograder.preprocessors` for the tampering findings).
"""
from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

from nbformat import NotebookNode

SPEC_KEYS = ("schema", "exercise", "name", "cases", "digest", "reference", "evaluate", "adapter",
             "rtol", "atol", "check_dtype", "normwise", "output_names", "forbid", "no_warnings",
             "hint")
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HEADING = re.compile(r"^###\s+Exercise\s+(\d+)\s*:\s*(.+?)\s*\((\d+(?:\.\d+)?)\s+points?\)\s*$",
                     re.MULTILINE)


def mime() -> str:
    from actlab import checks
    return checks.MIME


def nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return dict(meta) if isinstance(meta, dict) else {}


def is_test_cell(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def hidden_lines(source: str) -> list[str]:
    """The lines of a test cell's hidden region(s) that never appear in its visible part."""
    inside, hidden, visible = False, [], set()
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside:
            hidden.append(line.strip())
        else:
            visible.add(line.strip())
    return [h for h in hidden if len(h) >= 12 and h not in visible]


def redact(text: str, secret_lines: list[str]) -> str:
    """Remove any hidden-test line (or a long fragment of one) from text shown to a student."""
    for line in secret_lines:
        if line in text:
            text = text.replace(line, "[hidden test]")
        else:  # a fragment of 40+ characters is as bad as the line
            for i in range(0, max(0, len(line) - 40) + 1, 20):
                frag = line[i:i + 40]
                if len(frag) == 40 and frag in text:
                    text = text.replace(frag, "[hidden test]")
    return text


# --------------------------------------------------------------------------- the assignment
@dataclass
class Exercise:
    number: int
    test_id: str                  # grade_id of the test cell (holds the points)
    solution_ids: list[str]       # grade_ids of the solution cells it grades
    points: float
    title: str
    specs: list[dict] = field(default_factory=list)   # trusted, rebuilt from the instructor's cell
    hidden: list[str] = field(default_factory=list)   # hidden-test lines (for redaction)

    @property
    def exercise_ids(self) -> set[str]:
        ids = set(self.solution_ids) | {s["exercise"] for s in self.specs}
        return ids | {self.test_id.removesuffix("-tests")}


@dataclass
class Assignment:
    """What the grader knows of an assignment, from its instructor (source) notebook."""
    name: str
    notebook: str
    exercises: list[Exercise]
    manual: dict[str, float]      # written answers graded by hand: grade_id -> points
    release_sources: dict[str, str]   # grade_id -> the student-facing source of locked cells
    release_meta: dict[str, dict]     # grade_id -> nbgrader metadata of the release
    release_code: list[str]           # every code cell's source in the release (unmodified cells)
    kernel_language: str
    fingerprint: str

    @property
    def max_score(self) -> float:
        return sum(e.points for e in self.exercises) + sum(self.manual.values())

    @property
    def secret_lines(self) -> list[str]:
        return [h for e in self.exercises for h in e.hidden]

    def exercise_of(self, grade_id: str) -> Exercise | None:
        for ex in self.exercises:
            if grade_id == ex.test_id or grade_id in ex.solution_ids:
                return ex
        return None


class _Dummy:
    """Stands for a student's function while the instructor's test cell is replayed."""

    def __call__(self, *a, **k):
        return self

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self

    def __iter__(self):
        return iter(())


for _op in ("add", "sub", "mul", "truediv", "matmul", "pow", "neg", "radd", "rsub", "rmul",
            "rtruediv", "rmatmul", "abs"):
    setattr(_Dummy, f"__{_op}__", lambda self, *a: self)


class _Names(dict):
    def __missing__(self, key):
        if hasattr(builtins, key):
            raise KeyError(key)
        return _Dummy()


def _imports_of(nb) -> str:
    """The import statements of a notebook's code cells that bind a name its test cells use
    (``np``, ``checks``, ``ch00``), so the test cells can be replayed here."""
    used = set()
    for cell in nb.cells:
        if is_test_cell(cell):
            try:
                used |= {n.id for n in ast.walk(ast.parse(_python_only(cell.source)))
                         if isinstance(n, ast.Name)}
            except SyntaxError:
                pass
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_python_only(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a for a in node.names
                         if (a.asname or a.name.split(".")[0]) in used]
                if names:
                    node = copy.copy(node)
                    node.names = names
                    lines.append(ast.unparse(node))
    return "\n".join(dict.fromkeys(lines))


def _python_only(source: str) -> str:
    """IPython magics and shell escapes become comments, so ``ast`` can read the cell."""
    return "\n".join(("# " + ln) if ln.lstrip().startswith(("%", "!")) else ln
                     for ln in source.split("\n"))


def trusted_specs(test_source: str, imports: str) -> list[dict]:
    """The checks the instructor's test cell makes, rebuilt here without running any check."""
    from actlab import checks
    names = _Names()
    exec(compile(imports, "<imports>", "exec"), names, names)  # noqa: S102 - instructor code
    with checks.collect_specs() as specs:
        exec(compile(_python_only(test_source), "<test cell>", "exec"), names, names)  # noqa: S102
    seen = set()
    for spec in specs:
        key = (spec["exercise"], spec["name"])
        placeholder = [k for k in SPEC_KEYS if _Dummy.__qualname__ in json.dumps(spec.get(k), default=str)]
        if placeholder:
            raise ValueError(
                f"check {spec['name']!r} of {spec['exercise']!r}: its {', '.join(placeholder)} use a name "
                "that only the notebook defines; a test cell may use literals, imports and the student's "
                "functions only (write the value, or take it from an imported module such as ch06)")
        if key in seen:
            raise ValueError(f"two checks named {spec['name']!r} for {spec['exercise']!r}: names must "
                             "be unique within an exercise")
        seen.add(key)
    return [json.loads(json.dumps(s)) for s in specs]


def load_assignment(source_nb: NotebookNode, release_nb: NotebookNode, name: str,
                    notebook: str | None = None) -> Assignment:
    """Read exercises, points, trusted specs and the release's locked cells."""
    imports = _imports_of(source_nb)
    exercises, pending, manual = [], [], {}
    last_heading = ("", 0.0)
    for cell in source_nb.cells:
        meta = nbg(cell)
        if cell.cell_type == "markdown":
            found = HEADING.findall(cell.source)
            if found:
                last_heading = (found[-1][1], float(found[-1][2]))
            continue
        if meta.get("solution") and meta.get("grade"):
            manual[meta["grade_id"]] = float(meta.get("points", 0))
        elif meta.get("solution"):
            pending.append(meta["grade_id"])
        elif is_test_cell(cell):
            specs = trusted_specs(cell.source, imports)
            exercises.append(Exercise(
                number=len(exercises) + len(manual) + 1, test_id=meta["grade_id"],
                solution_ids=pending, points=float(meta.get("points", 0)),
                title=last_heading[0] or meta["grade_id"], specs=specs,
                hidden=hidden_lines(cell.source)))
            pending = []
    release_sources, release_meta, release_code = {}, {}, []
    for cell in release_nb.cells:
        meta = nbg(cell)
        if cell.cell_type == "code":
            release_code.append(cell.source)
        if meta.get("grade_id"):
            release_meta[meta["grade_id"]] = {**meta, "cell_type": cell.cell_type}
            if meta.get("locked"):
                release_sources[meta["grade_id"]] = cell.source
    blob = json.dumps([source_nb.cells, release_nb.cells], sort_keys=True, default=str)
    return Assignment(
        name=name, notebook=notebook or name, exercises=exercises, manual=manual,
        release_sources=release_sources, release_meta=release_meta, release_code=release_code,
        kernel_language=source_nb.metadata.get("kernelspec", {}).get("language", "python"),
        fingerprint=hashlib.sha256(blob.encode()).hexdigest())


# --------------------------------------------------------------------------- static "from scratch"
def _aliases(tree: ast.AST) -> dict[str, str]:
    """name -> dotted module path, from the import statements in a piece of code."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def dotted_uses(source: str, context_aliases: dict[str, str] | None = None) -> set[str]:
    """Every dotted name the code refers to, import aliases resolved (``np.maximum`` ->
    ``numpy.maximum``, ``from torch import sigmoid as s; s`` -> ``torch.sigmoid``)."""
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return set()
    alias = {"np": "numpy", **(context_aliases or {}), **_aliases(tree)}
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                base = node.module if isinstance(node, ast.ImportFrom) else None
                used.add(f"{base}.{a.name}" if base and not node.level else a.name)
        elif isinstance(node, ast.Attribute):
            parts, cur = [], node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                head = alias.get(cur.id, cur.id)
                used.add(".".join([head] + parts[::-1]))
        elif isinstance(node, ast.Name) and node.id in alias:
            used.add(alias[node.id])
    return used


def static_forbidden(source: str, forbid: list[str], context_aliases=None) -> list[str]:
    """The ``forbid`` entries a solution's code names (a module forbids everything under it)."""
    found = []
    uses = dotted_uses(source, context_aliases)
    for entry in forbid:
        if entry.startswith("aten."):
            continue
        if any(u == entry or u.startswith(entry + ".") for u in uses):
            found.append(f"{entry} (named in your solution cell)")
    return found


# --------------------------------------------------------------------------- grading one notebook
def records_in(cell) -> list[dict]:
    key = mime()
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") in ("display_data", "execute_result") and key in o.get("data", {}):
            rec = o["data"][key]
            if isinstance(rec, str):
                try:
                    rec = json.loads(rec)
                except ValueError:
                    rec = {"_malformed": True}
            out.append(rec if isinstance(rec, dict) else {"_malformed": True})
    return out


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str
    n_cases: int = 0
    kernel_passed: bool | None = None   # what the kernel claimed (never trusted; a disagreement
                                        # on an honest notebook would be a grader bug)


@dataclass
class ExerciseResult:
    number: int
    grade_id: str
    title: str
    points: float | None          # None: needs manual grading
    max_points: float
    passed: bool
    message: str
    flags: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _error_of(cell) -> tuple[str, str] | None:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            return o.get("ename", "Error"), str(o.get("evalue", ""))
    return None


def _short(text: str, n: int = 300) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    return text if len(text) <= n else text[: n - 3] + "..."


CATALOGUE = [
    # (pattern in the failure text, hint) -- common mistakes, checked in order
    (r"NotImplementedError", "You have not answered this exercise yet: replace "
                             "`raise NotImplementedError()` with your code."),
    (r"NameError: name '(\w+)' is not defined", "`{0}` is not defined when the tests run: run the "
                                                "cell that defines it, and keep the name the "
                                                "exercise asks for."),
    (r"SyntaxError|IndentationError", "Your cell does not parse: fix the syntax error first."),
    (r"forget to `return`|got None", "Your function returns None: did you forget `return`?"),
    (r"expected dtype", "Keep the input's dtype (no float64 constants, `np.array(...)` copies "
                        "without `dtype=x.dtype`)."),
    (r"expected shape", "Check the shape of your result (broadcasting, `keepdims`, a transposed "
                        "matrix?)."),
    (r"got nan|got inf|got -inf|overflow", "NaN or inf at large |x|: rearrange the formula so that "
                                           "it only exponentiates numbers <= 0."),
    (r"must not use", "This exercise is 'from scratch': use elementary numpy operations only."),
    (r"KernelDied", "Your code stopped the Python process (os._exit, sys.exit, or too much memory / "
                    "too many processes): remove that and submit again."),
    (r"CellTimeout", "Your code ran too long: look for an infinite loop, or a loop where numpy "
                     "vectorisation would do."),
]


def catalogue_hint(text: str) -> str:
    for pattern, hint in CATALOGUE:
        m = re.search(pattern, text)
        if m:
            return hint.format(*m.groups())
    return ""


def _fake(record: dict) -> bool:
    """A record outside its test cell is harmless (a student may run a check in a cell of
    their own) unless it is malformed or claims a pass its own contents do not support."""
    from actlab import checks
    if record.get("_malformed") or not isinstance(record.get("outputs"), list):
        return True
    if record.get("passed") is not True:
        return False
    try:
        return not checks.verify(record).passed
    except Exception:  # noqa: BLE001
        return True


def grade_exercise(ex: Exercise, test_cells: list, stray: list[dict], solution_sources: list[str],
                   flags: list[str], aliases: dict[str, str], solution_errors: list) -> ExerciseResult:
    """The verdict for one exercise (see the module docstring)."""
    from actlab import checks

    flags = list(dict.fromkeys(flags))
    result = ExerciseResult(ex.number, ex.test_id, ex.title, 0.0, ex.points, False, "", flags)
    if not test_cells:
        result.flags = list(dict.fromkeys(flags + ["test_cell_missing"]))
        result.message = "The test cell of this exercise is missing from your notebook."
        return result
    cell = test_cells[0]
    fatal = cell.get("metadata", {}).get("autograder", {}).get("fatal")
    if fatal:
        result.flags.append({"kernel_died": "kernel_died", "timeout": "timeout"}.get(fatal, "not_run"))
    records = records_in(cell)
    if any(r.get("exercise") in ex.exercise_ids and _fake(r) for r in stray):
        result.flags.append("forged_record")
    by_key: dict[tuple, list] = {}
    for rec in records:
        by_key.setdefault((rec.get("exercise"), rec.get("name")), []).append(rec)
    known = {(s["exercise"], s["name"]) for s in ex.specs}
    if any(k not in known for k in by_key):
        result.flags.append("forged_record")
    static = " ".join(solution_sources)
    for spec in ex.specs:
        key = (spec["exercise"], spec["name"])
        found = by_key.get(key, [])
        if not found:
            result.checks.append(CheckResult(spec["name"], False, "did not run", 0))
            continue
        if len(found) > 1:
            result.flags.append("forged_record")
            result.checks.append(CheckResult(spec["name"], False, "reported more than once", 0))
            continue
        rec = found[0]
        if any(json.dumps(rec.get(k), sort_keys=True) != json.dumps(spec.get(k), sort_keys=True)
               for k in SPEC_KEYS):
            result.flags.append("forged_record")
            result.checks.append(CheckResult(spec["name"], False, "its record was altered", 0))
            continue
        trusted = copy.deepcopy(spec)
        trusted.update(case_ids=rec.get("case_ids", []), outputs=rec.get("outputs", []),
                       errors=rec.get("errors", {}) if isinstance(rec.get("errors"), dict) else {},
                       warnings=rec.get("warnings", []) if isinstance(rec.get("warnings"), list) else [])
        forbidden = [f for f in rec.get("forbidden", []) if isinstance(f, str)]
        if spec.get("forbid"):
            forbidden += static_forbidden(static, spec["forbid"], aliases)
        trusted["forbidden"] = list(dict.fromkeys(forbidden))
        try:
            verdict = checks.verify(trusted)
        except Exception as exc:  # noqa: BLE001 - malformed student outputs
            verdict = checks.Verdict(False, f"{spec['exercise']} [{spec['name']}]: your outputs "
                                            f"could not be read ({type(exc).__name__})", ["<record>"], 0)
        if trusted["forbidden"]:
            result.flags.append("forbidden_call")
        claimed = rec.get("passed")
        result.checks.append(CheckResult(spec["name"], verdict.passed, verdict.message,
                                         verdict.n_cases, claimed if isinstance(claimed, bool) else None))
    result.flags = list(dict.fromkeys(result.flags))
    zeroing = [f for f in result.flags if f in ZEROING]
    if not ex.specs:  # a test cell without actlab.checks: nbgrader's rule, stderr ignored
        err = _error_of(cell)
        ok = err is None and not zeroing
        result.flags.append("unverified")
        result.passed, result.points = ok, ex.points if ok else 0.0
        result.message = "Passed." if ok else f"The tests failed: {_short(': '.join(err or ('', '')))}"
        return _finish(result, ex)
    all_ok = all(c.passed for c in result.checks)
    result.passed = all_ok and not zeroing
    result.points = ex.points if result.passed else 0.0
    if result.passed:
        n = sum(c.n_cases for c in result.checks)
        result.message = f"All {len(result.checks)} checks passed ({n} cases)."
    elif [f for f in zeroing if f not in OUTCOMES]:
        first = [f for f in zeroing if f not in OUTCOMES][0]
        result.message = FLAG_TEXT[first]
        if all_ok:
            result.message += " (Your answer's outputs were correct, but the exercise scores 0.)"
    elif zeroing and (all_ok or all(c.message == "did not run" for c in result.checks)):
        result.message = FLAG_TEXT[zeroing[0]]
    else:
        failed = [c for c in result.checks if not c.passed]
        first = failed[0]
        if first.message in ("did not run",):
            err = _error_of(cell)
            sol_err = next((e for e in solution_errors if e), None)
            if sol_err:
                result.message = (f"Your solution cell raised {sol_err[0]}: {_short(sol_err[1], 200)}, "
                                  "so the tests could not run.")
            elif err:
                result.message = f"The tests stopped with {err[0]}: {_short(err[1], 200)}"
            else:
                result.message = "The tests did not run to completion."
        else:
            result.message = first.message
    return _finish(result, ex)


def _finish(result: ExerciseResult, ex: Exercise) -> ExerciseResult:
    if not result.passed:
        hint = catalogue_hint(result.message)
        if hint and hint not in result.message:
            result.message += f"\n  Hint: {hint}"
    result.message = redact(result.message, ex.hidden)
    for c in result.checks:
        c.message = redact(c.message, ex.hidden)
    return result


#: Findings that cost the exercise its points, with the sentence the student reads.
FLAG_TEXT = {
    "monkeypatch": "Your code replaces functions of numpy / torch / actlab / Python itself "
                   "(monkeypatching); exercises after it score 0.",
    "forged_record": "Your notebook produced fake or duplicated check results; this exercise "
                     "scores 0.",
    "introspection": "Your code inspects the test machinery (stack frames, garbage collector, "
                     "ctypes); this exercise scores 0.",
    "kernel_exit": "Your code exits or signals the Python process; this exercise scores 0.",
    "process_spawn": "Your code starts processes (fork, subprocess, os.system); this exercise "
                     "scores 0.",
    "file_access": "Your code reads or writes files outside your working folder; this exercise "
                   "scores 0.",
    "network": "Your code uses the network; this exercise scores 0.",
    "dynamic_code": "Your code builds code at run time (exec, eval, __import__, getattr with a "
                    "computed name), which the grader cannot verify; this exercise scores 0.",
    "locked_cell_edited": "A read-only cell of this exercise (its tests) was edited; the original "
                          "was restored and the exercise scores 0.",
    "metadata_edited": "The grading metadata of this exercise's cells (points, ids, flags) was "
                       "edited; the exercise scores 0.",
    "test_cell_missing": "The test cell of this exercise was deleted; the exercise scores 0.",
    "test_cell_duplicated": "The test cell of this exercise was duplicated; the exercise scores 0.",
    "solution_cell_missing": "The answer cell of this exercise was deleted.",
    "solution_cell_duplicated": "The answer cell of this exercise was duplicated; the exercise "
                                "scores 0.",
    "kernel_died": "The Python process died while running this exercise's tests (os._exit, or "
                   "the memory / process / CPU limit).",
    "timeout": "This exercise's tests ran past the time limit and were stopped.",
    "not_run": "This exercise's tests could not run (earlier cells crashed the kernel too often).",
    "forbidden_call": "Your solution uses what this exercise asks you to build from scratch.",
}
ZEROING = set(FLAG_TEXT) - {"solution_cell_missing"}
#: Zeroing flags that describe what happened to the answer (the checks' own message says more).
OUTCOMES = {"forbidden_call", "kernel_died", "timeout", "not_run"}
