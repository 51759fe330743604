r"""GELU and the normal CDF, exactly and approximately (chapter 08): the approximate forms with their free
coefficient, the largest error of one function against another on an interval, and minimax fits of a
coefficient.

.. math::

    \Phi(x) = \tfrac12 \operatorname{erfc}(-x/\sqrt2), \qquad
    \Phi(x) \approx \sigma\!\big(2\sqrt{2/\pi}\,(x + c\,x^3)\big) = \tfrac12\big(1 + \tanh(\sqrt{2/\pi}(x + c x^3))\big),
    \qquad \Phi(x) \approx \sigma(k x),

and GELU is :math:`x\Phi(x)` with either. Everything here is float64 numpy. The tanh form is evaluated as
:math:`\sigma(2u)`, which equals :math:`\frac12(1 + \tanh u)` without its cancellation for :math:`u \ll 0`.

:func:`max_abs_error` finds :math:`\max_{[a, b]} |f - g|` by a dense grid followed by a bounded local
maximisation around the best grid points (and the end points), so a narrow peak between grid points or a
maximum at an end point is not missed. References: Hendrycks & Gimpel (2016), *Gaussian Error Linear Units*,
arXiv:1606.08415 (the two approximate forms); Camilli (1994) for 1.702.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["TANH_C", "SIGMOID_K", "TAYLOR_C", "normal_cdf", "gelu", "cdf_tanh", "cdf_sigmoid", "gelu_tanh",
           "gelu_sigmoid", "max_abs_error", "minimax_coefficient"]

TANH_C = 0.044715
SIGMOID_K = 1.702
#: the cubic coefficient that matches the Taylor series of Phi at 0 to third order: 2/(3 pi) - 1/6
TAYLOR_C = 2.0 / (3.0 * math.pi) - 1.0 / 6.0
_K = 2.0 * math.sqrt(2.0 / math.pi)


def _sigmoid(v):
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0, e) / (1.0 + e)


def normal_cdf(x):
    r""":math:`\Phi(x) = \frac12\operatorname{erfc}(-x/\sqrt2)` (no cancellation in the left tail)."""
    from scipy.special import erfc
    return 0.5 * erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


def gelu(x):
    r""":math:`x\,\Phi(x)`, exact (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return x * normal_cdf(x)


def cdf_tanh(x, c: float = TANH_C):
    r""":math:`\frac12(1 + \tanh(\sqrt{2/\pi}(x + c x^3))) = \sigma(2\sqrt{2/\pi}(x + c x^3))`."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1e5, 1e5)      # x^3 stays finite; sigma is 0 or 1 there
    return _sigmoid(_K * (x + c * x ** 3))


def cdf_sigmoid(x, k: float = SIGMOID_K):
    r""":math:`\sigma(k x)`."""
    return _sigmoid(k * np.asarray(x, dtype=np.float64))


def gelu_tanh(x, c: float = TANH_C):
    r"""The tanh form :math:`x \cdot \frac12(1 + \tanh(\sqrt{2/\pi}(x + c x^3)))`."""
    x = np.asarray(x, dtype=np.float64)
    return x * cdf_tanh(x, c)


def gelu_sigmoid(x, k: float = SIGMOID_K):
    r"""The sigmoid form :math:`x\,\sigma(k x)`."""
    x = np.asarray(x, dtype=np.float64)
    return x * cdf_sigmoid(x, k)


def max_abs_error(f: Callable, g: Callable, lo: float, hi: float, n: int = 100_001,
                  refine: int = 8) -> tuple[float, float]:
    r"""The largest :math:`|f(x) - g(x)|` over :math:`x \in [lo, hi]` and an ``x`` where it is attained.

    ``f`` and ``g`` are vectorised numpy functions. The error is sampled on ``n`` evenly spaced points;
    around the ``refine`` largest local maxima of the samples (end points included) a bounded scalar
    maximisation (Brent) locates the maximum to about 1e-12 in ``x``. Returns ``(error, x)`` as floats."""
    from scipy.optimize import minimize_scalar

    lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise ValueError(f"need lo < hi, got [{lo}, {hi}]")
    err = lambda t: np.abs(np.asarray(f(t), np.float64) - np.asarray(g(t), np.float64))  # noqa: E731
    x = np.linspace(lo, hi, n)
    e = err(x)
    if not np.all(np.isfinite(e)):
        raise ValueError("f - g is not finite everywhere on the grid")
    peak = np.zeros(n, dtype=bool)
    peak[1:-1] = (e[1:-1] >= e[:-2]) & (e[1:-1] >= e[2:])
    peak[0], peak[-1] = e[0] >= e[1], e[-1] >= e[-2]
    idx = np.flatnonzero(peak)
    idx = idx[np.argsort(e[idx])[::-1][:refine]]
    best_e, best_x = float(e[idx[0]]), float(x[idx[0]])
    for i in idx:
        a, b = x[max(i - 1, 0)], x[min(i + 1, n - 1)]
        res = minimize_scalar(lambda t: -float(err(np.array([t]))[0]), bounds=(a, b), method="bounded",
                              options={"xatol": 1e-13 * max(1.0, abs(x[i]))})
        if -res.fun > best_e:
            best_e, best_x = float(-res.fun), float(res.x)
    return best_e, best_x


def minimax_coefficient(family: Callable, target: Callable, bounds: tuple[float, float], lo: float = -10.0,
                        hi: float = 10.0, n: int = 40_001) -> tuple[float, float]:
    r"""The coefficient ``c`` in ``bounds`` that minimises :math:`\max_{[lo, hi]} |family(x, c) - target(x)|`
    (on a grid of ``n`` points; the maximum as a function of ``c`` is unimodal here), and that maximum
    (refined with :func:`max_abs_error`). Returns ``(c, max_error)``."""
    from scipy.optimize import minimize_scalar

    x = np.linspace(lo, hi, n)
    t = np.asarray(target(x), np.float64)
    res = minimize_scalar(lambda c: float(np.max(np.abs(family(x, c) - t))), bounds=bounds, method="bounded",
                          options={"xatol": 1e-11})
    c = float(res.x)
    return c, max_abs_error(lambda v: family(v, c), target, lo, hi)[0]
