"""Chapter 04 (ReLU): case generators, evaluators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-relu``              ``checks.cases.elementwise``                ``actlab.numpy_ref.relu``, ``relu_grad``
``ex2-dead-units``        :func:`dead_unit_nets`                      :func:`dead_units`
``ex3-kaiming``           :func:`init_shapes`                         :func:`kaiming_std` / :func:`eval_init`
``ex4-max-layer``         :func:`pair_counts`                         :func:`pairwise_max` /
                                                                      :func:`eval_max_layer`
========================  ==========================================  =========================================
"""
from __future__ import annotations

import math

import numpy as np

from actlab.checks import Case, case_generator
from actlab.units import dead_mask

__all__ = ["HINTS", "dead_unit_nets", "dead_units", "init_shapes", "kaiming_std", "eval_init", "pair_counts",
           "max_points", "pairwise_max", "eval_max_layer"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-relu": "relu(x) = max(x, 0) in the input's dtype; np.maximum(x, 0) keeps float32 and passes inf "
                "through, while x * (x > 0) turns -inf into NaN (-inf · 0)",
    "ex1-relu-grad": "relu'(x) = 1 where x > 0 and 0 where x <= 0 (PyTorch's choice at 0), in the input's "
                     "dtype: (x > 0).astype(x.dtype)",
    "ex2-dead-units": "run the data through the layers with relu between them; a unit is dead when its "
                      "pre-activation is <= 0 (not < 0) on every row: np.all(z <= 0, axis=0)",
    "ex3-kaiming": "variance 2 / fan_in, so std = sqrt(2 / fan_in), where fan_in = the number of columns "
                   "(inputs) of W, which has shape (fan_out, fan_in); draw with np.random.default_rng(seed)",
    "ex4-max-layer": "max(a, b) = relu(a - b) + relu(b) - relu(-b): three units per pair; input i is a[i] "
                     "and input d + i is b[i]",
}


# --------------------------------------------------------------------------- ex2: dead units
def dead_units(X: np.ndarray, layers) -> list:
    """For every hidden layer of ``relu(... relu(X W1ᵀ + b1) ...)``, the boolean mask of the units whose
    pre-activation is ``<= 0`` on every row of ``X`` (computed in the data's dtype). Reference for
    exercise ``ex2-dead-units``."""
    h = np.asarray(X)
    masks = []
    for W, b in layers:
        z = h @ np.asarray(W).T + np.asarray(b)
        masks.append(dead_mask(z))
        h = np.maximum(z, 0)
    return masks


def _margin_net(rng, n, widths, shift, dtype=np.float64):
    """Data and layers whose pre-activations are all at least 1e-3 away from 0 (redrawn until they are), so
    that no summation order can flip a unit between dead and alive."""
    for _ in range(100):
        X = rng.standard_normal((n, widths[0]))
        layers = [(rng.standard_normal((o, i)) / math.sqrt(i), rng.standard_normal(o) - shift)
                  for i, o in zip(widths[:-1], widths[1:])]
        h, ok = X, True
        for W, b in layers:
            z = h @ W.T + b
            ok &= bool(np.all(np.abs(z) > 1e-3))
            h = np.maximum(z, 0)
        if ok:
            return X.astype(dtype), [(W.astype(dtype), b.astype(dtype)) for W, b in layers]
    raise RuntimeError("could not draw a network with a margin")  # pragma: no cover


