"""The sandbox every grading kernel runs in (autograder/sandbox.py, autograder/execute.py).

Each probe is a cell of a notebook executed by the grader's own ``SandboxedExecute``; the cell
prints one JSON line the test then reads. Needs bubblewrap (``make grader-deps``); without it
these tests fail, on purpose: a grader without its sandbox is not the grader that was tested.
"""
from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.execute import SandboxedExecute
from autograder.sandbox import bwrap_works

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_cells(sources, config=None, tags=None):
    from traitlets.config import Config
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in sources]
    for i, t in (tags or {}).items():
        nb.cells[i].metadata["tags"] = t
    c = Config()
    for key, value in (config or {}).items():
        cls, attr = key.split(".")
        setattr(c[cls], attr, value)
    ep = SandboxedExecute(config=c)
    nb, _ = ep.preprocess(nb, {"metadata": {"path": str(ROOT)}})
    return nb


def out(cell):
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")
    return json.loads(text.strip().splitlines()[-1]) if text.strip() else None


def test_bubblewrap_is_available():
    ok, why = bwrap_works(os.geteuid() == 0)
    assert ok, f"the grading sandbox needs bubblewrap: {why} (run `make grader-deps`)"


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    secret_dir = tmp_path_factory.mktemp("secret")
    secret = secret_dir / "gradebook.db"
    secret.write_text("hidden tests live here")
    marker = f"/tmp/sandbox-probe-{uuid.uuid4().hex}"
    os.environ["AUTOGRADER_TEST_SECRET"] = "s3cr3t"
    cells = [
        """
        import json, os
        status = open('/proc/self/status').read()
        caps = [l.split()[1] for l in status.splitlines() if l.startswith('CapEff')][0]
        nnp = [l.split()[1] for l in status.splitlines() if l.startswith('NoNewPrivs')][0]
        print(json.dumps({'uid': os.getuid(), 'caps': caps, 'nnp': nnp,
                          'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}))
        """,
        """
        import socket
        res = {}
        for name, fn in [('connect', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3)),
                         ('dns', lambda: socket.gethostbyname('pypi.org'))]:
            try:
                fn(); res[name] = 'reachable'
            except OSError as exc:
                res[name] = type(exc).__name__
        res['interfaces'] = [name for _, name in socket.if_nameindex()]
        print(json.dumps(res))
        """,
        f"""
        paths = {[str(ROOT / 'solutions'), str(ROOT / 'tests'), str(ROOT / 'autograder'),
                  str(ROOT / 'build'), str(ROOT / 'chapters'), str(ROOT / '.git'), str(secret),
                  str(secret_dir), '/root/.bash_history', '/etc/shadow', '/home']!r}
        seen = {{p: os.path.exists(p) for p in paths}}
        seen['{ROOT}'] = sorted(os.listdir('{ROOT}'))  # only the skeleton of what Python needs
        print(json.dumps(seen))
        """,
        f"""
        import sys
        res = {{}}
        for p in ['{ROOT}/src/actlab/owned.py', sys.prefix + '/owned', 'mine.txt', '{marker}']:
            try:
                open(p, 'w').write('x'); res[p] = 'written'
            except OSError as exc:
                res[p] = type(exc).__name__
        print(json.dumps(res))
        """,
        "print(json.dumps({'env': sorted(os.environ)}))",
        "import numpy, actlab.checks\nprint(json.dumps({'imports': 'ok'}))",
    ]
    nb = run_cells(cells)
    yield {name: out(cell) for name, cell in zip(
        ["identity", "network", "read", "write", "env", "imports"], nb.cells)}, marker, ROOT
    os.environ.pop("AUTOGRADER_TEST_SECRET", None)


def test_kernel_runs_unprivileged_in_its_own_pid_namespace(probes):
    p, *_ = probes
    if os.geteuid() == 0:
        assert p["identity"]["uid"] >= 61000
    assert p["identity"]["caps"] == "0000000000000000"
    assert p["identity"]["nnp"] == "1"
    assert len(p["identity"]["pids"]) < 10, "sees other processes"


def test_no_network(probes):
    p, *_ = probes
    assert p["network"]["connect"] != "reachable" and p["network"]["dns"] != "reachable"
    assert p["network"]["interfaces"] in (["lo"], [])


def test_no_read_access_to_course_files(probes):
    p, *_ = probes
    root = str(probes[2])
    visible = [path for path, seen in p["read"].items() if seen and path != root]
    assert visible == [], visible
    assert set(p["read"][root]) <= {".venv", "src"}, p["read"][root]


