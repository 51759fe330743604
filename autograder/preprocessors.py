"""nbgrader preprocessors that make grading tamper-resistant, and the converter that runs them.

``GradingAutograde`` is nbgrader's ``Autograde`` converter with two more steps in each of its
two passes (everything else is nbgrader's own code):

sanitize pass   ``DetectTampering`` -> nbgrader's ClearOutput, DeduplicateIds,
                OverwriteKernelspec, OverwriteCells, CheckCellMetadata -> ``StaticScan``
autograde pass  ``SandboxedExecute`` -> nbgrader's LimitOutput -> ``VerifyChecks`` ->
                ``SaveVerifiedGrades`` -> AssignLatePenalties, CheckCellMetadata

* ``DetectTampering`` compares the submission with the released notebook *before* nbgrader
  quietly repairs it: edited locked cells, edited nbgrader metadata (points, ids, flags, cell
  type), deleted or duplicated test and answer cells, grade ids that do not exist.
* ``StaticScan`` reads the code the student wrote or changed (never the instructor's
  unchanged cells, never skipped cells) for monkeypatching, exits, process spawning, file
  and network access, introspection of the test machinery, code built at run time, forged
  check records.
* ``VerifyChecks`` turns the executed notebook into per-exercise verdicts (module
  :mod:`autograder.verify`) and stores them in the notebook's metadata.
* ``SaveVerifiedGrades`` is nbgrader's ``SaveAutoGrades`` with those verdicts as scores (not
  "did the cell print an error", which a warning on stderr or a patched assert would sway).

A finding in a cell costs the exercise it belongs to (the next test cell after it); findings
whose effect is global (monkeypatching, forged records) cost every exercise
from there on. Findings after the last test cell touch nothing graded and are only reported.
"""
from __future__ import annotations

import ast
import re

from nbgrader.converters import Autograde
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, LimitOutput, NbGraderPreprocessor,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
from nbgrader import utils as nbutils
from traitlets import List

from .execute import SandboxedExecute, is_skipped
from .verify import (Assignment, _aliases, _python_only, grade_exercise, is_test_cell, mime, nbg,
                     records_in)

GLOBAL_FLAGS = {"monkeypatch", "forged_record"}


def _ag(resources) -> dict:
    return resources.setdefault("autograder", {})


def _assignment(resources) -> Assignment:
    return resources["autograder"]["assignment"]


def _owners(nb, assignment: Assignment) -> list[list[str]]:
    """For each cell, the test ids a finding there costs: the exercise it belongs to (the
    next one in order after the test cells already passed) and all later exercises; a local
    finding takes only the first. Cells after the last test cell belong to no exercise."""
    tests = [ex.test_id for ex in assignment.exercises]
    owners, passed = [], set()
    for cell in nb.cells:
        k = len(passed)
        owners.append(tests[k:])
        gid = nbg(cell).get("grade_id")
        if gid in tests and is_test_cell(cell):
            passed.add(gid)
    return owners


def add_finding(nb, flag: str, test_ids: list[str], detail: str, cell: int | None = None):
    nb.metadata.setdefault("autograder", {}).setdefault("findings", []).append(
        {"flag": flag, "tests": list(test_ids), "detail": detail, "cell": cell})


