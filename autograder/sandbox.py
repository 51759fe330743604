"""Sandboxed Jupyter kernels for student code.

Every kernel that runs student code is started by :class:`SandboxKernelManager`, a
``jupyter_client`` kernel manager that nbgrader's ``Execute`` preprocessor (and the
self-check) use in place of the stock one. It wraps the kernel command in

* ``prlimit``: CPU time (``RLIMIT_CPU``), address space (``RLIMIT_AS``), processes and
  threads (``RLIMIT_NPROC``), the size of any file written (``RLIMIT_FSIZE``), open files;
* ``bwrap`` (Debian's bubblewrap): new PID, IPC, UTS, cgroup and **network** namespaces
  (no interface but a loopback that reaches nothing), ``--die-with-parent``, a new
  session, and a filesystem made of read-only binds of exactly what Python needs (the
  interpreter, the virtual environment, editable source folders such as ``src/``,
  ``/usr``) plus one writable scratch folder (the kernel's working directory) and a small
  ``/tmp``. The repository, ``solutions/``, nbgrader's ``source/`` and gradebook, the
  cache and every other student's files simply do not exist inside;
* when the grader runs as root (CI, this container): ``setpriv`` drops to an unprivileged
  uid of its own (the lowest free one from ``uid_base``, held through a lock file while the
  kernel lives, so concurrent graders never share one), no capabilities, no new privileges:
  the process limit counts that kernel alone, kernels cannot touch one another, and when the
  kernel ends every process of that uid is killed. Run as an ordinary user, bubblewrap's
  user namespace does the same job (the process limit then counts the user's processes).

The kernel speaks to the grader over ZeroMQ's ``ipc`` transport (Unix sockets in the
scratch folder), since a kernel without a network cannot use TCP. The wall-time limit is
enforced by :class:`autograder.execute.SandboxedExecute` (per cell and per notebook).

``backend = "none"`` (a machine without bubblewrap) keeps only the resource limits and is
reported in every result's ``sandbox`` field.
"""
from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, CaselessStrEnum, Integer, List, Unicode, default

REPO = Path(__file__).resolve().parents[1]

#: Files under /etc a Python kernel may read (no secrets among them).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "hosts", "passwd", "group", "fonts", "mime.types", "alternatives")


def _python_roots() -> list[str]:
    """Folders the interpreter needs, read-only: prefixes, site-packages and the folders
    that ``.pth`` files of editable installs add (``src/`` of this project)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix,
             sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    sites = set(site.getsitepackages()) | {site.getusersitepackages()}
    roots |= {p for p in sites if os.path.isdir(p)}
    for sp in sites:
        if not os.path.isdir(sp):
            continue
        for pth in Path(sp).glob("*.pth"):
            for line in pth.read_text(errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "import")) and os.path.isdir(line):
                    roots.add(line)
        # setuptools' editable finders map package names to folders (several source roots)
        for finder in Path(sp).glob("__editable___*_finder.py"):
            m = re.search(r"^MAPPING[^=]*=\s*(\{.*?\})\s*$", finder.read_text(), re.M)
            if m:
                for folder in ast.literal_eval(m.group(1)).values():
                    if os.path.isdir(folder):
                        roots.add(folder)
    # the real interpreter behind a venv symlink
    roots.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))))
    return sorted(os.path.realpath(r) for r in roots if r)


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[:i])) for i in range(2, len(parts))]


@functools.lru_cache(maxsize=None)
def _which(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)


@functools.lru_cache(maxsize=None)
def bwrap_works(as_root: bool) -> tuple[bool, str]:
    """Probe once per process whether bubblewrap can build our sandbox here."""
    bwrap = _which("bwrap")
    if not bwrap:
        return False, "bubblewrap (bwrap) is not installed (apt-get install -y bubblewrap)"
    argv = [bwrap, "--ro-bind", "/usr", "/usr", *_usr_links(), "--proc", "/proc",
            "--dev", "/dev", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--die-with-parent", "--new-session", "/usr/bin/true"]
    if not as_root:
        argv.insert(1, "--unshare-user")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap failed to start: {exc}"
    if out.returncode != 0:
        return False, f"bwrap cannot create namespaces here: {out.stderr.strip()[:300]}"
    return True, "ok"


def uid_processes(uid: int) -> list[int]:
    """Pids whose real uid is ``uid`` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


LOCK_DIR = "/tmp/actlab-autograder-uids"


def acquire_uid(base: int, hint: int = 0, span: int = 512):
    """A sandbox uid no other kernel on this machine is using (any grader process): the lowest
    free one from ``base + hint``, held by an ``flock`` on a lock file until released."""
    import fcntl
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    for k in list(range(hint, span)) + list(range(0, hint)):
        f = open(os.path.join(LOCK_DIR, str(base + k)), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return base + k, f
    raise RuntimeError(f"no free sandbox uid in {base}..{base + span - 1}")


def reap_uid(uid: int, timeout: float = 10.0) -> int:
    """SIGKILL every process of a sandbox uid and wait until they are gone; returns how many."""
    import signal
    import time
    if uid == 0:
        raise ValueError("refusing to reap uid 0")
    deadline, killed = time.monotonic() + timeout, 0
    while True:
        pids = uid_processes(uid)
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)


