"""Side-by-side timings on this machine: medians of interleaved repeats, so that every candidate sees the
same load (the book is built on a shared 2-core machine; a run measured alone, minutes apart from its rival,
compares two different machines).

    >>> import torch
    >>> from actlab import timing
    >>> x = torch.randn(1 << 16)
    >>> t = timing.compare({"relu": lambda: torch.relu(x), "sigmoid": lambda: torch.sigmoid(x)}, repeats=5)
    >>> sorted(t) == ["relu", "sigmoid"] and t["relu"].median > 0
    True

Timings are made on one torch thread (:func:`actlab.experiments.single_thread`) unless ``threads`` says
otherwise. Report ratios of medians, never a single run.
"""
from __future__ import annotations

import dataclasses
import platform
import time
from typing import Any, Callable, Mapping

import numpy as np
import torch

__all__ = ["Timing", "compare", "ratio_table", "cpu_model"]


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call over the repeats: median, first and third quartile, and how many repeats."""
    median: float
    q1: float
    q3: float
    repeats: int

    def __format__(self, spec: str) -> str:
        scale, unit = (1e6, "µs") if self.median < 1e-3 else (1e3, "ms")
        return f"{self.median * scale:.1f} {unit}"


def compare(fns: Mapping[str, Callable[[], Any]], repeats: int = 31, warmup: int = 3,
            threads: int | None = 1) -> dict[str, Timing]:
    """Time every zero-argument callable ``repeats`` times, interleaved (one call of each per round), after
    ``warmup`` untimed rounds; ``threads``: torch threads during the timing (None: leave as is)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    samples = {n: [] for n in names}
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for r in range(warmup + repeats):
            for n in names:
                t0 = time.perf_counter()
                fns[n]()
                dt = time.perf_counter() - t0
                if r >= warmup:
                    samples[n].append(dt)
    finally:
        torch.set_num_threads(old)
    out = {}
    for n, s in samples.items():
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        out[n] = Timing(float(med), float(q1), float(q3), len(s))
    return out


def ratio_table(timings: Mapping[str, Timing], baseline: str) -> list[tuple[str, str, str]]:
    """Rows ``(name, median time, median / baseline's median)`` for printing or a table."""
    base = timings[baseline].median
    return [(n, f"{t}", f"{t.median / base:.2f}×") for n, t in timings.items()]


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else ``platform.processor()`` or the machine type. For the
    headers of benchmark tables: MKL picks its kernels by CPU, and with them its speed and its last bits (the same
    sigmoid measured 2.03 ULP on one of the project's VMs, 2.14 on another)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
