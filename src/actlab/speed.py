"""What an activation costs on this machine (chapters 03 and 04: "exp is costly", "ReLU is fast").

Timings are taken **interleaved**: every round calls each candidate once, in turn, so all of them see the same
machine load; the result is an array of seconds per call per candidate, summarized by its median. Everything
runs on one thread (:func:`actlab.experiments.single_thread`): the numbers are per core, steadier on a busy
machine, and comparable across candidates. Speed targets belong in benchmark scripts that print tables
(``benchmarks/bench_cpu.py``), never in timed test assertions.

    >>> from actlab import speed
    >>> t = speed.torch_activation_times(("relu", "tanh"), n=2**16, repeats=5)
    >>> sorted(t), t["relu"].shape
    (['relu', 'tanh'], (5,))
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from actlab import experiments

__all__ = ["time_interleaved", "TORCH_ACTIVATIONS", "torch_activation_times", "numpy_activation_times",
           "training_step_times", "quartiles", "plot_times"]

#: torch's own implementations, by name ("linear": a copy, the cost of touching the memory once)
TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x * 1.0, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "leaky_relu": nn.functional.leaky_relu, "elu": nn.functional.elu, "gelu": nn.functional.gelu,
    "silu": nn.functional.silu,
}


def time_interleaved(thunks: Mapping[str, Callable[[], Any]], repeats: int = 25,
                     warmup: int = 3) -> dict[str, np.ndarray]:
    """Seconds per call of every zero-argument callable, ``repeats`` rounds after ``warmup`` rounds; in each
    round every callable runs once, in turn. Returns ``{name: array of repeats}``."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    times = {name: np.empty(repeats) for name in thunks}
    with experiments.single_thread():
        for r in range(-warmup, repeats):
            for name, thunk in thunks.items():
                t0 = time.perf_counter()
                thunk()
                dt = time.perf_counter() - t0
                if r >= 0:
                    times[name][r] = dt
    return times


def torch_activation_times(names: Sequence[str] = ("relu", "sigmoid", "tanh"), n: int = 2 ** 20,
                           backward: bool = True, repeats: int = 25, dtype: torch.dtype = torch.float32,
                           seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds per call of torch's activation ``y = f(x)`` on ``n`` normal(0, 3) values, plus
    ``y.backward(g)`` when ``backward``. ``names`` are keys of :data:`TORCH_ACTIVATIONS`."""
    unknown = [nm for nm in names if nm not in TORCH_ACTIVATIONS]
    if unknown:
        raise ValueError(f"unknown activations {unknown}; known: {sorted(TORCH_ACTIVATIONS)}")
    gen = torch.Generator().manual_seed(seed)
    x0 = 3.0 * torch.randn(n, generator=gen, dtype=dtype)
    g = torch.randn(n, generator=gen, dtype=dtype)

    def thunk(fn):
        if not backward:
            def forward():
                with torch.no_grad():
                    fn(x0)
            return forward

        def both():
            x = x0.detach().requires_grad_()
            fn(x).backward(g)
        return both
    return time_interleaved({nm: thunk(TORCH_ACTIVATIONS[nm]) for nm in names}, repeats)


def numpy_activation_times(fns: Mapping[str, Callable[[np.ndarray], np.ndarray]], n: int = 2 ** 20,
                           repeats: int = 25, dtype=np.float32, seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds per call of numpy functions ``f(x)`` on ``n`` normal(0, 3) values of ``dtype``."""
    x = (3.0 * np.random.default_rng(seed).standard_normal(n)).astype(dtype)
    return time_interleaved({nm: (lambda f=f: f(x)) for nm, f in fns.items()}, repeats)


def training_step_times(activations: Sequence[str], hidden: Sequence[int] = (64, 64, 64),
                        batch_size: int = 32, repeats: int = 25, seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds per SGD step (forward, cross-entropy, backward, update) of the digits MLP of
    :func:`actlab.digits.network` with each activation (``"linear"``: none, the cost of everything else),
    on one minibatch of random inputs."""
    from actlab import digits
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(batch_size, 64, generator=gen)
    y = torch.randint(0, 10, (batch_size,), generator=gen)

    def step_of(act):
        model = digits.network(hidden, act, seed)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        return step
    return time_interleaved({a: step_of(a) for a in activations}, repeats)


def quartiles(times: np.ndarray) -> tuple[float, float, float]:
    """``(q1, median, q3)`` of timings: robust to the slow outliers a busy machine produces."""
    q1, med, q3 = np.percentile(np.asarray(times, dtype=np.float64), [25, 50, 75])
    return float(q1), float(med), float(q3)


def plot_times(ax, times: Mapping[str, np.ndarray], *, scale: float = 1.0, ylabel: str = "seconds",
               labels: Mapping[str, str] | None = None):
    """One bar per candidate at its median time times ``scale`` (e.g. ``1e9 / n`` for ns per element), with
    the interquartile range as a whisker, in the activation's colour (``"linear"``: grey)."""
    from actlab import plotting
    plotting.use_style()
    labels = dict(labels or {})
    names = list(times)
    for i, name in enumerate(names):
        q1, med, q3 = (scale * v for v in quartiles(times[name]))
        ax.bar(i, med, width=0.7, color=plotting.color_of(name, default="#777777"), alpha=0.85)
        ax.errorbar(i, med, yerr=[[med - q1], [q3 - med]], color="#222222", capsize=3, linewidth=1)
    ax.set_xticks(range(len(names)), [labels.get(n, n) for n in names])
    ax.set_ylabel(ylabel)
    return ax