def _usr_links() -> list[str]:
    """Recreate /bin, /lib, ... as on the host (symlinks into /usr on merged-usr systems)."""
    args = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


class SandboxKernelManager(AsyncKernelManager):
    """An ipykernel started inside the sandbox described in the module docstring.

    Configure it with traitlets, e.g. ``c.SandboxKernelManager.memory_mb = 2048``.
    """

    backend = CaselessStrEnum(
        ["auto", "bwrap", "none"], "auto", config=True,
        help="'bwrap' (required: fail if unavailable), 'none' (resource limits only), "
             "'auto' (bwrap when it works, else none with a warning).")
    cpu_seconds = Integer(300, config=True, help="CPU-time limit of the kernel (RLIMIT_CPU).")
    memory_mb = Integer(4096, config=True, help="Address-space limit in MiB (RLIMIT_AS).")
    nproc = Integer(256, config=True,
                    help="Processes and threads of the kernel's uid (RLIMIT_NPROC).")
    fsize_mb = Integer(256, config=True, help="Largest file the kernel may write (RLIMIT_FSIZE).")
    nofile = Integer(1024, config=True, help="Open files (RLIMIT_NOFILE).")
    tmp_mb = Integer(256, config=True, help="Size of the kernel's private /tmp (a tmpfs).")
    threads = Integer(1, config=True, help="OMP/MKL/torch threads inside the kernel.")
    uid_base = Integer(61000, config=True,
                       help="As root, kernels run as uids from uid_base up (one each).")
    slot = Integer(config=True, help="Where to start looking for a free uid "
                                     "(default: $AUTOGRADER_SLOT or 0).")
    extra_ro_paths = List(Unicode(), config=True,
                          help="More host folders to expose read-only (e.g. a data folder).")
    scratch_files = Unicode("", config=True,
                            help="A folder whose non-notebook files are copied into the scratch "
                                 "folder (nbgrader's supplementary assignment files).")
    keep_scratch = Bool(False, config=True, help="Keep the scratch folder (debugging).")
    protected_paths = List(Unicode(), config=True,
                           help="Host folders that must never be visible inside (the course "
                                "folder, solutions/, the gradebook's folder); a read-only bind "
                                "that would contain one of them is refused. The repository's "
                                "solutions/, tests/, autograder/ and build folders always are.")

    @default("protected_paths")
    def _protected_default(self):
        return [str(REPO / name) for name in ("solutions", "tests", "autograder", "build", "_build")]

    @default("slot")
    def _slot_default(self):
        return int(os.environ.get("AUTOGRADER_SLOT", "0"))

    @default("transport")
    def _transport_default(self):
        return "ipc"

    scratch = Unicode("")
    effective_backend = Unicode("")

    # --- kernelspec: always this interpreter's ipykernel, interrupted by message -----------
    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[os.path.abspath(sys.executable), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                      "--HistoryManager.hist_file=:memory:"],
                display_name="Python 3 (sandboxed)", language="python",
                interrupt_mode="message", env={})
        return self._kernel_spec

    @property
    def ipykernel(self) -> bool:  # nbclient adds a history-file argument when True
        return False

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    _uid_lock = None
    _uid = None

    @property
    def uid(self) -> int:
        if not self.as_root:
            return os.getuid()
        if self._uid is None:
            self._uid, self._uid_lock = acquire_uid(self.uid_base, self.slot)
        return self._uid

    def _release_uid(self):
        if self._uid_lock is not None:
            self._uid_lock.close()
        self._uid_lock = self._uid = None

    def _choose_backend(self) -> str:
        if self.backend == "none":
            return "none"
        ok, why = bwrap_works(self.as_root)
        if ok:
            return "bwrap"
        if self.backend == "bwrap":
            raise RuntimeError(f"sandbox backend 'bwrap' requested but unavailable: {why}")
        self.log.warning("Kernels run WITHOUT a filesystem/network sandbox: %s", why)
        return "none"

    # --- life cycle ----------------------------------------------------------------------
    async def _async_pre_start_kernel(self, **kw):
        self.effective_backend = self._choose_backend()
        if self.as_root:
            reap_uid(self.uid)  # leftovers of a grader that crashed
        # a short path: Unix socket names are limited to 108 bytes
        self.scratch = tempfile.mkdtemp(prefix="agk-", dir="/tmp")
        self._populate_scratch()
        self.connection_file = os.path.join(self.scratch, ".kernel.json")
        self.ip = os.path.join(self.scratch, ".ipc")
        kw["cwd"] = self.scratch
        kw["env"] = self._kernel_env()
        kw.pop("extra_arguments", None)
        # the kernel process's own stdout/stderr (not the cells' output) stay out of the
        # grader's terminal; stderr is kept for diagnosing a kernel that fails to start
        kw["stdout"] = subprocess.DEVNULL
        self._stderr_log = open(self.scratch + ".log", "wb")
        kw["stderr"] = self._stderr_log
        return await super()._async_pre_start_kernel(**kw)

    def _populate_scratch(self):
        src = self.scratch_files
        if src and os.path.isdir(src):
            for root, dirs, files in os.walk(src):
                rel = os.path.relpath(root, src)
                os.makedirs(os.path.join(self.scratch, rel), exist_ok=True)
                for name in files:
                    if not name.endswith(".ipynb"):
                        shutil.copy(os.path.join(root, name), os.path.join(self.scratch, rel, name))
        for sub in (".home", ".mpl"):
            os.makedirs(os.path.join(self.scratch, sub), exist_ok=True)
        if self.as_root:
            for root, dirs, files in os.walk(self.scratch):
                for name in [root] + [os.path.join(root, f) for f in files]:
                    os.chown(name, self.uid, self.uid)
        os.chmod(self.scratch, 0o700)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.as_root and self.scratch and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self.uid, self.uid)

    def _kernel_env(self) -> dict:
        """A clean environment: nothing of the grader's (no database URL, no tokens)."""
        n = str(self.threads)
        return {
            "PATH": f"{os.path.dirname(os.path.abspath(sys.executable))}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.path.join(self.scratch, ".home"),
            "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(self.scratch, ".mpl"),
            "JUPYTER_RUNTIME_DIR": os.path.join(self.scratch, ".home"),
            "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "TORCH_NUM_THREADS": n, "NBGRADER_EXECUTION": "autograde",
            "AUTOGRADER_SANDBOX": self.effective_backend,
        }

    def format_kernel_cmd(self, extra_arguments=None):
        return self.wrap(super().format_kernel_cmd(extra_arguments=None))

    def _limit_args(self) -> list[str]:
        mib = 2 ** 20
        prlimit = _which("prlimit")
        if not prlimit:
            self.log.warning("prlimit not found: kernels run without resource limits")
            return []
        return [prlimit, f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 5}",
                f"--as={self.memory_mb * mib}", f"--nproc={self.nproc}",
                f"--fsize={self.fsize_mb * mib}", f"--nofile={self.nofile}", "--core=0", "--"]

    def wrap(self, argv: list[str]) -> list[str]:
        """The kernel command wrapped in the limits and (for bwrap) the namespaces."""
        limits = self._limit_args()
        if self.effective_backend == "none":
            return limits + argv
        bw = [_which("bwrap"), "--die-with-parent", "--new-session",
              "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--hostname", "sandbox", "--clearenv"]
        if not self.as_root:
            bw += ["--unshare-user", "--disable-userns"]
        bw += ["--ro-bind", "/usr", "/usr", *_usr_links()]
        # /proc, /dev and the small /tmp first: a bind made before the tmpfs would vanish under it (a
        # repository or virtual environment cloned under /tmp)
        bw += ["--proc", "/proc", "--dev", "/dev",
               "--perms", "1777", "--size", str(self.tmp_mb * 2 ** 20), "--tmpfs", "/tmp"]
        created = {"/usr", "/proc", "/dev", "/tmp"}

        protected = [os.path.realpath(p) for p in
                     set(self.protected_paths) | set(self._protected_default())]

        def ro(path):
            if not os.path.exists(path):
                return
            if any(path == p or path.startswith(p.rstrip("/") + "/") for p in protected):
                return  # e.g. the grader's own package: the kernel has no use for it
            if any(p.startswith(path.rstrip("/") + "/") for p in protected):
                raise RuntimeError(f"refusing to expose {path} inside the sandbox: it contains "
                                   f"a protected folder ({', '.join(protected)})")
            for anc in _ancestors(path):
                if anc not in created:
                    bw.extend(["--perms", "0755", "--dir", anc])
                    created.add(anc)
            bw.extend(["--ro-bind", path, path])
            created.add(path)

        for name in ETC_FILES:
            ro(f"/etc/{name}")
        for path in _python_roots() + list(self.extra_ro_paths):
            if not path.startswith("/usr/"):
                ro(path)
        bw += ["--bind", self.scratch, self.scratch, "--chdir", self.scratch]
        for key, value in self._kernel_env().items():
            bw += ["--setenv", key, value]
        bw.append("--")
        if self.as_root:
            setpriv = _which("setpriv")
            if not setpriv:
                raise RuntimeError("setpriv (util-linux) is needed to drop root inside the sandbox")
            drop = [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        else:
            drop = []
        return limits + bw + drop + argv

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self.as_root and self._uid is not None:
            reap_uid(self._uid)  # nothing of this kernel may outlive it (or count for the next)
            if not restart:
                self._release_uid()
        if self.scratch and not self.keep_scratch and not restart:
            shutil.rmtree(self.scratch, ignore_errors=True)
            if getattr(self, "_stderr_log", None):
                self._stderr_log.close()
                os.unlink(self._stderr_log.name)
                self._stderr_log = None
            self.scratch = ""
