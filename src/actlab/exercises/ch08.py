"""Chapter 08 (GELU): case generators, references and evaluators for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-gelu``              :func:`gelu_inputs`                         :func:`gelu_reference`
``ex2-gelu-tanh``         :func:`gelu_inputs` (``form="tanh"``)       :func:`gelu_tanh_reference`
``ex3-gelu-function``     :func:`gelu_inputs`                         :func:`gelu_and_grad` (torch_grad adapter)
``ex4-max-error``         :func:`error_problems`                      :func:`max_error_reference` /
                                                                      :func:`eval_max_error`
========================  ==========================================  =========================================

The references are computed in float64 and rounded once to the input's dtype, so that a float32 answer is
judged against the correctly rounded value, not against another float32 computation.
"""
from __future__ import annotations

import math

import numpy as np

from actlab import approximation, numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "gelu_inputs", "gelu_reference", "gelu_tanh_reference", "gelu_and_grad", "Curve",
           "error_problems", "max_error_reference", "eval_max_error"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-gelu": "x Phi(x) with Phi(x) = erfc(-x / sqrt(2)) / 2: for x < 0 this has no subtraction, while "
                "1 + erf(x / sqrt(2)) subtracts two numbers close to 1 and loses every digit below x = -5 "
                "(float32). Divide by the Python float math.sqrt(2.0) to keep float32 arrays float32",
    "ex2-gelu-tanh": "1 + tanh(u) = 2 sigma(2u): compute x * sigma(2u) with a sigmoid that only "
                     "exponentiates numbers <= 0 (e = exp(-|v|); sigma(v) = 1/(1+e) for v >= 0, e/(1+e) "
                     "otherwise)",
    "ex3-gelu-function": "forward: save x, return x Phi(x) with Phi from erfc; backward: grad_output * "
                         "(Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi)",
    "ex4-max-error": "sample |f - g| on a fine grid (end points included), then refine around the best "
                     "samples (for instance scipy.optimize.minimize_scalar with method='bounded' between the "
                     "neighbouring grid points): a coarse grid misses narrow peaks and rounds the maximum down",
}

_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------- references
def gelu_reference(x):
    """Exact GELU, computed in float64 (erfc form) and rounded to ``x``'s dtype."""
    x = np.asarray(x)
    return numpy_ref.gelu(x.astype(np.float64)).astype(x.dtype)


def gelu_tanh_reference(x):
    """The tanh form of GELU, computed in float64 as ``x sigma(2u)`` and rounded to ``x``'s dtype."""
    x = np.asarray(x)
    return numpy_ref.gelu(x.astype(np.float64), approximate="tanh").astype(x.dtype)


def gelu_and_grad(x):
    """``(GELU(x), GELU'(x))`` with GELU' = Phi + x phi, in float64, rounded to ``x``'s dtype."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    return numpy_ref.gelu(x64).astype(x.dtype), numpy_ref.gelu_grad(x64).astype(x.dtype)


# --------------------------------------------------------------------------- ex1-ex3 inputs
_TAIL = {("exact", "float32"): -12.0, ("exact", "float64"): -37.0,
         ("tanh", "float32"): -8.0, ("tanh", "float64"): -18.0}


def _clear_of_subnormals(x, form):
    """``x`` with the entries whose GELU (or derivative) would be a subnormal number halved: there the result
    keeps only a few bits, and two correct formulas can differ in all of them."""
    x = np.asarray(x)
    tiny = 1024 * float(np.finfo(x.dtype).tiny)
    for _ in range(8):                  # halving can land in the window again: repeat until clear
        x64 = x.astype(np.float64)
        values = ([numpy_ref.gelu(x64), numpy_ref.gelu_grad(x64)] if form == "exact"
                  else [numpy_ref.gelu(x64, approximate="tanh")])
        bad = np.zeros(x.shape, dtype=bool)
        for v in values:
            bad |= (v != 0) & (np.abs(v) < tiny)
        if not bad.any():
            break
        x = np.where(bad, x * x.dtype.type(0.5), x).astype(x.dtype)
    return x


@case_generator
def gelu_inputs(*, seed: int = 0, dtypes=("float32", "float64"), form: str = "exact",
                extremes_only: bool = False) -> list:
    """``(x,)`` for GELU in each of ``dtypes``: random normal arrays of several shapes, magnitudes from 1e-3
    to 1e3 with random signs, signed zeros, tiny inputs, and the left tail down to where the result is still a
    normal number (``form``: ``"exact"`` or ``"tanh"``: -12 / -37 exact, -8 / -18 tanh, in float32 /
    float64); or (``extremes_only``) the values ±1000 and ±100 on their own."""
    if form not in ("exact", "tanh"):
        raise ValueError(f"form must be 'exact' or 'tanh', got {form!r}")
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        if extremes_only:
            for v in (-1000.0, -100.0, 100.0, 1000.0):
                out.append(Case(f"x = {v:g} ({dt})", (np.array(v, dt),),
                                hint="GELU(-1000) is -0 (or a tiny negative number) and GELU(1000) = 1000; "
                                     "nothing may overflow on the way"))
            continue
        for shape in ((), (16,), (4, 8)):
            x = _clear_of_subnormals((3.0 * rng.standard_normal(shape)).astype(dt), form)
            out.append(Case(f"random, shape {shape} ({dt}, seed {seed})", (x,)))
        mags = 10.0 ** rng.uniform(-3, 3, size=32) * rng.choice([-1.0, 1.0], size=32)
        out.append(Case(f"magnitudes 1e-3..1e3 with random signs ({dt}, seed {seed})",
                        (_clear_of_subnormals(mags.astype(dt), form),)))
        out.append(Case(f"x = [0, -0] ({dt})", (np.array([0.0, -0.0], dt),)))
        out.append(Case(f"tiny inputs ±1e-7, ±1e-30 ({dt})", (np.array([-1e-30, -1e-7, 1e-7, 1e-30], dt),),
                        hint="GELU(x) is about x/2 for tiny x"))
        lo = _TAIL[(form, dt)]
        tail = np.linspace(lo, -2.0, 41).astype(dt)
        out.append(Case(f"the left tail, x from {lo:g} to -2 ({dt})", (tail,),
                        hint="the true values are tiny but ordinary numbers (GELU(-6) = -5.9e-9): 1 + erf(...) or "
                             "1 + tanh(...) cancels to 0 here; the relative error must stay small"))
    return out


# --------------------------------------------------------------------------- ex4: the max error
def _bump(x):
    x = np.asarray(x, dtype=np.float64)
    return approximation.gelu(x) + 1e-3 * np.exp(-(((x - 0.3137) / 0.002) ** 2))


_CURVES = {
    "gelu": approximation.gelu,
    "gelu_tanh": approximation.gelu_tanh,
    "gelu_sigmoid": approximation.gelu_sigmoid,
    "gelu_tanh_taylor": lambda x: approximation.gelu_tanh(x, approximation.TAYLOR_C),
    "relu": lambda x: np.maximum(np.asarray(x, dtype=np.float64), 0.0),
    "silu": lambda x: approximation.gelu_sigmoid(x, 1.0),
    "sin": lambda x: np.sin(np.asarray(x, dtype=np.float64)),
    "sin_taylor3": lambda x: np.asarray(x, dtype=np.float64) - np.asarray(x, dtype=np.float64) ** 3 / 6,
    "gelu_plus_bump": _bump,
    "normal_cdf": approximation.normal_cdf,
    "cdf_tanh": approximation.cdf_tanh,
}


class Curve:
    """A named float64 function of one variable for the max-error exercise: ``Curve("gelu")(x)``. It
    accepts numbers and arrays. Its ``repr`` is its name (so cases built from it are reproducible)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        if name not in _CURVES:
            raise ValueError(f"unknown curve {name!r}; known: {sorted(_CURVES)}")
        self.name = name

    def __call__(self, x):
        out = _CURVES[self.name](np.asarray(x, dtype=np.float64))
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other) -> bool:
        return isinstance(other, Curve) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


