"""Chapter 02 (sigmoid): case generators, references and hints for its exercises.

=========================  ==========================================  =======================================
exercise                   cases                                       reference
=========================  ==========================================  =======================================
``ex1-sigmoid``            ``checks.cases.elementwise``,               ``actlab.numpy_ref.sigmoid``
                           :func:`overflow_inputs` (no warnings)
``ex2-sigmoid-grad``       ``checks.cases.elementwise``                ``actlab.numpy_ref.sigmoid_grad``
``ex3-bce``                :func:`logits_and_labels`                   :func:`bce_with_logits`
``ex4-logreg-grad``        :func:`logreg_problems`                     :func:`logreg_grad`
=========================  ==========================================  =======================================
"""
from __future__ import annotations

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "overflow_inputs", "logits_and_labels", "bce_with_logits", "logreg_problems", "logreg_grad"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source).
HINTS = {
    "ex1-sigmoid": "exponentiate only numbers <= 0: with e = exp(-|x|), sigma(x) = 1 / (1 + e) for x >= 0 and "
                   "e / (1 + e) for x < 0; np.where evaluates both of its branches, so compute e once from "
                   "-|x| rather than exp(-x) and exp(x)",
    "ex1-sigmoid-warnings": "an overflow warning means some exp received a large positive number, even in a "
                            "branch np.where later discards: compute e = exp(-|x|) once and build both "
                            "branches from it",
    "ex2-sigmoid-grad": "sigma'(x) = sigma(x) (1 - sigma(x)) with a stable sigma, or e / (1 + e)^2 with "
                        "e = exp(-|x|); exp(-x) / (1 + exp(-x))^2 is inf / inf = NaN for large negative x",
    "ex3-bce": "softplus(z) - y z with the stable softplus max(z, 0) + log1p(exp(-|z|)); log(sigmoid(z)) is "
               "log(0) = -inf once sigmoid(z) underflows",
    "ex4-logreg-grad": "p = sigma(X w + b) with a stable sigma; grad_w = X^T (p - y) / n and "
                       "grad_b = mean(p - y): no sigma'(z) factor (cross-entropy cancels it), and divide by n",
}


# --------------------------------------------------------------------------- ex1: no overflow warnings
@case_generator
def overflow_inputs(*, dtypes=("float32", "float64")) -> list:
    """Inputs where a naive ``exp(-x)`` or ``exp(x)`` overflows: ``x = ±1000`` alone, an array mixing
    ``±1000``, ``±100``, ``±89`` and 0, and (float64) ``±710``, ``±745``, ``±1e300``; each dtype."""
    out = []
    for dt in dtypes:
        dtype = np.dtype(dt)
        for v in (-1000.0, 1000.0):
            out.append(Case(f"x = {v:g} ({dt})", (np.array(v, dtype=dtype),)))
        mixed = np.array([-1000, -100, -89, -1, 0, 1, 89, 100, 1000], dtype=dtype)
        out.append(Case(f"x = [-1000, -100, -89, -1, 0, 1, 89, 100, 1000] ({dt})", (mixed,)))
        if dtype.itemsize == 8:
            big = np.array([-1e300, -745, -710, 710, 745, 1e300], dtype=dtype)
            out.append(Case(f"x = [-1e300, -745, -710, 710, 745, 1e300] ({dt})", (big,)))
    return out


# --------------------------------------------------------------------------- ex3: BCE with logits
def bce_with_logits(z, y):
    """Binary cross-entropy of the logit ``z`` against the label ``y`` in [0, 1], elementwise:

    .. math:: \\ell(z, y) = -y \\log \\sigma(z) - (1 - y) \\log(1 - \\sigma(z))
              = \\max(z, 0) - z y + \\log(1 + e^{-|z|})

    computed in float64 and returned in ``z``'s dtype (float64 for non-float input). Reference for
    ``ex3-bce``."""
    z = np.asarray(z)
    dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.dtype(np.float64)
    z64, y64 = z.astype(np.float64), np.asarray(y, dtype=np.float64)
    return (np.maximum(z64, 0.0) - z64 * y64 + np.log1p(np.exp(-np.abs(z64)))).astype(dtype)


