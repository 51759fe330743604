"""Chapter 07 (softmax): case generators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference
========================  ==========================================  =========================================
``ex1-softmax``           :func:`softmax_inputs`                      ``actlab.numpy_ref.softmax``
``ex2-log-softmax``       :func:`softmax_inputs`                      ``actlab.numpy_ref.log_softmax``
``ex3-jvp``               :func:`jvp_inputs`                          ``actlab.numpy_ref.softmax_jvp``
``ex4-cross-entropy``     :func:`ce_batches`                          :func:`cross_entropy_reference`
``ex5-multilabel``        :func:`multilabel_logits`                   ``actlab.multilabel.predict_labels``
========================  ==========================================  =========================================
"""
from __future__ import annotations

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "softmax_inputs", "jvp_inputs", "ce_batches", "cross_entropy_reference",
           "multilabel_logits"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-softmax": "subtract the maximum along the axis first (np.max(x, axis=axis, keepdims=True)): then every "
                   "exponent is <= 0, nothing overflows, and the largest term is exactly 1, so the sum is >= 1",
    "ex2-log-softmax": "log softmax(x)_i = (x_i - m) - log(sum_j exp(x_j - m)) with m the maximum along the "
                       "axis; never take the log of a probability that may have underflowed to 0",
    "ex3-jvp": "J v = p * (v - sum(p * v)) with p = softmax(x) and the sum along the axis (keepdims=True); "
               "do not build the n x n Jacobian",
    "ex4-cross-entropy": "loss = mean over samples of -log softmax(z)[label], computed as a log-softmax "
                         "(max subtraction); grad = (softmax(z) - onehot(labels)) / n, in the logits' dtype",
    "ex5-multilabel": "sigma(z) >= t is the same as z >= log(t / (1 - t)): compare logits, no exponential; then "
                      "give every row without a label its largest logit (np.argmax)",
}

_DTYPES = ("float32", "float64")


