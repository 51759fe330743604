"""Chapter 00 (why activation functions): case generators, evaluators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-collapse``          :func:`affine_stacks`                       ``actlab.experiments.collapse_affine``
``ex2-parity``            :func:`parity_sizes`                        :func:`parity_table` / :func:`eval_parity_net`
``ex3-pieces``            :func:`relu_nets_1d`                        ``actlab.experiments.count_linear_pieces``
``ex4-interpolant``       :func:`knot_sets`                           :func:`interp_reference` / :func:`eval_interpolant`
========================  ==========================================  =========================================
"""
from __future__ import annotations

import itertools

import numpy as np

from actlab.checks import Case, case_generator
from actlab.experiments import relu_net_1d

__all__ = ["HINTS", "affine_stacks", "parity_sizes", "parity_table", "parity_inputs", "eval_parity_net", "relu_nets_1d",
           "knot_sets", "interp_points", "interp_reference", "eval_interpolant"]


#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-collapse": "merge layer by layer: (W, b) followed by (W', b') is (W' W, W' b + b'); every bias is "
                    "multiplied by the weights of all the layers after it",
    "ex2-parity": "with s the number of ones in x, the output must be 0, 1, 0, 1, ... at s = 0, 1, 2, 3, ...; "
                  "use units relu(s - k) and slope changes of -2, +2, -2, ...",
    "ex3-pieces": "count the distinct points -b/w (w != 0, v != 0) whose summed slope jumps v·|w| are nonzero, "
                  "then add one",
    "ex4-interpolant": "g(x_0) must be y_0 (so c = y_0) and the slope on [x_j, x_j+1] must be "
                       "(y_j+1 - y_j) / (x_j+1 - x_j): unit k adds the change of slope at x_k",
}


# --------------------------------------------------------------------------- ex1: collapse an affine stack
def _stack(rng, widths, scale=1.0, dtype=np.float64):
    return [((scale * rng.standard_normal((o, i))).astype(dtype), (scale * rng.standard_normal(o)).astype(dtype))
            for i, o in zip(widths[:-1], widths[1:])]


def _arrow(widths) -> str:
    return "→".join(str(int(w)) for w in widths)


@case_generator
def affine_stacks(*, seed: int = 0, n_random: int = 6) -> list:
    """Stacks of affine layers ``[(W1, b1), ..., (WL, bL)]``: random depths 1–6 and widths 1–5, and the edge
    cases (one layer, scalar layers, a width-1 bottleneck, a zero layer, entries near 1e±50, float32, 30
    layers deep, 32 wide)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_random):
        widths = rng.integers(1, 6, size=int(rng.integers(2, 8)))
        out.append(Case(f"random stack {i} (seed {seed}): widths {_arrow(widths)} (float64)", (_stack(rng, widths),)))
    out.append(Case("a single layer 3→2 (the collapse is the layer itself)", (_stack(rng, [3, 2]),)))
    shift = np.array([[0.0, 1.0], [0.0, 0.0]])
    out.append(Case("order matters: a shift, then a scaling (W2 W1 ≠ W1 W2)",
                    ([(shift, np.zeros(2)), (np.diag([1.0, 2.0]), np.ones(2))],),
                    hint="the layer applied last multiplies from the left: W = W_L ... W_2 W_1"))
    out.append(Case("scalar layers 1→1→1→1→1→1", (_stack(rng, [1] * 6),)))
    out.append(Case("a width-1 bottleneck 4→1→4", (_stack(rng, [4, 1, 4]),),
                    hint="W has rank 1 here; nothing special is needed if you multiply in the right order"))
    zero = _stack(rng, [3, 4, 2, 3])
    zero[1] = (np.zeros_like(zero[1][0]), zero[1][1])
    out.append(Case("layer 2 has all-zero weights 3→4→2→3 (a constant map)", (zero,)))
    out.append(Case("large entries (~1e50), widths 2→3→2", (_stack(rng, [2, 3, 2], 1e50),)))
    out.append(Case("tiny entries (~1e-50), widths 2→3→2", (_stack(rng, [2, 3, 2], 1e-50),)))
    out.append(Case("float32 layers 3→4→4→2 (keep float32)", (_stack(rng, [3, 4, 4, 2], dtype=np.float32),),
                    hint="start from the first layer's arrays (or use dtype=W.dtype), not np.eye(n) in float64"))
    deep = [(np.linalg.qr(rng.standard_normal((3, 3)))[0], 0.1 * rng.standard_normal(3)) for _ in range(30)]
    out.append(Case("30 layers of 3×3 rotations", (deep,)))
    out.append(Case("wide layers 32→32→32", (_stack(rng, [32, 32, 32], 0.2),)))
    return out


# --------------------------------------------------------------------------- ex2: parity with n ReLU units
def parity_inputs(n: int) -> np.ndarray:
    """All ``2**n`` points of ``{0, 1}**n`` (rows, in binary counting order), float64."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=int(n))), dtype=np.float64).reshape(-1, int(n))