@case_generator
def dead_unit_nets(*, seed: int = 0) -> list:
    """``(X, layers)``: random data and ReLU layers with negative-shifted biases (some units dead, most
    alive), and the edge cases: a unit with zero weights and bias (z = 0 exactly: dead), a unit alive on a
    single row, a whole layer dead (the next layer sees zeros), one row of data, float32, many layers."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (n, widths, shift) in enumerate([(40, [5, 8, 8, 6], 1.0), (60, [3, 10, 10], 1.5),
                                            (100, [8, 16, 16, 16, 16], 0.8)]):
        X, layers = _margin_net(rng, n, widths, shift)
        out.append(Case(f"random net {i} (seed {seed}): {n} rows, widths {'→'.join(map(str, widths))}",
                        (X, layers)))
    X = rng.standard_normal((30, 4))
    W = rng.standard_normal((5, 4))
    W[2] = 0.0
    b = np.array([0.5, -0.2, 0.0, 3.0, -9.0])
    out.append(Case("unit 2 has zero weights and bias: z = 0 on every row", (X, [(W, b)]),
                    hint="z = 0 gives relu'(0) = 0 (PyTorch's convention): such a unit is dead; test z <= 0"))
    col = X[:, 0]
    top2 = np.sort(col)[-2:]
    W1 = np.zeros((2, 4))
    W1[:, 0] = 1.0
    b1 = np.array([-(top2[0] + top2[1]) / 2, -(top2[1] + 1.0)])
    out.append(Case("unit 0 is positive on exactly one row (alive); unit 1 on none", (X, [(W1, b1)]),
                    hint="a unit is alive if its pre-activation is > 0 on at least one row"))
    W2 = rng.standard_normal((3, 5))
    dead_layer = [(W, np.full(5, -50.0)), (W2, np.array([0.3, 0.0, -0.3]))]
    out.append(Case("layer 1 entirely dead: layer 2 sees zeros (alive iff its bias > 0)", (X, dead_layer),
                    hint="apply relu before the next layer: dead units pass on zeros, so layer 2's "
                         "pre-activation is just its bias"))
    Xs, ls = _margin_net(rng, 1, [6, 7, 7], 0.0)
    out.append(Case("a single row of data", (Xs, ls)))
    Xf, lf = _margin_net(rng, 50, [6, 12, 12], 1.0, dtype=np.float32)
    out.append(Case("float32 data and weights", (Xf, lf)))
    Xd, ld = _margin_net(rng, 30, [4] + [6] * 6, 0.3)
    out.append(Case("six hidden layers", (Xd, ld), hint="every layer's input is relu of the previous "
                                                         "layer's pre-activation"))
    return out


# --------------------------------------------------------------------------- ex3: Kaiming initialization
@case_generator
def init_shapes(*, seed: int = 0) -> list:
    """``(fan_out, fan_in, seed)`` for ``kaiming_normal``: square and very unequal shapes (so that fan-in and
    fan-out cannot be confused), at least 4,096 entries each (the sample std is then within about 1.1% of
    the true one; the check allows 6%)."""
    shapes = [(128, 64), (64, 1024), (1024, 64), (256, 256), (10, 784), (4096, 1), (1, 8192), (300, 100)]
    return [Case(f"shape (fan_out, fan_in) = ({o}, {i}), seed {seed + k}", (o, i, seed + k),
                 hint=("fan_in = 1: std = sqrt(2)" if i == 1 else ""))
            for k, (o, i) in enumerate(shapes)]


def kaiming_std(fan_out: int, fan_in: int, seed: int) -> np.float64:
    """The std of Kaiming (He) normal initialization for ReLU: √(2 / fan_in). Reference for ``ex3-kaiming``."""
    return np.float64(math.sqrt(2.0 / fan_in))


def eval_init(W, fan_out: int, fan_in: int, seed: int) -> np.float64:
    """The sample std of the returned matrix, after checking its shape (``(fan_out, fan_in)``, PyTorch's
    layout), that it is finite and random, and that its mean is 0 within 6 standard errors."""
    W = np.asarray(W)
    if W.shape != (fan_out, fan_in):
        raise AssertionError(f"expected shape (fan_out, fan_in) = {(fan_out, fan_in)} (one row per output unit, "
                             f"as torch's nn.Linear.weight), got {W.shape}")
    if W.dtype.kind != "f" or not np.all(np.isfinite(W)):
        raise AssertionError(f"expected finite floats, got dtype {W.dtype}"
                             + ("" if W.dtype.kind != "f" else " with non-finite entries"))
    W = W.astype(np.float64)
    target = math.sqrt(2.0 / fan_in)
    if np.unique(W).size < W.size // 2:
        raise AssertionError("the entries must be random draws (independent), but many are equal")
    se = target / math.sqrt(W.size)
    if abs(W.mean()) > 6 * se:
        raise AssertionError(f"the entries must have mean 0; got mean {W.mean():.4g} (std of a mean of "
                             f"{W.size} draws: {se:.2g})")
    return np.float64(W.std())


# --------------------------------------------------------------------------- ex4: max from ReLUs
@case_generator
def pair_counts(*, sizes=(1, 2, 3, 5, 8)) -> list:
    """One case per number of pairs ``d``: the argument of ``max_layer(d)``."""
    return [Case(f"d = {d} pair{'s' if d > 1 else ''}", (int(d),)) for d in sizes]


def max_points(d: int) -> np.ndarray:
    """Inputs ``[a_1..a_d, b_1..b_d]`` (rows) at which a max layer is evaluated: random values (std 5), equal
    pairs, zeros, ±1e6, values of opposite signs, and pairs 1e-9 apart."""
    rng = np.random.default_rng(100 + d)
    a = 5.0 * rng.standard_normal((40, d))
    b = 5.0 * rng.standard_normal((40, d))
    same = rng.standard_normal((3, d))
    rows = [np.hstack([a, b]), np.hstack([same, same]), np.zeros((1, 2 * d)),
            np.hstack([np.full((1, d), 1e6), np.full((1, d), -1e6)]),
            np.hstack([np.full((1, d), -1e6), np.full((1, d), 1e6)]),
            np.hstack([-np.abs(a[:3]), np.abs(b[:3])]), np.hstack([np.abs(a[:3]), -np.abs(b[:3])]),
            np.hstack([a[:2], a[:2] + 1e-9])]
    return np.vstack(rows)


def _pairs(d: int) -> np.ndarray:
    """The pair (a_i, b_i) behind every entry of the flattened outputs (for messages)."""
    P = max_points(d)
    return np.stack([P[:, :d].ravel(), P[:, d:].ravel()], axis=1)


def pairwise_max(d: int) -> np.ndarray:
    """``max(a_i, b_i)`` at :func:`max_points`, flattened. Reference for ``ex4-max-layer``."""
    P = max_points(d)
    return np.maximum(P[:, :d], P[:, d:]).ravel()


def eval_max_layer(params, d: int) -> np.ndarray:
    """``W2 relu(W1 x + b1) + b2`` at :func:`max_points`, flattened, after checking the shapes (``W1``
    ``(m, 2d)`` with ``m <= 3d``, ``b1`` ``(m,)``, ``W2`` ``(d, m)``, ``b2`` ``(d,)``; for d = 1 also ``W2``
    ``(m,)`` and ``b2`` a number)."""
    if not isinstance(params, (tuple, list)) or len(params) != 4:
        raise AssertionError(f"return a tuple (W1, b1, W2, b2); got {type(params).__name__}"
                             + (f" of length {len(params)}" if isinstance(params, (tuple, list)) else ""))
    W1, b1, W2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    if W1.ndim != 2 or W1.shape[1] != 2 * d:
        raise AssertionError(f"W1 must have shape (m, {2 * d}) (one row per hidden unit, inputs a then b); "
                             f"got {W1.shape}")
    m = W1.shape[0]
    if m > 3 * d:
        raise AssertionError(f"use at most 3 hidden units per pair, 3d = {3 * d}; W1 has {m} rows")
    if b1.shape != (m,):
        raise AssertionError(f"b1 must have shape ({m},); got {b1.shape}")
    if d == 1 and W2.shape == (m,):
        W2 = W2.reshape(1, m)
    if d == 1 and b2.size == 1:
        b2 = b2.reshape(1)
    if W2.shape != (d, m):
        raise AssertionError(f"W2 must have shape ({d}, {m}); got {W2.shape}")
    if b2.shape != (d,):
        raise AssertionError(f"b2 must have shape ({d},); got {b2.shape}")
    X = max_points(d)
    return (np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2).ravel()


eval_max_layer.inputs = _pairs  # messages then name the failing pair (a_i, b_i)
