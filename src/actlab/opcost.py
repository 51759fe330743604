"""What an operation costs (chapters 09 and 10): its time (forward, or forward + backward) and the memory
autograd keeps for the backward pass.

- :func:`compare_times`: several implementations of one operation timed *interleaved* on the same inputs (each
  repeat runs every variant once, so that they see the same machine load), reported as medians with the
  interquartile range (:class:`Timing`). Use it for ratios ("SiLU costs 1.8x ReLU"), never for absolute
  promises: a loaded machine changes the absolute numbers, much less the ratios.
- :func:`saved_tensors`: the tensors autograd saves for the backward pass of ``fn(*inputs)`` (through
  ``torch.autograd.graph.saved_tensors_hooks``), deduplicated by storage, and how many bytes of them are *new*
  (not the inputs' own storage). Output + new saved tensors is what one layer holds from its forward to its
  backward pass; in a training step every layer holds it at once, so it is the memory that fusion saves.
- :func:`cuda_peak_bytes`: on a GPU, the peak memory a forward + backward allocates above the inputs.

CPU peak memory is not measured directly (PyTorch has no CPU allocator statistics); the saved-tensor count is
exact and is the part that scales with the number of layers.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

__all__ = ["Timing", "compare_times", "SavedReport", "saved_tensors", "cuda_peak_bytes"]


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call over the repeats: ``median`` and the quartiles ``q1``, ``q3``."""
    times: tuple
    median: float
    q1: float
    q3: float

    @classmethod
    def of(cls, times: Sequence[float]) -> "Timing":
        t = np.asarray(times, dtype=np.float64)
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return cls(tuple(t.tolist()), float(med), float(q1), float(q3))

    def __format__(self, spec: str) -> str:
        """``"1.23 ms [1.20, 1.31]"`` (median [q1, q3]); ``spec`` formats the milliseconds (default ``.2f``)."""
        spec = spec or ".2f"
        return f"{self.median * 1e3:{spec}} ms [{self.q1 * 1e3:{spec}}, {self.q3 * 1e3:{spec}}]"


def _sync(inputs):
    if any(isinstance(x, torch.Tensor) and x.is_cuda for x in inputs):
        torch.cuda.synchronize()


def _one_call(fn, inputs, backward, grad):
    if not backward:
        with torch.no_grad():
            _sync(inputs)
            t0 = time.perf_counter()
            fn(*inputs)
            _sync(inputs)
            return time.perf_counter() - t0
    xs = [x.detach().requires_grad_() if isinstance(x, torch.Tensor) and x.is_floating_point() else x
          for x in inputs]
    _sync(xs)
    t0 = time.perf_counter()
    y = fn(*xs)
    y.backward(grad)
    _sync(xs)
    return time.perf_counter() - t0


def compare_times(variants: Mapping[str, Callable], inputs: Sequence, *, backward: bool = False,
                  repeats: int = 15, warmup: int = 2, grad: torch.Tensor | None = None) -> dict[str, Timing]:
    """Time each ``variants[name](*inputs)``, interleaved: ``warmup`` untimed rounds, then ``repeats`` rounds
    that call every variant once. ``backward``: time ``y = fn(*inputs); y.backward(grad)`` on fresh leaves
    (``grad`` defaults to ones). Returns ``{name: Timing}``.
    """
    if not variants:
        raise ValueError("give at least one variant")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    inputs = list(inputs)
    if backward and grad is None:
        with torch.no_grad():
            grad = torch.ones_like(next(iter(variants.values()))(*inputs))
    times: dict[str, list] = {k: [] for k in variants}
    for r in range(warmup + repeats):
        for k, fn in variants.items():
            t = _one_call(fn, inputs, backward, grad)
            if r >= warmup:
                times[k].append(t)
    return {k: Timing.of(v) for k, v in times.items()}


@dataclasses.dataclass(frozen=True)
class SavedReport:
    """What autograd keeps from ``fn(*inputs)`` until its backward pass.

    Attributes:
        tensors: ``(shape, dtype, bytes, kind)`` per distinct saved storage; ``kind`` is ``"input"`` (the
            storage of an input), ``"output"`` (the output's own storage) or ``"new"``.
        output_bytes: the output's size.
        new_saved_bytes: the saved bytes that are neither an input nor the output.
    """
    tensors: tuple
    output_bytes: int
    new_saved_bytes: int

    @property
    def held_bytes(self) -> int:
        """Memory held from forward to backward beyond the inputs: the output plus the new saved tensors."""
        return self.output_bytes + self.new_saved_bytes

    def held_per_element(self, numel: int, itemsize: int = 4) -> float:
        """:attr:`held_bytes` in units of one input-sized tensor of ``numel`` elements of ``itemsize`` bytes."""
        return self.held_bytes / (numel * itemsize)


def saved_tensors(fn: Callable, *inputs: torch.Tensor) -> SavedReport:
    """Run ``fn(*inputs)`` on fresh leaves that require grad and report what autograd saved for backward.

    Tensors are identified by their storage (``untyped_storage().data_ptr()``), so a tensor saved twice, or a
    view of an input, counts once (as ``"input"``).
    """
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    in_ptrs = {x.untyped_storage().data_ptr() for x in leaves}
    seen: dict[int, tuple] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:
            seen[ptr] = (tuple(t.shape), str(t.dtype).removeprefix("torch."), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(*leaves)
    out_ptr = y.untyped_storage().data_ptr()
    rows, new = [], 0
    for ptr, (shape, dtype, nbytes) in seen.items():
        kind = "input" if ptr in in_ptrs else "output" if ptr == out_ptr else "new"
        new += nbytes if kind == "new" else 0
        rows.append((shape, dtype, nbytes, kind))
    return SavedReport(tuple(rows), y.untyped_storage().nbytes(), new)


def cuda_peak_bytes(fn: Callable, *inputs: torch.Tensor, grad: torch.Tensor | None = None) -> int:
    """Peak CUDA memory allocated by ``y = fn(*inputs); y.backward(grad)`` above what was allocated before it
    (the inputs): ``torch.cuda.max_memory_allocated`` after a reset. CUDA tensors only."""
    if not all(x.is_cuda for x in inputs):
        raise ValueError("cuda_peak_bytes needs CUDA tensors; on the CPU use saved_tensors")
    leaves = [x.detach().requires_grad_() for x in inputs]
    if grad is None:
        with torch.no_grad():
            grad = torch.ones_like(fn(*leaves))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    y = fn(*leaves)
    y.backward(grad)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base
