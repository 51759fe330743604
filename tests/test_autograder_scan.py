"""The static scan for tampering (autograder/preprocessors.py) on honest code: every worked solution
of every chapter, and the constructs it must and must not flag."""
from __future__ import annotations

import pytest

from autograder.preprocessors import scan_code
from autograder.release import chapter_sources, read_source
from autograder.samples import solved
from autograder.verify import nbg

CHAPTERS = chapter_sources()


@pytest.mark.parametrize("source", CHAPTERS, ids=[s.stem for s in CHAPTERS])
def test_worked_solutions_are_not_flagged(source):
    nb = read_source(source)
    context = {"np": "numpy", "torch": "torch"}
    findings = {nbg(c)["grade_id"]: scan_code(solved(c.source), context)
                for c in nb.cells if nbg(c).get("solution") and c.cell_type == "code"}
    assert {k: v for k, v in findings.items() if v} == {}


@pytest.mark.parametrize("code, flag", [
    ("np.allclose = lambda *a, **k: True", "monkeypatch"),
    ("import numpy\nnumpy.testing.assert_allclose = print", "monkeypatch"),
    ("from actlab import checks as c\nc.verify = None", "monkeypatch"),
    ("import torch as T\nsetattr(T, 'sigmoid', abs)", "monkeypatch"),
    ("m = __import__('sys').modules", "dynamic_code"),
    ("import sys\nm = sys.modules['numpy']\nm.isclose = None", "monkeypatch"),
    ("__builtins__.print = None", "monkeypatch"),
    ("import os\nos._exit(0)", "kernel_exit"),
    ("import subprocess\nsubprocess.run(['ls'])", "process_spawn"),
    ("import socket", "network"),
    ("import inspect\ninspect.stack()", "introspection"),
    ("import gc\ngc.get_objects()", "introspection"),
    ("exec('x = 1')", "dynamic_code"),
    ("f = getattr(np, 'max' + 'imum')", "dynamic_code"),
    ("open('/work/main/solutions/00.md').read()", "file_access"),
    ("open('../../gradebook.db')", "file_access"),
    ("print('\\u2714 ex1-square [hidden]: 10 cases passed')", "forged_record"),
    ("display({'application/vnd.actlab.check+v1+json': {}}, raw=True)", "forged_record"),
])
def test_tampering_constructs_are_flagged(code, flag):
    assert flag in [f for f, _ in scan_code(code, {"np": "numpy"})], scan_code(code, {"np": "numpy"})


@pytest.mark.parametrize("code", [
    "norms = np.zeros(3)\nnorms[0] = 1.0",
    "import gc\ngc.collect()",
    "import os\nos.environ['OMP_NUM_THREADS'] = '1'",
    "import torch\ntorch.backends.cudnn.deterministic = True",
    "class Net:\n    def __init__(self):\n        setattr(self, 'w', 1)\n",
    "x = re.compile('a+')\nmodel.eval()",
    "w = getattr(layer, name)",
    "open('notes.txt', 'w').write('hi')",
    "import warnings\nwarnings.warn('slow')",
    "print(np.pi)",
])
def test_honest_code_is_not_flagged(code):
    assert scan_code(code, {"np": "numpy"}) == []
