"""Chapter 11 (GeGLU): case generators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference
========================  ==========================================  =========================================
``ex1-geglu``             :func:`fused_inputs`                        :func:`geglu_ref`
``ex2-geglu-grad``        :func:`fused_inputs`                        :func:`geglu_and_grad`
``ex3-split``             :func:`fused_weights`                       ``actlab.geglu_net.split_fused``
``ex4-gate-half``         :func:`teacher_blocks`                      ``actlab.geglu_net.gate_half_by_loss``
========================  ==========================================  =========================================
"""
from __future__ import annotations

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "fused_inputs", "geglu_ref", "geglu_and_grad", "fused_weights", "teacher_blocks"]

HINTS = {
    "ex1-geglu": "split the last axis in two halves a (gate, first) and b (up, second); return GELU(a) * b with "
                 "the exact GELU x Φ(x) = x/2 · erfc(-x/√2), in the input's dtype (a numpy float64 constant such as "
                 "np.sqrt(2) turns float32 arrays into float64; a Python float does not)",
    "ex2-geglu-grad": "with y = GELU(a) b: dy/da = b (Φ(a) + a φ(a)) and dy/db = GELU(a); backward returns "
                      "grad_output times each, concatenated in the order of the halves",
    "ex3-split": "nn.Linear stores (out, in): the fused weight is (2 d_ff, d); its first d_ff ROWS are one "
                 "projection, and x @ W needs the transpose (d, d_ff)",
    "ex4-gate-half": "compute the cross-entropy of the labels for both readings (gate = first half, gate = second "
                     "half) and return the one with the lower loss; weight statistics alone cannot tell",
}


def _split(x):
    a, b = np.split(np.asarray(x), 2, axis=-1)
    return a, b


# --------------------------------------------------------------------------- ex1, ex2: GeGLU on a fused input
@case_generator
def fused_inputs(*, seed: int = 0, dtypes=("float32", "float64"), extremes: bool = True) -> list:
    """Inputs ``x = [a | b]`` (last axis of even size): random shapes per dtype, a large gate with a moderate
    up half (±1000 and the float's exp-overflow edge), the GELU minimum, zeros."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        for shape in ((8,), (3, 6), (2, 3, 10)):
            out.append(Case(f"random, shape {shape} ({dt}, seed {seed})",
                            ((2.0 * rng.standard_normal(shape)).astype(dt),)))
        out.append(Case(f"zeros, shape (2, 4) ({dt})", (np.zeros((2, 4), dtype=dt),)))
        out.append(Case(f"gate at GELU's minimum x = -0.7518 ({dt})",
                        (np.array([-0.7518, -0.7518, 1.0, -2.0], dtype=dt),)))
        if extremes:
            edge = 90.0 if np.dtype(dt).itemsize <= 4 else 710.0
            gates = np.array([-1000.0, -edge, -30.0, -8.0, 8.0, 30.0, edge, 1000.0])
            ups = np.linspace(-2.0, 2.0, gates.size)
            out.append(Case(f"large gates ±30 to ±1000, up in [-2, 2] ({dt})",
                            (np.concatenate([gates, ups]).astype(dt),),
                            hint="GELU(x) is x for large x and 0 (not nan) for very negative x"))
    return out


def geglu_ref(x: np.ndarray) -> np.ndarray:
    """``GELU(a) * b`` for ``x = [a | b]`` split along the last axis (exact GELU). Reference for ``ex1``."""
    a, b = _split(x)
    return numpy_ref.geglu(a, b)


def geglu_and_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y, dsum(y)/dx)`` for ``y = GELU(a) * b``, ``x = [a | b]``: the gradient is
    ``[b (Φ(a) + a φ(a)) | GELU(a)]``. Reference for ``ex2`` (the ``torch_grad`` adapter)."""
    a, b = _split(x)
    da, db = numpy_ref.geglu_grad(a, b)
    return numpy_ref.geglu(a, b), np.concatenate([da, db], axis=-1)


# --------------------------------------------------------------------------- ex3: split a fused weight
@case_generator
def fused_weights(*, seed: int = 0) -> list:
    """Fused ``nn.Linear`` weights ``(2 d_ff, d)`` with both orders, float32 and float64, square and very
    non-square blocks."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (d_ff, d, dt, order) in enumerate([(3, 2, "float64", "gate_up"), (4, 6, "float32", "up_gate"),
                                              (5, 5, "float64", "up_gate"), (1, 7, "float32", "gate_up"),
                                              (16, 3, "float64", "gate_up"), (2, 1, "float64", "up_gate")]):
        w = rng.standard_normal((2 * d_ff, d)).astype(dt)
        out.append(Case(f"#{i}: d_ff = {d_ff}, d = {d}, order {order!r} ({dt}, seed {seed})", (w, order),
                        hint="order 'up_gate': the gate is the SECOND half" if order == "up_gate" else ""))
    return out


# --------------------------------------------------------------------------- ex4: which half is the gate
@case_generator
def teacher_blocks(*, seed: int = 0, n_cases: int = 8) -> list:
    """``(U, W2, X, y)``: a GeGLU block with fused ``U`` (``(d, 2 d_ff)``, ``x @ U``) whose gate is the half
    given by a hidden coin flip, labels ``y`` drawn from the block's own softmax (so the true reading has the
    lower expected loss), and the two halves rescaled so that the gate is sometimes the smaller one."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_cases):
        d, d_ff, k, n = int(rng.integers(3, 9)), int(rng.integers(2, 9)), int(rng.integers(2, 6)), 400
        gate = rng.standard_normal((d, d_ff)) * rng.uniform(0.5, 2.0)
        up = rng.standard_normal((d, d_ff)) * rng.uniform(0.5, 2.0)
        W2 = 2.0 * rng.standard_normal((d_ff, k))
        X = rng.standard_normal((n, d))
        z = (numpy_ref.gelu(X @ gate) * (X @ up)) @ W2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        y = np.array([rng.choice(k, p=row) for row in p])
        first = int(rng.integers(0, 2))          # 0: gate first
        U = np.concatenate([gate, up] if first == 0 else [up, gate], axis=1)
        dt = "float32" if i % 3 == 2 else "float64"
        out.append(Case(f"#{i}: d = {d}, d_ff = {d_ff}, {k} classes, {n} samples ({dt}, seed {seed})",
                        (U.astype(dt), W2.astype(dt), X.astype(dt), y)))
    return out
