"""Test submissions for the autograder, built from the grading fixture (tests/fixtures/autograder).

Each entry of ``TAMPERING`` is one student's notebook, made from the fixture's full-marks
notebook by one change, with the outcome the grader must produce: points per exercise (ex1 2,
ex2 3, ex3 1 at most) and the flags that must appear (and, where the point is that stock nbgrader
is fooled, a note).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "autograder" / "solutions" / "99_grading_fixture.md"
SLUG = FIXTURE.stem
FULL = (2.0, 3.0, 1.0)


def gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def index_of(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if gid(c) == grade_id)


def set_answer(nb, grade_id, source):
    nb.cells[index_of(nb, grade_id)].source = source


def insert_cell(nb, before_grade_id, source):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.insert(index_of(nb, before_grade_id), cell)


@dataclass
class Case:
    name: str
    build: object                 # (full_marks_nb) -> nb
    points: tuple                 # expected points per exercise
    flags: dict = field(default_factory=dict)   # exercise index -> flags that must be present


def _monkeypatch_numpy(nb):
    set_answer(nb, "ex1-square", "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                                 "np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
                                 "def square(x):\n    return x + 1")
    return nb


def _patch_checks(nb):
    # fools stock nbgrader completely: no check runs, so no test cell raises
    insert_cell(nb, "ex1-square", "import actlab.checks as C\nC.check_function = lambda *a, **k: None")
    set_answer(nb, "ex1-square", "def square(x):\n    return x")
    return nb


def _patch_verify(nb):
    # records are emitted with passed=True whatever the outputs: stock nbgrader gives full marks
    insert_cell(nb, "ex2-sigmoid", "from actlab import checks as ck\n"
                                   "ck.verify = lambda record, cases=None: ck.Verdict(True, 'ok', [], 1)")
    set_answer(nb, "ex2-sigmoid", "def sigmoid(x):\n    return x * 0")
    set_answer(nb, "ex3-count", "def count_positive(x):\n    return 99")
    return nb


def _fake_record(nb):
    # a record claiming ex2 passed, emitted from a cell of the student's, and fake check text
    insert_cell(nb, "ex2-sigmoid", (
        "from IPython.display import display\n"
        "rec = {'exercise': 'ex2-sigmoid', 'name': 'hidden: random and extreme inputs', 'passed': True}\n"
        "display({'application/vnd.actlab.check+v1+json': rec, 'text/plain': 'ok'}, raw=True)\n"
        "print('\\u2714 ex1-square [hidden: random arrays]: 10 cases passed')"))
    return nb


def _duplicate_records(nb):
    # the student's function emits a second (forged) record while the real test runs
    set_answer(nb, "ex3-count", (
        "def count_positive(x):\n"
        "    from actlab import checks as c\n"
        "    c._emit({'exercise': 'ex3-count', 'name': 'visible: three entries', 'passed': True,\n"
        "             'case_ids': [], 'outputs': [], 'warnings': [], 'no_warnings': False})\n"
        "    return int((x > 0).sum())"))
    return nb


def _edit_locked(nb):
    nb.cells[index_of(nb, "ex1-square-tests")].source = "pass  # no tests here"
    return nb


def _delete_test(nb):
    del nb.cells[index_of(nb, "ex2-sigmoid-tests")]
    return nb


def _duplicate_test(nb):
    i = index_of(nb, "ex3-count-tests")
    nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
    nb.cells[i + 1].id = "dup"
    return nb


def _edit_points(nb):
    nb.cells[index_of(nb, "ex1-square-tests")].metadata.nbgrader.points = 100
    return nb


def _rename_grade_id(nb):
    nb.cells[index_of(nb, "ex2-sigmoid-tests")].metadata.nbgrader.grade_id = "ex2-my-own-tests"
    return nb


def _unlock_and_rewrite(nb):
    cell = nb.cells[index_of(nb, "ex3-count-tests")]
    cell.metadata.nbgrader.locked = False
    cell.metadata.nbgrader.grade = False
    return nb


def _os_exit(nb):
    set_answer(nb, "ex2-sigmoid", "import os\ndef sigmoid(x):\n    os._exit(0)")
    return nb


def _sys_exit_cell(nb):
    insert_cell(nb, "ex3-count", "import sys\nsys.exit('bye')")
    return nb


def _infinite_loop(nb):
    set_answer(nb, "ex3-count", "def count_positive(x):\n    while True:\n        pass")
    return nb


def _memory_bomb(nb):
    set_answer(nb, "ex1-square", "def square(x):\n    hog = []\n    while True:\n"
                                 "        hog.append(bytearray(2**27))\n    return x * x")
    return nb


def _fork_bomb(nb):
    set_answer(nb, "ex2-sigmoid", ("import os, time\ndef sigmoid(x):\n    while True:\n"
                                   "        if os.fork() == 0:\n            time.sleep(60)\n"
                                   "            os._exit(0)"))
    return nb


def _read_files(nb):
    # tries the gradebook, the instructor's source and the repository: none exists in the sandbox
    set_answer(nb, "ex1-square", (
        "import glob, os\n"
        "def square(x):\n"
        f"    found = [p for p in ['{ROOT}/solutions', '{ROOT}/tests', '/etc/shadow', '/root']\n"
        "             if os.path.exists(p) and os.listdir(p)]\n"
        "    if found:\n"
        "        return x * x  # would only pass if it could see them\n"
        "    raise FileNotFoundError(open('../../gradebook.db').read())"))
    return nb


def _exfiltrate(nb):
    # puts the test cell's source (hidden tests included) into an error message
    set_answer(nb, "ex1-square", (
        "import inspect, linecache\n"
        "def square(x):\n"
        "    text = ''.join(''.join(linecache.getlines(f.filename)) for f in inspect.stack())\n"
        "    raise ValueError(text)"))
    return nb


def _warning_correct(nb):
    # correct code that prints a warning on stderr while tested: stock nbgrader gives 0
    set_answer(nb, "ex1-square", ("import sys, warnings\ndef square(x):\n"
                                  "    print('note: squaring', file=sys.stderr)\n"
                                  "    warnings.warn('x * x may overflow', RuntimeWarning)\n"
                                  "    return x * x"))
    return nb


def _from_scratch_violation(nb):
    set_answer(nb, "ex2-sigmoid", "from scipy.special import expit\ndef sigmoid(x):\n    return expit(x)")
    return nb


def _aliased_violation(nb):
    # grabs the forbidden function before the test and hides it in a default argument
    set_answer(nb, "ex2-sigmoid", "import scipy.special as sp\ndef sigmoid(x, _f=sp.expit):\n    return _f(x)")
    return nb


def _extra_graded_cell(nb):
    cell = nbformat.v4.new_code_cell("print('bonus')")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus-tests", "locked": True,
                                 "points": 50, "schema_version": 3, "solution": False}
    nb.cells.append(cell)
    return nb


def _honest_extras(nb):
    # things honest students do that must not be mistaken for tampering: checking themselves with
    # the visible test in a cell of their own, freeing memory, dynamic attributes of their own objects
    insert_cell(nb, "ex1-square-tests", (
        "import gc, os\n"
        "checks.check_function(square, checks.cases.literal(checks.case('mine', np.array([4.0]))),\n"
        "                      reference='numpy.square', exercise='ex1-square', name='my own test')\n"
        "gc.collect()\nos.environ['MY_SETTING'] = '1'\n"
        "class Box:\n    pass\nb = Box()\nsetattr(b, 'value', 3)\nprint(getattr(b, 'va' + 'lue'))"))
    return nb


def _same(nb):
    return nb


TAMPERING = [
    Case("full_marks", _same, FULL),
    Case("monkeypatch_numpy", _monkeypatch_numpy, (0, 0, 0), {0: ["monkeypatch"], 1: ["monkeypatch"], 2: ["monkeypatch"]}),
    Case("patch_check_function", _patch_checks, (0, 0, 0), {0: ["monkeypatch"]}),
    Case("patch_verify", _patch_verify, (2, 0, 0), {1: ["monkeypatch"], 2: ["monkeypatch"]}),
    Case("fake_record", _fake_record, (0, 0, 0), {0: ["forged_record"], 1: ["forged_record"], 2: ["forged_record"]}),
    Case("duplicate_record", _duplicate_records, (2, 3, 0), {2: ["forged_record"]}),
    Case("edit_locked_test", _edit_locked, (0, 3, 1), {0: ["locked_cell_edited"]}),
    Case("delete_test_cell", _delete_test, (2, 0, 1), {1: ["test_cell_missing"]}),
    Case("duplicate_test_cell", _duplicate_test, (2, 3, 0), {2: ["test_cell_duplicated"]}),
    Case("edit_points", _edit_points, (0, 3, 1), {0: ["metadata_edited"]}),
    Case("rename_grade_id", _rename_grade_id, (2, 0, 1), {1: ["test_cell_missing"]}),
    Case("unlock_test_cell", _unlock_and_rewrite, (2, 3, 0), {2: ["metadata_edited"]}),
    Case("os_exit", _os_exit, (2, 0, 1), {1: ["kernel_died", "kernel_exit"]}),
    Case("sys_exit_cell", _sys_exit_cell, (2, 3, 0), {2: ["kernel_exit"]}),
    Case("infinite_loop", _infinite_loop, (2, 3, 0), {2: ["timeout"]}),
    Case("memory_bomb", _memory_bomb, (0, 3, 1), {}),
    Case("fork_bomb", _fork_bomb, (2, 0, 1), {1: ["process_spawn"]}),
    Case("read_files", _read_files, (0, 3, 1), {0: ["file_access"]}),
    Case("exfiltrate_hidden_tests", _exfiltrate, (0, 3, 1), {0: ["introspection"]}),
    Case("warning_from_correct_code", _warning_correct, FULL, {}),
    Case("from_scratch_violation", _from_scratch_violation, (2, 0, 1), {1: ["forbidden_call"]}),
    Case("aliased_from_scratch_violation", _aliased_violation, (2, 0, 1), {1: ["forbidden_call"]}),
    Case("extra_graded_cell", _extra_graded_cell, FULL, {}),
    Case("honest_extras", _honest_extras, FULL, {}),
]


def write_nb(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def malformed(folder: Path, release) -> dict[str, str]:
    """Malformed submissions in nbgrader's layout: {student: expected status}."""
    def put(student, text):
        p = folder / student / SLUG / f"{SLUG}.ipynb"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    put("invalid_json", '{"cells": [ {"cell_type": "code", "source": ')
    r = copy.deepcopy(release)
    r.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    put("wrong_kernel", nbformat.writes(r))
    r = copy.deepcopy(release)
    r.cells = [c for c in r.cells if not gid(c)]
    put("missing_cells", nbformat.writes(r))
    put("not_a_notebook", json.dumps({"hello": "world"}))
    other = folder / "wrong_name" / SLUG / "my_homework.ipynb"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text(nbformat.writes(release))
    return {"invalid_json": "invalid_notebook", "wrong_kernel": "wrong_kernel",
            "missing_cells": "missing_cells", "not_a_notebook": "invalid_notebook",
            "wrong_name": "unrecognised_filename"}