def parity_table(n: int) -> np.ndarray:
    """The parity (XOR of all bits) of every row of :func:`parity_inputs`, float64."""
    return parity_inputs(n).sum(1) % 2


@case_generator
def parity_sizes(*, sizes=(1, 2, 3, 4, 5, 6, 7, 8)) -> list:
    """One case per number of bits ``n``: the argument of ``parity_net(n)``."""
    return [Case(f"n = {n} bits ({2 ** n} input corners)", (int(n),)) for n in sizes]


def _shape_msg(name, a, want):
    return f"{name} must have shape {want}; got {np.shape(a)}"


def eval_parity_net(params, n: int) -> np.ndarray:
    """The outputs ``w2 · relu(W1 x + b1) + b2`` of the network ``params = (W1, b1, w2, b2)`` on every row of
    :func:`parity_inputs`; checks the shapes (``W1`` ``(m, n)`` with ``m <= n``, ``b1`` ``(m,)``, ``w2``
    ``(m,)`` or ``(1, m)``, ``b2`` a number) and raises ``AssertionError`` with what is wrong."""
    if not isinstance(params, (tuple, list)) or len(params) != 4:
        raise AssertionError(f"return a tuple (W1, b1, w2, b2); got {type(params).__name__}"
                             + (f" of length {len(params)}" if isinstance(params, (tuple, list)) else ""))
    W1, b1, w2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    if W1.ndim != 2 or W1.shape[1] != n:
        raise AssertionError(_shape_msg("W1", W1, f"(m, {n}) (one row per hidden unit)"))
    m = W1.shape[0]
    if m > n:
        raise AssertionError(f"use at most n = {n} hidden units; W1 has {m} rows")
    if b1.shape != (m,):
        raise AssertionError(_shape_msg("b1", b1, f"({m},)"))
    if w2.size != m or w2.ndim > 2:
        raise AssertionError(_shape_msg("w2", w2, f"({m},)"))
    if b2.size != 1:
        raise AssertionError(f"b2 must be a single number; got shape {b2.shape}")
    X = parity_inputs(n)
    return np.maximum(X @ W1.T + b1, 0.0) @ w2.reshape(m) + b2.reshape(())


eval_parity_net.inputs = parity_inputs  # messages then name the failing corner of {0, 1}^n


# --------------------------------------------------------------------------- ex3: count linear pieces
@case_generator
def relu_nets_1d(*, seed: int = 0) -> list:
    """``(w, b, v)`` of ``sum_k v_k relu(w_k x + b_k)``: random real weights (distinct kinks), random small
    integers (coinciding and cancelling kinks), and edge cases."""
    rng = np.random.default_rng(seed)
    f = lambda *a: tuple(np.asarray(x, dtype=np.float64) for x in a)  # noqa: E731
    out = []
    for m in (1, 5, 40):
        out.append(Case(f"random normal weights, {m} units (seed {seed})", f(*rng.standard_normal((3, m)))))
    for i in range(4):
        m = int(rng.integers(4, 16))
        w, b, v = rng.integers(-3, 4, size=(3, m))
        out.append(Case(f"random integer weights in [-3, 3], {m} units (#{i}, seed {seed})", f(w, b, v),
                        hint="several units can share a kink (-b/w equal), and their slope jumps can cancel"))
    out += [
        Case("no units at all (m = 0)", f([], [], []), hint="an empty network is the zero function: one piece"),
        Case("|x| = relu(x) + relu(-x)", f([1, -1], [0, 0], [1, 1])),
        Case("x = relu(x) - relu(-x) (the kinks cancel)", f([1, -1], [0, 0], [1, -1]),
             hint="the slope jump of v relu(w x + b) at its kink is v·|w|; jumps at one point add up"),
        Case("relu(x) + relu(2x): one shared kink", f([1, 2], [0, 0], [1, 1])),
        Case("relu(x) - 0.5 relu(2x): a shared kink that cancels", f([1, 2], [0, 0], [1, -0.5])),
        Case("units with w = 0 are constant", f([0, 0, 1], [1, -2, 0], [3, 1, 1])),
        Case("units with v = 0 do not count", f([1, 1, 2], [1, 2, 3], [0, 0, 1])),
        Case("kinks far away and close together (1000 and 1000.5)", f([2, 2, -1], [-2000, -2001, 3], [1, -1, 1]),
             hint="compute the kinks exactly (-b/w); sampling f on a grid misses kinks that are far or close"),
        Case("only negative w", f([-1, -2, -0.5], [1, 1, 1], [1, 1, 1])),
        Case("400 units with distinct kinks", f(*rng.standard_normal((3, 400)))),
    ]
    return out


