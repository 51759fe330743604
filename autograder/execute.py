"""``SandboxedExecute``: nbgrader's ``Execute`` preprocessor, made robust for grading.

What it adds to the stock preprocessor:

* kernels come from :class:`autograder.sandbox.SandboxKernelManager` (limits, no network,
  no view of the course files);
* cells tagged ``experiment`` (and the self-check cell) are not executed: no graded cell
  depends on them (``tests/test_autograder_experiments.py`` proves it for every chapter);
* a wall-time limit per cell **and** per notebook;
* a cell that kills the kernel (``os._exit``, a memory or process bomb, the CPU limit) or
  runs past its time limit does not end the notebook: the kernel is killed, a fresh one
  replays the cells before it, that cell is marked (``metadata.autograder.fatal``) and
  gets an error output, and grading goes on with the next cell. So the damage stays in
  the exercise that caused it;
* output floods are capped while they arrive (the grader's memory is not the student's).
"""
from __future__ import annotations

import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.client import NotebookClient
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, List, Type, Unicode

from .cells import is_skipped  # noqa: F401 (re-exported)
from .sandbox import SandboxKernelManager


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class _Restart(Exception):
    pass


class SandboxedExecute(Execute):
    """Execute a notebook in sandboxed kernels, surviving kernel deaths and timeouts."""

    kernel_manager_class = Type(SandboxKernelManager, config=True)
    timeout = Integer(60, allow_none=True, config=True, help="Wall seconds per cell.")
    notebook_timeout = Integer(600, config=True, help="Wall seconds for the whole notebook.")
    max_restarts = Integer(4, config=True,
                           help="Kernel deaths or cell timeouts tolerated per notebook.")
    skip_tags = List(Unicode(), ["experiment"], config=True,
                     help="Cells with one of these tags (and no nbgrader metadata) are skipped.")
    max_output_bytes = Integer(1_000_000, config=True,
                               help="Stream output kept per cell; the rest is dropped.")
    max_outputs = Integer(5000, config=True, help="Outputs kept per cell.")

    def __init__(self, **kw):
        kw.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(**kw)
        self.interrupt_on_timeout = False  # a timed-out kernel is killed and replaced
        self.shutdown_kernel = "immediate"

    # --- per-cell limits --------------------------------------------------------------
    def _get_timeout(self, cell):
        remaining = getattr(self, "_deadline", None)
        base = super()._get_timeout(cell) or self.notebook_timeout
        if remaining is None:
            return base
        return max(1, min(base, int(remaining - time.monotonic()) + 1))

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind in ("stream", "display_data", "execute_result", "error"):
            budget = self._budget.setdefault(cell_index, [self.max_output_bytes, self.max_outputs])
            budget[1] -= 1
            if kind == "stream":
                text = msg["content"].get("text", "")
                if budget[0] <= 0:
                    text = ""
                elif len(text) > budget[0]:
                    text = text[: budget[0]] + "\n[... output truncated by the grader ...]\n"
                budget[0] -= len(text)
                if not text:
                    return None
                msg["content"]["text"] = text
            if budget[1] < 0:
                return None
        return super().process_message(msg, cell, cell_index)

    # --- the notebook ------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._deadline = time.monotonic() + self.notebook_timeout
        runnable = [i for i, c in enumerate(nb.cells) if not is_skipped(c, self.skip_tags)]
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and i not in runnable:
                cell.outputs = []
                cell.execution_count = None
        fatal: dict[int, str] = {}
        restarts = 0
        while True:
            self._budget = {}
            failure = None
            try:
                with self.setup_kernel():
                    info = self.wait_for_reply(self.kc.kernel_info())
                    if info:
                        self.nb.metadata["language_info"] = info["content"]["language_info"]
                    for index in runnable:
                        if index in fatal:
                            continue
                        if time.monotonic() >= self._deadline:
                            self._mark(nb.cells[index], "notebook_timeout",
                                       "Not run: the notebook used up its time limit "
                                       f"({self.notebook_timeout} s).")
                            continue
                        try:
                            self.preprocess_cell(nb.cells[index], resources, index)
                        except DeadKernelError:
                            failure = (index, "kernel_died")
                            raise _Restart from None
                        except CellTimeoutError:
                            failure = (index, "timeout")
                            raise _Restart from None
                        except Exception as exc:  # a garbled channel (e.g. limits hit)
                            self.log.warning("cell %d broke the kernel: %r", index, exc)
                            failure = (index, "kernel_died")
                            raise _Restart from None
            except _Restart:
                pass
            except DeadKernelError:  # died between cells (e.g. while shutting down)
                pass
            if failure is None:
                break
            index, reason = failure
            fatal[index] = reason
            restarts += 1
            self.log.warning("cell %d: %s; restarting the kernel (%d)", index, reason, restarts)
            if restarts > self.max_restarts or time.monotonic() >= self._deadline:
                for later in runnable:
                    if later > index and later not in fatal:
                        self._mark(nb.cells[later], "not_run",
                                   "Not run: the kernel died too many times before this cell.")
                break
            for i in runnable:  # the replay rewrites these outputs
                if i not in fatal:
                    nb.cells[i].outputs = []
        for index, reason in fatal.items():
            message = {
                "kernel_died": "The kernel died while running this cell (it exited, or hit "
                               "the memory, process or CPU-time limit).",
                "timeout": f"This cell ran past its time limit ({self.timeout} s) and was "
                           "stopped.",
            }[reason]
            self._mark(nb.cells[index], reason, message)
        self.set_widgets_metadata()
        self.nb.metadata.setdefault("autograder", {})["kernel_restarts"] = restarts
        return self.nb, self.resources

    def _mark(self, cell, reason, message):
        cell.outputs = [error_output({"kernel_died": "KernelDied", "timeout": "CellTimeout"}
                                     .get(reason, "NotRun"), message)]
        cell.metadata.setdefault("autograder", {})["fatal"] = reason