def test_writes_only_to_its_scratch_folder(probes):
    p, marker, root = probes
    w = p["write"]
    assert w["mine.txt"] == "written"
    assert w[f"{root}/src/actlab/owned.py"] != "written"
    assert not (root / "src" / "actlab" / "owned.py").exists()
    assert [v for k, v in w.items() if k.endswith("/owned")] != ["written"]
    # /tmp inside is a private tmpfs: the host's /tmp never sees the file
    assert not Path(marker).exists()


def test_grader_environment_does_not_leak(probes):
    p, *_ = probes
    assert "AUTOGRADER_TEST_SECRET" not in p["env"]["env"]
    assert p["imports"] == {"imports": "ok"}


def test_resource_limits_and_survival():
    cells = [
        "import json, os, time\nx = 41",
        # memory: 2 GiB against a 1 GiB address-space limit
        """
        try:
            b = bytearray(2 * 2**30); res = 'allocated'
        except MemoryError:
            res = 'MemoryError'
        print(json.dumps({'memory': res}))
        """,
        # processes: a fork bomb stops at the limit
        """
        n = 0
        try:
            while n < 1000:
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
        except OSError:
            pass
        print(json.dumps({'forks': n}))
        """,
        "while True: pass",                      # wall time: killed after the cell timeout
        "print(json.dumps({'after_timeout': x + 1}))",
        "t0 = time.process_time()\nwhile True: sum(range(10**6))",   # CPU time: killed by RLIMIT_CPU
        "print(json.dumps({'after_cpu': x + 1}))",
        "os._exit(1)",                           # exit: the kernel dies, grading goes on
        "print(json.dumps({'after_exit': x + 1}))",
        "time.sleep(3)",                         # an experiment: skipped
    ]
    nb = run_cells(cells, {"SandboxKernelManager.memory_mb": 1024, "SandboxKernelManager.nproc": 64,
                           "SandboxKernelManager.cpu_seconds": 8, "SandboxedExecute.timeout": 5},
                   tags={9: ["experiment"]})
    assert out(nb.cells[1]) == {"memory": "MemoryError"}
    assert 0 < out(nb.cells[2])["forks"] < 64
    assert nb.cells[3].metadata["autograder"]["fatal"] == "timeout"
    assert out(nb.cells[4]) == {"after_timeout": 42}
    assert nb.cells[5].metadata["autograder"]["fatal"] in ("kernel_died", "timeout")
    assert out(nb.cells[6]) == {"after_cpu": 42}
    assert nb.cells[7].metadata["autograder"]["fatal"] == "kernel_died"
    assert out(nb.cells[8]) == {"after_exit": 42}
    assert nb.cells[9].outputs == [] and nb.cells[9].execution_count is None
    assert nb.metadata["autograder"]["kernel_restarts"] == 3


def test_without_bubblewrap_the_limits_still_apply():
    """``--sandbox none`` (a machine without bubblewrap): no namespaces, but the resource limits
    and the clean environment stay, and the kernel reports which sandbox it ran in."""
    os.environ["AUTOGRADER_TEST_SECRET"] = "s3cr3t"
    nb = run_cells(["""
        import json, os, resource
        print(json.dumps({'sandbox': os.environ.get('AUTOGRADER_SANDBOX'),
                          'as': resource.getrlimit(resource.RLIMIT_AS)[0],
                          'nproc': resource.getrlimit(resource.RLIMIT_NPROC)[0],
                          'secret': 'AUTOGRADER_TEST_SECRET' in os.environ}))
        """], {"SandboxKernelManager.backend": "none", "SandboxKernelManager.memory_mb": 2048,
               "SandboxKernelManager.nproc": 100})
    os.environ.pop("AUTOGRADER_TEST_SECRET")
    assert out(nb.cells[0]) == {"sandbox": "none", "as": 2048 * 2**20, "nproc": 100, "secret": False}


def test_a_folder_under_tmp_stays_visible(tmp_path):
    """What Python needs may live under /tmp (a repository and its virtual environment cloned there): the
    kernel's own small /tmp must not hide it. (The tmpfs is mounted before the read-only binds.)"""
    import shutil
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="agk-test-ro-", dir="/tmp"))
    try:
        (folder / "lib.txt").write_text("visible")
        folder.chmod(0o755)
        (folder / "lib.txt").chmod(0o644)
        nb = run_cells([f"import json\nprint(json.dumps({{'read': open('{folder}/lib.txt').read()}}))"],
                       {"SandboxKernelManager.extra_ro_paths": [str(folder)]})
        assert out(nb.cells[0]) == {"read": "visible"}
    finally:
        shutil.rmtree(folder)