# --------------------------------------------------------------------------- ex4: the ReLU interpolant
@case_generator
def knot_sets(*, seed: int = 0) -> list:
    """Knots ``(xs, ys)`` to interpolate: random, one segment, many knots, uneven spacing, collinear points,
    constant values, knots left of 0."""
    rng = np.random.default_rng(seed)
    out = []
    for m in (3, 8, 50):
        xs = np.sort(rng.uniform(-5, 5, m))
        out.append(Case(f"{m} random knots in [-5, 5] (seed {seed})", (xs, rng.standard_normal(m))))
    out += [
        Case("one segment: 2 knots", (np.array([-1.0, 2.0]), np.array([3.0, -3.0]))),
        Case("uneven spacing (gaps from 0.01 to 10)", (np.array([0.0, 0.01, 0.02, 5.0, 15.0, 15.5]),
                                                       np.array([1.0, -1.0, 2.0, 0.5, 3.0, 3.0]))),
        Case("collinear knots (equal slopes: some units get weight 0)", (np.arange(6.0), 2.0 * np.arange(6.0) - 1)),
        Case("constant values", (np.linspace(-2, 2, 5), np.full(5, 7.0))),
        Case("all knots left of 0", (np.linspace(-10, -6, 7), np.cos(np.linspace(-10, -6, 7)))),
        Case("sin on [-π, π] at 17 knots", (np.linspace(-np.pi, np.pi, 17), np.sin(np.linspace(-np.pi, np.pi, 17)))),
    ]
    return out


def interp_points(xs: np.ndarray) -> np.ndarray:
    """Where an interpolant is compared: every knot and 4 fixed fractions of every segment."""
    xs = np.asarray(xs, dtype=np.float64)
    inner = xs[:-1, None] + np.diff(xs)[:, None] * np.array([0.1, 0.37, 0.5, 0.81])
    return np.sort(np.concatenate([xs, inner.ravel()]))


def interp_reference(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The piecewise-linear interpolant of ``(xs, ys)`` at :func:`interp_points`."""
    return np.interp(interp_points(xs), xs, ys)


def eval_interpolant(params, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``sum_k v_k relu(w_k x + b_k) + c`` at :func:`interp_points` for ``params = (w, b, v, c)``, after checking
    the shapes (``w``, ``b``, ``v`` of one length ``m <= len(xs) - 1``, ``c`` a number)."""
    if not isinstance(params, (tuple, list)) or len(params) != 4:
        raise AssertionError(f"return a tuple (w, b, v, c); got {type(params).__name__}"
                             + (f" of length {len(params)}" if isinstance(params, (tuple, list)) else ""))
    w, b, v, c = (np.asarray(p, dtype=np.float64) for p in params)
    if w.ndim != 1 or b.shape != w.shape or v.shape != w.shape:
        raise AssertionError(f"w, b, v must be 1-D arrays of one length; got shapes {w.shape}, {b.shape}, {v.shape}")
    if w.size > len(xs) - 1:
        raise AssertionError(f"use at most len(xs) - 1 = {len(xs) - 1} hidden units; got {w.size}")
    if c.size != 1:
        raise AssertionError(f"c must be a single number; got shape {c.shape}")
    return relu_net_1d(w, b, v, float(c.reshape(())), interp_points(xs))


eval_interpolant.inputs = lambda xs, ys: interp_points(xs)  # messages then name the failing x