@case_generator
def logits_and_labels(*, seed: int = 0) -> list:
    """``(z, y)``: random logits with hard and soft labels in float64 and float32 and several shapes, the
    extremes ``z = ±1000``, ``±100``, ``±40`` with labels 0 and 1, a scalar, and ``y = 0.5``."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in ("float64", "float32"):
        for shape in ((16,), (4, 8)):
            z = rng.normal(0.0, 3.0, size=shape).astype(dt)
            out.append(Case(f"random logits, labels 0/1, shape {shape} ({dt}, seed {seed})",
                            (z, rng.integers(0, 2, size=shape).astype(dt))))
            out.append(Case(f"random logits, soft labels in [0, 1], shape {shape} ({dt}, seed {seed})",
                            (rng.normal(0.0, 3.0, size=shape).astype(dt), rng.uniform(0, 1, size=shape).astype(dt))))
        for v in (-1000.0, -100.0, -40.0, 40.0, 100.0, 1000.0):
            for label in (0.0, 1.0):
                wrong = (v > 0) != (label > 0)
                out.append(Case(f"z = {v:g}, y = {label:g} ({dt}){': confidently wrong' if wrong else ''}",
                                (np.array(v, dtype=dt), np.array(label, dtype=dt)),
                                hint="the loss is about |z| when the logit is confidently wrong and about 0 when "
                                     "it is confidently right; neither may be inf or NaN"))
    out.append(Case("a scalar z = 0.3, y = 0.5 (float64)", (np.array(0.3), np.array(0.5))))
    return out


# --------------------------------------------------------------------------- ex4: logistic-regression gradient
def logreg_grad(w, b, X, y):
    """The gradient of the mean binary cross-entropy of logistic regression ``p = sigma(X w + b)``:

    .. math:: \\nabla_w = \\tfrac1n X^\\top (p - y), \\qquad \\partial_b = \\tfrac1n \\textstyle\\sum_i (p_i - y_i)

    computed in float64, returned as ``(grad_w, grad_b)`` in ``X``'s dtype (``grad_b`` a NumPy scalar).
    Reference for ``ex4-logreg-grad``."""
    X = np.asarray(X)
    dtype = X.dtype
    X64, w64, y64 = X.astype(np.float64), np.asarray(w, np.float64), np.asarray(y, np.float64)
    r = numpy_ref.sigmoid(X64 @ w64 + float(b)) - y64
    return (X64.T @ r / len(y64)).astype(dtype), dtype.type(r.mean())


@case_generator
def logreg_problems(*, seed: int = 0) -> list:
    """``(w, b, X, y)``: random problems in float64 and float32, one sample, one feature, logits in the
    thousands (sigma must not overflow), all labels equal, a perfect fit."""
    rng = np.random.default_rng(seed)
    out = []

    def problem(n, d, dtype=np.float64, scale=1.0):
        X = (scale * rng.standard_normal((n, d))).astype(dtype)
        w = rng.standard_normal(d).astype(dtype)
        b = dtype(rng.standard_normal())
        return w, b, X, rng.integers(0, 2, size=n).astype(dtype)

    out.append(Case(f"random, n = 50, d = 3 (float64, seed {seed})", problem(50, 3)))
    out.append(Case(f"random, n = 200, d = 10 (float64, seed {seed})", problem(200, 10)))
    out.append(Case("random, n = 40, d = 4 (float32: keep float32)", problem(40, 4, np.float32),
                    hint="grad_w in X's dtype and grad_b a NumPy scalar of that dtype (np.mean gives one)"))
    out.append(Case("one sample, n = 1, d = 3", problem(1, 3)))
    out.append(Case("one feature, n = 30, d = 1", problem(30, 1)))
    out.append(Case("logits in the thousands (X scaled by 1000)", problem(20, 2, scale=1000.0),
                    hint="sigma(z) for |z| ~ 1000 must be exactly 0 or 1, not NaN"))
    w, b, X, _ = problem(25, 3)
    out.append(Case("all labels 1", (w, b, X, np.ones(25))))
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(np.float64)
    out.append(Case("a near-perfect fit (w = (40, 0), b = 0)", (np.array([40.0, 0.0]), 0.0, X, y),
                    hint="the gradient is tiny but not 0; p - y must be computed without cancellation "
                         "trouble, as sigma(z) - y"))
    return out