class DetectTampering(NbGraderPreprocessor):
    """Record what the student changed in cells they may not change (before nbgrader repairs it)."""

    def preprocess(self, nb, resources):
        a = _assignment(resources)
        nb.metadata.setdefault("autograder", {})["findings"] = []
        owners = _owners(nb, a)
        seen: dict[str, int] = {}
        for i, cell in enumerate(nb.cells):
            raw = cell.metadata.get("nbgrader")
            meta = nbg(cell)
            gid = meta.get("grade_id")
            if raw is not None and (not isinstance(raw, dict) or not gid):
                if raw:
                    add_finding(nb, "metadata_edited", owners[i][:1], "malformed nbgrader metadata", i)
                del cell.metadata["nbgrader"]
                continue
            if not gid:
                continue
            ex = a.exercise_of(gid)
            here = [ex.test_id] if ex else owners[i][:1]
            seen[gid] = seen.get(gid, 0) + 1
            if seen[gid] == 2:
                kind = "test_cell_duplicated" if ex and gid == ex.test_id else "solution_cell_duplicated"
                add_finding(nb, kind if ex else "metadata_edited", here, f"{gid} appears twice", i)
            ref = a.release_meta.get(gid)
            if ref is None:
                if meta.get("grade") or meta.get("locked") or meta.get("solution"):
                    add_finding(nb, "metadata_edited", owners[i][:1],
                                f"a cell claims grade id {gid!r}, which this assignment does not have", i)
                del cell.metadata["nbgrader"]  # a plain cell from now on
                continue
            changed = [k for k in ("grade", "solution", "locked")
                       if bool(meta.get(k)) != bool(ref.get(k))]
            if ref.get("grade") and _num(meta.get("points")) != _num(ref.get("points")):
                changed.append("points")
            if cell.cell_type != ref["cell_type"]:
                changed.append("cell_type")
            if changed:
                add_finding(nb, "metadata_edited", here, f"{gid}: {', '.join(changed)} changed", i)
            if gid in a.release_sources and _norm(cell.source) != _norm(a.release_sources[gid]):
                add_finding(nb, "locked_cell_edited", here, f"{gid} was edited", i)
            # the release's metadata is the truth (nbgrader then restores locked sources)
            cell.metadata["nbgrader"] = {k: v for k, v in ref.items() if k != "cell_type"}
        # a duplicated cell keeps its metadata only in its last copy (as nbgrader's
        # DeduplicateIds would, but without leaving an empty, invalid metadata block)
        last = {}
        for i, cell in enumerate(nb.cells):
            if nbg(cell).get("grade_id"):
                last[nbg(cell)["grade_id"]] = i
        for i, cell in enumerate(nb.cells):
            g = nbg(cell).get("grade_id")
            if g and last[g] != i:
                del cell.metadata["nbgrader"]
        present = {nbg(c).get("grade_id") for c in nb.cells}
        for ex in a.exercises:
            if ex.test_id not in present:
                add_finding(nb, "test_cell_missing", [ex.test_id], f"{ex.test_id} was deleted")
            for sid in ex.solution_ids:
                if sid not in present:
                    add_finding(nb, "solution_cell_missing", [ex.test_id], f"{sid} was deleted")
        return nb, resources


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _norm(src: str) -> str:
    return "\n".join(line.rstrip() for line in str(src).strip().split("\n"))


# --------------------------------------------------------------------------- static scan
PROTECTED = {"numpy", "torch", "scipy", "actlab", "math", "builtins", "IPython", "ipykernel",
             "sys", "json", "base64", "io", "inspect", "types", "importlib", "traceback",
             "functools", "operator", "jupyter_client", "zmq", "nbformat"}
#: Settings a student may legitimately assign to (not monkeypatching).
ASSIGNABLE = ("torch.backends.", "numpy.random.seed", "sys.setrecursionlimit")
EXIT_CALLS = {"os._exit", "os.abort", "os.kill", "os.killpg", "sys.exit", "exit", "quit",
              "signal.signal", "signal.alarm", "signal.raise_signal", "signal.pthread_kill",
              "faulthandler"}
SPAWN = {"os.fork", "os.forkpty", "os.system", "os.popen", "os.posix_spawn", "os.posix_spawnp",
         "subprocess", "multiprocessing", "pty", "concurrent.futures.ProcessPoolExecutor",
         "os.execv", "os.execve", "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execvp",
         "os.execvpe", "os.spawnl", "os.spawnv", "os.spawnve", "os.spawnlp", "os.spawnvp"}
NETWORK = {"socket", "urllib", "http", "requests", "ftplib", "smtplib", "ssl", "asyncio.open_connection",
           "telnetlib", "xmlrpc"}
INTROSPECTION = {"ctypes", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._getframe", "sys.settrace", "sys.setprofile",
                 "sys.addaudithook", "sys.modules", "inspect.currentframe", "inspect.stack",
                 "inspect.getouterframes", "inspect.getinnerframes", "inspect.trace",
                 "inspect.getsource", "traceback.extract_stack", "traceback.walk_stack",
                 "traceback.format_stack", "traceback.print_stack", "linecache",
                 "get_ipython", "IPython.get_ipython", "ipykernel", "threading.settrace",
                 "builtins", "__builtins__", "atexit", "marshal"}
DYNAMIC = {"exec", "eval", "compile", "__import__", "importlib.import_module",
           "importlib.reload", "importlib.__import__", "runpy"}
FORGE = {"IPython.display.publish_display_data", "IPython.core.display.publish_display_data",
         "publish_display_data"}