@case_generator
def error_problems(*, visible: bool = False) -> list:
    """``(f, g, lo, hi)``: GELU against its approximations and other pairs, with maxima inside the interval,
    at an end point, twice (symmetric), in a narrow peak, on a wide interval, and nowhere (f = g)."""
    C = Curve
    if visible:
        return [Case("GELU vs its tanh form on [-10, 10]", (C("gelu"), C("gelu_tanh"), -10.0, 10.0))]
    return [
        Case("GELU vs x sigma(1.702 x) on [-10, 10]", (C("gelu"), C("gelu_sigmoid"), -10.0, 10.0)),
        Case("GELU vs the tanh form on [0, 1]", (C("gelu"), C("gelu_tanh"), 0.0, 1.0)),
        Case("the tanh form with the Taylor coefficient 2/(3 pi) - 1/6 vs GELU on [-6, 6]",
             (C("gelu_tanh_taylor"), C("gelu"), -6.0, 6.0)),
        Case("GELU vs ReLU on [-4, 4] (two equal maxima)", (C("gelu"), C("relu"), -4.0, 4.0),
             hint="either of two equal maxima is a right answer"),
        Case("sin vs its Taylor polynomial x - x^3/6 on [0, 2] (the maximum is at an end point)",
             (C("sin"), C("sin_taylor3"), 0.0, 2.0), hint="include the end points of the interval"),
        Case("a narrow peak of width 0.002 at x = 0.3137 on [-3, 3]", (C("gelu_plus_bump"), C("gelu"), -3.0, 3.0),
             hint="a coarse grid misses a narrow peak or samples it off its top: refine around the best points"),
        Case("the tanh form vs GELU on the wide interval [-1000, 1000]", (C("gelu_tanh"), C("gelu"), -1000.0, 1000.0),
             hint="on a wide interval grid points are far apart: refine locally"),
        Case("Phi vs its tanh approximation on [-5, 5]", (C("normal_cdf"), C("cdf_tanh"), -5.0, 5.0)),
        Case("SiLU x sigma(x) vs x sigma(1.702 x) on [-8, 3]", (C("silu"), C("gelu_sigmoid"), -8.0, 3.0)),
        Case("identical functions: the error is 0 everywhere", (C("gelu"), C("gelu"), -1.0, 1.0)),
    ]


def max_error_reference(f, g, lo, hi):
    """``[E, E]`` with E the largest ``|f - g|`` on ``[lo, hi]`` (what :func:`eval_max_error` must return)."""
    e, _ = approximation.max_abs_error(f, g, lo, hi, n=400_001, refine=12)
    return np.array([e, e])


def eval_max_error(output, f, g, lo, hi):
    """``[error, |f(x) - g(x)|]`` for the student's ``output = (error, x)``: the claimed maximum and the
    error actually attained at the claimed place, which must lie in ``[lo, hi]``."""
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise AssertionError(f"return a tuple (max_error, x_at_max); got {type(output).__name__}"
                             + (f" of length {len(output)}" if isinstance(output, (tuple, list)) else ""))
    try:
        err, x = float(np.asarray(output[0]).reshape(())), float(np.asarray(output[1]).reshape(()))
    except (TypeError, ValueError):
        raise AssertionError("max_error and x_at_max must be single numbers") from None
    if not lo <= x <= hi:
        raise AssertionError(f"x_at_max = {x!r} is outside the interval [{lo:g}, {hi:g}]")
    return np.array([err, abs(float(f(x)) - float(g(x)))])