def _random(rng, shape, dtype, scale=3.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# --------------------------------------------------------------------------- ex1, ex2: softmax, log-softmax
@case_generator
def softmax_inputs(*, seed: int = 0, dtypes=_DTYPES, extremes_only: bool = False) -> list:
    """``(x,)`` with ``axis`` for softmax / log-softmax, in each of ``dtypes``: random vectors, matrices and
    3-D arrays along every axis (negative axes too), rows of very different scale, gaps that underflow exp,
    masked entries (-inf), one-element axes, a long row; or (``extremes_only``) logits around ±1000 that
    overflow a naive exp."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        if extremes_only:
            out += [
                Case(f"x = [1000, 999, 998] ({dt})", (np.array([1000.0, 999.0, 998.0], dt),),
                     hint="exp(1000) overflows: subtract the maximum first"),
                Case(f"x = [-1000, -1001, -1002] ({dt})", (np.array([-1000.0, -1001.0, -1002.0], dt),),
                     hint="exp(-1000) underflows to 0 and 0/0 is NaN: subtract the maximum first"),
                Case(f"rows [1000, -1000] and [-1000, 1000], axis=-1 ({dt})",
                     (np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dt),), {"axis": -1},
                     hint="the gap of 2000 makes the small probability 0 (softmax) or -2000 (log-softmax)"),
                Case(f"columns near ±1000, shape (3, 4), axis=0 ({dt})",
                     (np.array([[1000.0, -1000.0, 3.0, 990.0], [998.0, -999.0, -1000.0, 1000.0],
                                [-1000.0, -1000.0, 1000.0, 995.0]], dt),), {"axis": 0},
                     hint="take the maximum along the axis you normalize over"),
            ]
            continue
        out += [
            Case(f"random vector, shape (6,) ({dt}, seed {seed})", (_random(rng, (6,), dt),)),
            Case(f"random matrix, shape (4, 5), axis=-1 ({dt}, seed {seed})", (_random(rng, (4, 5), dt),),
                 {"axis": -1}),
            Case(f"random matrix, shape (4, 5), axis=0 ({dt}, seed {seed})", (_random(rng, (4, 5), dt),),
                 {"axis": 0}, hint="normalize along the given axis: the sum over axis 0 must be 1"),
            Case(f"random 3-D array, shape (2, 3, 4), axis=1 ({dt}, seed {seed})",
                 (_random(rng, (2, 3, 4), dt),), {"axis": 1},
                 hint="use keepdims=True so that the maximum and the sum broadcast back along the axis"),
            Case(f"random 3-D array, shape (2, 3, 4), axis=-2 ({dt}, seed {seed})",
                 (_random(rng, (2, 3, 4), dt),), {"axis": -2}),
            Case(f"one row of 1000 logits of scale 10 ({dt}, seed {seed})", (_random(rng, (1000,), dt, 10.0),)),
            Case(f"rows of very different scale: 1e-3, 1, 30, 300 ({dt}, seed {seed})",
                 ((rng.standard_normal((4, 6)) * np.array([[1e-3], [1.0], [30.0], [300.0]])).astype(dt),)),
            Case(f"x = [0, -200, -500]: exp underflows, log-probabilities -200, -500 ({dt})",
                 (np.array([0.0, -200.0, -500.0], dt),),
                 hint="exp(-200) is 0 in float32: log(softmax) gives -inf, the log-sum-exp form gives -200"),
            Case(f"large logits [800, 790, 0] (float64's exp overflows beyond 709.8) ({dt})",
                 (np.array([800.0, 790.0, 0.0], dt),), hint="exp(800) overflows: subtract the maximum first"),
            Case(f"rows at different levels: around 0 and around -800, axis=-1 ({dt})",
                 (np.array([[0.0, 1.0, 2.0], [-800.0, -801.0, -802.0]], dt),),
                 hint="each row needs its own maximum: with the maximum of the whole array, exp underflows to 0 "
                      "in the lower row and 0/0 is NaN"),
            Case(f"a length-1 axis, shape (3, 1) ({dt})", (np.array([[5.0], [-2.0], [0.0]], dt),),
                 hint="a single logit gets probability 1 (log-probability 0)"),
            Case(f"ties: all logits equal ({dt})", (np.full(5, 7.0, dt),)),
            Case(f"masked logits (-inf) in a row ({dt})", (np.array([2.0, -np.inf, 0.5, -np.inf], dt),),
                 hint="a logit of -inf gets probability 0 (log-probability -inf); exp(-inf - m) = 0 needs no "
                      "special case"),
        ]
    return out


# --------------------------------------------------------------------------- ex3: the JVP
@case_generator
def jvp_inputs(*, seed: int = 0) -> list:
    """``(x, v)`` with ``axis``: random along various axes in both dtypes, a constant direction (J 1 = 0),
    extreme logits, and one row of 100,000 logits (its Jacobian would need 80 GB)."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in _DTYPES:
        out += [
            Case(f"random, shape (5,) ({dt}, seed {seed})", (_random(rng, (5,), dt), _random(rng, (5,), dt, 1))),
            Case(f"random, shape (3, 6), axis=-1 ({dt}, seed {seed})",
                 (_random(rng, (3, 6), dt), _random(rng, (3, 6), dt, 1)), {"axis": -1}),
            Case(f"random, shape (3, 6), axis=0 ({dt}, seed {seed})",
                 (_random(rng, (3, 6), dt), _random(rng, (3, 6), dt, 1)), {"axis": 0},
                 hint="both the softmax and the inner product <p, v> go along the given axis"),
            Case(f"random, shape (2, 4, 3), axis=1 ({dt}, seed {seed})",
                 (_random(rng, (2, 4, 3), dt), _random(rng, (2, 4, 3), dt, 1)), {"axis": 1}),
            Case(f"v = 1, a constant direction: J 1 = 0 ({dt})", (_random(rng, (7,), dt), np.ones(7, dt)),
                 hint="softmax is shift invariant, so moving every logit by the same amount changes nothing"),
            Case(f"extreme logits [1000, -1000, 999] ({dt})",
                 (np.array([1000.0, -1000.0, 999.0], dt), np.array([1.0, 2.0, -3.0], dt)),
                 hint="compute p with the stable softmax (subtract the maximum)"),
        ]
    n = 100_000
    out.append(Case(f"one row of n = {n:,} logits (float32, seed {seed})",
                    (_random(rng, (n,), "float32"), _random(rng, (n,), "float32", 1)),
                    hint="the n x n Jacobian of this row would take 40 GB in float32: compute J v directly"))
    return out


# --------------------------------------------------------------------------- ex4: cross-entropy
def cross_entropy_reference(logits, labels):
    """``(loss, grad)`` of the mean cross-entropy :math:`-\\frac1n\\sum_i \\log\\operatorname{softmax}(z_i)
    _{y_i}` of logits ``(n, K)`` and integer labels ``(n,)``: the loss as a Python float (computed in float64)
    and the gradient :math:`(\\operatorname{softmax}(z) - \\operatorname{onehot}(y))/n` in the logits' dtype."""
    z = np.asarray(logits)
    y = np.asarray(labels)
    z64 = z.astype(np.float64)
    n = z.shape[0]
    logp = numpy_ref.log_softmax(z64, axis=-1)
    loss = -float(np.mean(logp[np.arange(n), y]))
    grad = numpy_ref.softmax(z64, axis=-1)
    grad[np.arange(n), y] -= 1.0
    return loss, (grad / n).astype(z.dtype)


@case_generator
def ce_batches(*, seed: int = 0, dtype: str = "float64", extremes_only: bool = False) -> list:
    """``(logits, labels)``: random batches of several sizes and class counts, confident right and confident
    wrong predictions, a batch of one, two classes; or (``extremes_only``) logits of ±1000."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    out = []
    if extremes_only:
        z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 500.0], [0.0, 0.0, 1000.0]], dt)
        out.append(Case(f"logits of ±1000, right and wrong labels ({dtype})", (z, np.array([0, 0, 2]))),
                   )
        out.append(Case(f"all logits -1000 ({dtype})", (np.full((2, 4), -1000.0, dt), np.array([1, 3])),
                        hint="equal logits give p = 1/K whatever their size: subtract the maximum"))
        return out
    for n, k in ((8, 3), (32, 10), (5, 2), (1, 4)):
        out.append(Case(f"random batch: {n} samples, {k} classes ({dtype}, seed {seed})",
                        (_random(rng, (n, k), dt), rng.integers(0, k, size=n))))
    z = _random(rng, (6, 5), dt, 1.0)
    y = rng.integers(0, 5, size=6)
    right, wrong = z.copy(), z.copy()
    right[np.arange(6), y] += 30.0
    wrong[np.arange(6), (y + 1) % 5] += 30.0
    out.append(Case(f"confident and right (the label's logit is 30 above) ({dtype})", (right, y),
                    hint="a confident right prediction has a loss and a gradient near 0"))
    out.append(Case(f"confident and wrong (another logit is 30 above) ({dtype})", (wrong, y),
                    hint="a confident wrong prediction has a loss of about 30 and a gradient of size about 1"))
    return out


# --------------------------------------------------------------------------- ex5: multi-label prediction
def _away_from(z, cut, gap=1e-3):
    """Move entries of z that lie within ``gap`` of their threshold logit ``cut`` away from it."""
    close = np.abs(z - cut) < gap
    return np.where(close, cut + np.where(z >= cut, 2 * gap, -2 * gap), z)


@case_generator
def multilabel_logits(*, seed: int = 0, extremes_only: bool = False) -> list:
    """``(logits, thresholds)``: random logits with one threshold or one per label, rows where no label
    passes its threshold, thresholds near 0 and 1; or (``extremes_only``) logits of ±1000 in float32. No
    logit lies within 1e-3 of its threshold's logit (where rounding could decide)."""
    rng = np.random.default_rng(seed)
    out = []
    if extremes_only:
        z = np.array([[1000.0, -1000.0, 0.5], [-1000.0, -1000.0, -999.0], [-1000.0, -1000.0, -1000.0]],
                     np.float32)
        out.append(Case("logits of ±1000, threshold 0.5 (float32)", (z, 0.5),
                        hint="exp(-z) overflows for z = -1000: compare z with log(t / (1 - t)) instead"))
        out.append(Case("logits of ±1000, thresholds [0.9, 0.2, 0.6] (float32)", (z, np.array([0.9, 0.2, 0.6]))))
        return out
    cut = lambda t: np.log(t) - np.log1p(-np.asarray(t, np.float64))  # noqa: E731
    for dt in _DTYPES:
        z = _away_from(_random(rng, (10, 4), "float64", 2.0), cut(0.5)).astype(dt)
        out.append(Case(f"random logits (10, 4), threshold 0.5 ({dt}, seed {seed})", (z, 0.5)))
        t = np.array([0.3, 0.5, 0.7, 0.9])
        z = _away_from(_random(rng, (12, 4), "float64", 2.0), cut(t)).astype(dt)
        out.append(Case(f"random logits (12, 4), thresholds {t.tolist()} ({dt}, seed {seed})", (z, t),
                        hint="thresholds of shape (K,) apply one per label (column): broadcast them"))
    z = _away_from(-np.abs(_random(rng, (6, 5), "float64", 2.0)) - 0.5, cut(0.5))
    out.append(Case("no label above 0.5 in any row (all logits negative)", (z, 0.5),
                    hint="a row with no label on gets its single most likely label (the largest logit)"))
    z = _away_from(_random(rng, (8, 3), "float64", 3.0), cut(0.05))
    out.append(Case("a low threshold 0.05: many labels per row", (z, 0.05)))
    z = _away_from(_random(rng, (8, 3), "float64", 3.0), cut(0.99))
    out.append(Case("a high threshold 0.99: few labels, many rows need their best label", (z, 0.99)))
    out.append(Case("a single sample, a single label", (np.array([[-0.7]]), 0.5),
                    hint="the only label is the most likely one"))
    return out