PATH_CALLS = {"open", "io.open", "os.open", "pathlib.Path", "Path", "os.listdir", "os.scandir",
              "os.walk", "glob.glob", "glob.iglob", "numpy.load", "numpy.loadtxt", "numpy.fromfile",
              "numpy.genfromtxt", "torch.load", "pickle.load", "shutil.copy", "shutil.copyfile",
              "shutil.rmtree", "os.remove", "os.unlink", "os.chdir", "os.stat", "os.path.exists",
              "os.readlink", "os.symlink"}


def _dotted(node, alias) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        head = alias.get(node.id, node.id)
        return ".".join([head] + parts[::-1])
    if isinstance(node, ast.Call):
        inner = _dotted(node.func, alias)
        return f"{inner}()" + ("." + ".".join(parts[::-1]) if parts else "") if inner else None
    if isinstance(node, ast.Subscript):
        return _dotted(node.value, alias)
    return None


def _hits(name: str, table: set[str]) -> bool:
    return any(name == t or name.startswith(t + ".") or name.startswith(t + "()") for t in table)


def scan_code(source: str, context: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(flag, detail) for every construct in a student's cell the grader does not accept.
    ``context``: import aliases bound elsewhere in the notebook (``np`` -> ``numpy``)."""
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return []
    alias = {"np": "numpy", **(context or {}), **_aliases(tree)}
    findings: list[tuple[str, str]] = []

    def add(flag, detail):
        if (flag, detail) not in findings:
            findings.append((flag, detail))

    # names bound to protected modules or their members (``m = sys.modules["numpy"]``, ``f = np``)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            src = _dotted(node.value, alias)
            # a module or one of its attributes, not the result of calling something in it
            if src and "(" not in src and src.split(".")[0] in PROTECTED:
                alias.setdefault(node.targets[0].id, src)
    for node in ast.walk(tree):
        # assignments into protected modules
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Attribute, ast.Subscript)):
                    name = _dotted(sub, alias) or ""
                    root = name.split(".")[0].split("(")[0]
                    if (root in PROTECTED or root == "__builtins__") and not name.startswith(ASSIGNABLE):
                        add("monkeypatch", f"assigns to {name}")
                    break
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "vnd.actlab" in node.value or re.search(r"[✔✘] ex\d+-", node.value):
                add("forged_record", "writes text that imitates a check record")
        names = []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            names = [f"{mod}.{a.name}" if mod else a.name for a in node.names]
            if mod:
                names.append(mod)
        elif isinstance(node, (ast.Attribute, ast.Name)):
            d = _dotted(node, alias)
            names = [d] if d else []
        elif isinstance(node, ast.Call):
            fn = _dotted(node.func, alias) or ""
            target = (_dotted(node.args[0], alias) or "") if node.args else ""
            protected = target.split(".")[0].split("(")[0] in PROTECTED | {"__builtins__"}
            if fn in ("setattr", "delattr") and protected:
                add("monkeypatch", f"{fn}({ast.unparse(node.args[0])}, ...)")
            if fn == "getattr" and len(node.args) >= 2 and protected \
                    and not isinstance(node.args[1], ast.Constant):
                add("dynamic_code", f"getattr({ast.unparse(node.args[0])}, <a computed name>)")
            if fn in ("display", "IPython.display.display") and any(
                    k.arg == "raw" for k in node.keywords):
                add("forged_record", "display(..., raw=True)")
            if _hits(fn, PATH_CALLS):
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and (
                            arg.value.startswith(("/", "~")) or ".." in arg.value):
                        add("file_access", f"{fn}({arg.value!r})")
        for name in names:
            for flag, table in (("kernel_exit", EXIT_CALLS), ("process_spawn", SPAWN),
                                ("network", NETWORK), ("introspection", INTROSPECTION),
                                ("dynamic_code", DYNAMIC), ("forged_record", FORGE)):
                if _hits(name, table):
                    add(flag, f"uses {name}")
    return findings


class StaticScan(NbGraderPreprocessor):
    """Scan the code the student wrote (cells that run and differ from the release)."""

    skip_tags = List(["experiment"]).tag(config=True)

    def preprocess(self, nb, resources):
        a = _assignment(resources)
        owners = _owners(nb, a)
        unchanged = {_norm(s) for s in a.release_code}
        context = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and not is_skipped(cell, self.skip_tags):
                try:
                    context.update(_aliases(ast.parse(_python_only(cell.source))))
                except SyntaxError:
                    pass
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or is_skipped(cell, self.skip_tags) or is_test_cell(cell):
                continue
            if nbg(cell).get("locked") or _norm(cell.source) in unchanged:
                continue
            for flag, detail in scan_code(cell.source, context):
                tests = owners[i] if flag in GLOBAL_FLAGS else owners[i][:1]
                add_finding(nb, flag, tests, detail, i)
        return nb, resources


# --------------------------------------------------------------------------- verdicts
FAKE_TEXT = re.compile(r"[✔✘] (ex\d+-[\w-]+) \[")


class VerifyChecks(NbGraderPreprocessor):
    """Per-exercise verdicts, recomputed here from the records (see :mod:`autograder.verify`)."""

    def preprocess(self, nb, resources):
        a = _assignment(resources)
        ag = nb.metadata.setdefault("autograder", {})
        findings = list(ag.get("findings", []))
        owners = _owners(nb, a)
        cells_by_id: dict[str, list] = {}
        stray: list[dict] = []
        key = mime()
        for i, cell in enumerate(nb.cells):
            gid = nbg(cell).get("grade_id")
            if gid:
                cells_by_id.setdefault(gid, []).append(cell)
            if cell.cell_type != "code":
                continue
            fatal = cell.metadata.get("autograder", {}).get("fatal")
            if fatal and not is_test_cell(cell):
                flag = {"kernel_died": "kernel_died", "timeout": "timeout"}.get(fatal, "not_run")
                findings.append({"flag": flag, "tests": owners[i][:1], "cell": i,
                                 "detail": f"cell {i + 1}: {fatal}"})
            if not is_test_cell(cell):
                stray += records_in(cell)
                for o in cell.get("outputs", []):
                    if key in o.get("data", {}):
                        continue  # a record outside its test cell: judged as a stray record
                    text = o.get("text", "") or o.get("data", {}).get("text/plain", "")
                    text = "".join(text) if isinstance(text, list) else str(text)
                    for m in FAKE_TEXT.finditer(text):
                        ex = next((e for e in a.exercises if m.group(1) in e.exercise_ids), None)
                        findings.append({"flag": "forged_record", "tests": [ex.test_id] if ex else [],
                                         "cell": i, "detail": f"prints text imitating a check of {m.group(1)}"})
        aliases = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and not is_skipped(cell):
                try:
                    aliases.update(_aliases(ast.parse(_python_only(cell.source))))
                except SyntaxError:
                    pass
        results = []
        for ex in a.exercises:
            flags = [f["flag"] for f in findings if ex.test_id in f["tests"]]
            sols = [c for sid in ex.solution_ids for c in cells_by_id.get(sid, [])]
            sol_errors = [_err(c) for c in sols]
            tests = [c for c in cells_by_id.get(ex.test_id, []) if is_test_cell(c)]
            res = grade_exercise(ex, tests, stray, [c.source for c in sols], flags, aliases,
                                 sol_errors)
            for c in tests[:1]:
                c.metadata.setdefault("autograder", {})["score"] = res.points
            results.append(res.to_json())
        for gid, points in a.manual.items():
            results.append({"number": None, "grade_id": gid, "title": gid, "points": None,
                            "max_points": points, "passed": False, "flags": [], "checks": [],
                            "message": "Graded by hand."})
        ag["findings"] = findings
        ag["results"] = results
        ag["sandbox"] = resources.get("autograder", {}).get("sandbox", "")
        return nb, resources


def _err(cell):
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            return o.get("ename", "Error"), str(o.get("evalue", ""))
    return None


class SaveVerifiedGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, scoring test cells with the grader-side verdict."""

    def _add_score(self, cell, resources):
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        verdict = cell.metadata.get("autograder", {}).get("score", "missing")
        if verdict == "missing":  # a written answer: nbgrader's own rule (None: grade by hand)
            auto_score, _ = nbutils.determine_grade(cell, self.log)
        else:
            auto_score = verdict
        grade.auto_score = auto_score
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()


class GradingAutograde(Autograde):
    """nbgrader's Autograde converter with the preprocessors above."""

    sanitize_preprocessors = List([DetectTampering, ClearOutput, DeduplicateIds,
                                   OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
                                   StaticScan]).tag(config=True)
    autograde_preprocessors = List([SandboxedExecute, LimitOutput, VerifyChecks,
                                    SaveVerifiedGrades, AssignLatePenalties,
                                    CheckCellMetadata]).tag(config=True)

    def __init__(self, *args, assignment: Assignment | None = None, **kw):
        super().__init__(*args, **kw)
        self.assignment_model = assignment

    def init_single_notebook_resources(self, notebook_filename):
        resources = super().init_single_notebook_resources(notebook_filename)
        resources["autograder"] = {"assignment": self.assignment_model}
        return resources
