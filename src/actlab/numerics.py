"""Measuring the accuracy of an activation: ULP errors against high-precision (mpmath) references.

* :func:`ulp_error` — error of a result in units in the last place of the dtype, with the underflow and
  overflow rules;
* :func:`reference` — the true value of every activation, computed with mpmath at 40 significant digits and
  rounded to float64 (exact to far below a float32 ULP);
* :func:`sweep` / :func:`softmax_rows` — the standard inputs: a dense sweep of [-100, 100] plus tiny,
  subnormal and extreme values (rows of them for the softmax family);
* :func:`max_ulp` — the worst case of an implementation over a sweep, with the input where it happens.

What torch itself does (measured by ``benchmarks/bench_accuracy.py`` and asserted in ``tests/test_numerics.py``):
``torch.nn.functional.gelu`` computes ``x/2 (1 + erf(x/sqrt2))``. For x < -5 the bracket is 1 minus a number
within 1e-6 of 1, so float32 keeps almost none of the true value's digits: at x = -5.5 torch returns -1.64e-7 for
-1.04e-7, and from x = -5.7 on it returns -0.0, although the true value (-3.4e-8 at -5.7, -5.9e-9 at -6,
-1.0e-18 at -9) is an ordinary float32 number; ``approximate="tanh"`` cancels the same way in ``1 + tanh(u)``
(-0.0 from x = -5.2). actlab uses ``x/2 erfc(-x/sqrt2)`` and ``x sigma(2u)``, which have no cancellation; what is
left is the exponential's amplification of the rounding of its argument (about x^2 relative ULPs, ~85 ULP at
x = -10), corrected to first order (exact form) or avoided by computing in float64 (tanh form). Where erfc(t)
itself is subnormal but x erfc(t)/2 is not (x in about [-13.5, -13]), the exact form keeps ~14 ULP.

The mpmath references are slow (tens of microseconds per value); sweeps of ~10^4-10^5 points take seconds.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["ulp_error", "reference", "sweep", "softmax_rows", "max_ulp", "UNARY", "ROWWISE", "BINARY",
           "SELU_ALPHA", "SELU_SCALE"]

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_SCALE = "1.0507009873554804934193349852946"
DIGITS = 40

UNARY = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "gelu", "gelu_tanh",
         "gelu_sigmoid", "silu", "swish")
ROWWISE = ("softmax", "log_softmax", "glu")
BINARY = ("swiglu", "geglu")


def _np_dtype(dtype):
    return {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}.get(dtype)


def _finfo(dtype):
    return torch.finfo(dtype if isinstance(dtype, torch.dtype) else torch.from_numpy(np.zeros(0, dtype)).dtype)


def ulp_error(got, ref, dtype=torch.float32):
    """Elementwise error of ``got`` in units in the last place (ULP) of ``dtype`` at the true value ``ref``.

    ``ref`` holds the true values (float64 is accurate enough for float32, float16 and bfloat16). The ULP of a
    value v is the spacing of ``dtype`` numbers in v's binade, 2^(floor(log2|v|)) * eps. Rules:

    * **underflow**: where |ref| is below the smallest normal number of ``dtype`` the result is judged by its
      absolute error, which counts as 0 ULP when it is at most that smallest normal (flushing a subnormal
      result to zero is fine); a larger error is reported in units of the subnormal spacing;
    * **overflow**: where |ref| rounds beyond the largest finite number (it is at least max + ULP(max)/2), the
      right answer is an infinity of the same sign (0 ULP); anything else counts as infinitely wrong;
    * NaN where ref is a number (or a number where ref is NaN) is infinitely wrong.
    """
    got = np.asarray(got.detach().cpu().double() if isinstance(got, torch.Tensor) else got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    fi = _finfo(dtype)
    tiny, eps = float(fi.tiny), float(fi.eps)
    big = float(fi.max) * (1 + eps / 4)         # max + ULP(max)/2: from here on, round-to-nearest gives inf
    with np.errstate(invalid="ignore", over="ignore"):
        mag = np.abs(ref)
        _, e = np.frexp(np.where(np.isfinite(mag) & (mag >= tiny), mag, 1.0))
        ulp = np.where(mag >= tiny, np.ldexp(eps, e - 1), tiny * eps)
        err = np.abs(got - ref)
        out = err / ulp
        out = np.where((mag < tiny) & (err <= tiny), 0.0, out)
        overflow = mag >= big
        out = np.where(overflow, np.where(got == np.sign(ref) * np.inf, 0.0, np.inf), out)
        out = np.where(np.isnan(got) != np.isnan(ref), np.inf, out)
        out = np.where(np.isnan(got) & np.isnan(ref), 0.0, out)
        out = np.where(~overflow & np.isinf(ref) & (got == ref), 0.0, out)
    return out


# --------------------------------------------------------------------------------------------------------
# mpmath references
# --------------------------------------------------------------------------------------------------------
def _mp():
    import mpmath   # imported lazily: `import actlab` stays light

    return mpmath


def _sig(mp, v):
    return 1 / (1 + mp.exp(-v))


def _scalar(name, params):
    """The mpmath function for a unary activation, closed over its parameters."""
    mp = _mp()
    alpha = mp.mpf(params.get("alpha", 1.0))
    slope = mp.mpf(params.get("negative_slope", 0.01))
    beta = mp.mpf(params.get("beta", 1.0))
    threshold = mp.mpf(params.get("threshold", 20.0))
    k = mp.sqrt(2 / mp.pi)
    c = mp.mpf("0.044715")
    sa, ss = mp.mpf(SELU_ALPHA), mp.mpf(SELU_SCALE)
    return {
        "sigmoid": lambda x: _sig(mp, x),
        "tanh": mp.tanh,
        "relu": lambda x: max(x, 0),
        "leaky_relu": lambda x: x if x > 0 else slope * x,
        "elu": lambda x: x if x > 0 else alpha * mp.expm1(x),
        "selu": lambda x: ss * (x if x > 0 else sa * mp.expm1(x)),
        "softplus": lambda x: x if beta * x > threshold else mp.log1p(mp.exp(beta * x)) / beta,
        "gelu": lambda x: x / 2 * mp.erfc(-x / mp.sqrt(2)),
        "gelu_tanh": lambda x: x * _sig(mp, 2 * k * (x + c * x ** 3)),
        "gelu_sigmoid": lambda x: x * _sig(mp, mp.mpf("1.702") * x),
        "silu": lambda x: x * _sig(mp, x),
        "swish": lambda x: x * _sig(mp, beta * x),
    }[name]


def _to_float64(values):
    return np.array([float(v) for v in values], dtype=np.float64)


def reference(name, x, dim=-1, **params):
    """True values of activation ``name`` at the (exactly representable) inputs ``x``, rounded to float64.

    ``name`` is one of :data:`UNARY` (elementwise, ``gelu_tanh`` / ``gelu_sigmoid`` for the approximate
    forms), :data:`ROWWISE` (``softmax``, ``log_softmax``, ``glu`` along ``dim``) or :data:`BINARY`
    (``swiglu``/``geglu``: pass ``x=(a, b)``). Parameters use torch's names (``alpha``, ``negative_slope``,
    ``beta``, ``threshold``, ``approximate`` for geglu).
    """
    mp = _mp()
    with mp.workdps(DIGITS):
        if name in BINARY:
            a, b = (np.asarray(t.detach().cpu().double() if isinstance(t, torch.Tensor) else t, np.float64)
                    for t in x)
            form = params.get("approximate", "none")
            f = _scalar("silu" if name == "swiglu" else {"none": "gelu"}.get(form, "gelu_" + form), params)
            out = [f(mp.mpf(float(p))) * mp.mpf(float(q)) for p, q in zip(a.ravel(), b.ravel())]
            return _to_float64(out).reshape(a.shape)
        x = np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, np.float64)
        if name in UNARY:
            f = _scalar(name, params)
            return _to_float64(f(mp.mpf(float(v))) for v in x.ravel()).reshape(x.shape)
        if name not in ROWWISE:
            raise ValueError(f"unknown activation {name!r}; expected one of {UNARY + ROWWISE + BINARY}")
        rows = np.moveaxis(x, dim, -1)
        flat = rows.reshape(-1, rows.shape[-1])
        out = [_row(name, [mp.mpf(float(v)) for v in r]) for r in flat]
        out = np.array(out, dtype=np.float64).reshape(*rows.shape[:-1], -1)
        return np.moveaxis(out, -1, dim)


def _row(name, r):
    mp = _mp()
    if name == "glu":
        h = len(r) // 2
        return [float(a * _sig(mp, b)) for a, b in zip(r[:h], r[h:])]
    m = max(r)
    if not mp.isfinite(m):     # a row with +inf (or only -inf) has no finite softmax: NaN, as in torch
        return [float("nan")] * len(r)
    # log sum e^{v-m} = log1p(sum over all terms but one maximum's e^0 = 1), and (v - m) - that: grouped so
    # that 1 + tiny or m - (m + tiny) never needs more digits than we carry
    k = r.index(m)
    log_rest = mp.log1p(mp.fsum(mp.exp(v - m) for j, v in enumerate(r) if j != k))
    if name == "log_softmax":
        return [float((v - m) - log_rest) for v in r]
    return [float(mp.exp((v - m) - log_rest)) for v in r]


# --------------------------------------------------------------------------------------------------------
# standard inputs
# --------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _sweep_np(n_dense, dtype_name, lo, hi):
    dtype = getattr(torch, dtype_name)
    fi = torch.finfo(dtype)
    tiny, big = float(fi.tiny), float(fi.max)
    smallest = float(torch.tensor(tiny, dtype=dtype) * fi.eps) if dtype != torch.bfloat16 else tiny * 2 ** -7
    dense = np.linspace(lo, hi, n_dense)
    mags = np.append(np.geomspace(smallest, big / 4, 399), big)
    special = [0.0, smallest, tiny / 2, tiny, 2 * tiny, 1e-30, 1e-20, 1e-10, 1e-7, 1e-5, 1e-4, 1e-3, 1e-2,
               0.1, 0.5, 1, 2, 5, 8, 10, 15, 16, 17, 20, 30, 50, 80, 86, 87.3, 88, 88.7, 89, 100, 103.9, 104,
               105, 200, 700, 710, 745, 1e3, 1e4, 6e4, 65504, 1e5, 1e6, 1e10, 1e20, 1e30, 1e38, big]
    vals = np.concatenate([dense, mags, -mags, special, -np.asarray(special)])
    vals = vals[np.abs(vals) <= big]
    exact = torch.from_numpy(vals).to(dtype).double().numpy()     # round to dtype: exact inputs
    return np.unique(exact)


def sweep(dtype=torch.float32, n_dense=20001, lo=-100.0, hi=100.0):
    """The standard inputs: ``n_dense`` points evenly over [lo, hi] plus ±(0, subnormals, the smallest normal,
    400 magnitudes log-spaced up to the largest finite number, and the points where exp over- and underflows),
    rounded to ``dtype`` (so they are exact inputs), without duplicates, as a float64 numpy array."""
    name = str(dtype).replace("torch.", "")
    return _sweep_np(n_dense, name, float(lo), float(hi)).copy()


def softmax_rows(dtype=torch.float32, n_dense=4001, width=8, seed=0):
    """Rows of ``width`` values for the softmax family: the sweep shuffled into rows, plus rows that stress the
    stable formulas (a dominant entry with tiny others, ties, the extremes of the dtype), as float64."""
    x = sweep(dtype, n_dense)
    rng = np.random.default_rng(seed)
    x = rng.permutation(x)[: (len(x) // width) * width].reshape(-1, width)
    # neighbours of similar size, where no term underflows and the outputs are all of order 1/width
    near = np.sort(rng.permutation(sweep(dtype, n_dense, -20, 20))[: 64 * width]).reshape(-1, width)
    big = float(torch.finfo(dtype).max)
    stress = [[30.0] + [0.0] * (width - 1), [12.0] + [-3.0] * (width - 1), [16.0, 16.0] + [0.0] * (width - 2),
              [big] + [-big] * (width - 1), [1e-30] * width, [0.0] * width,
              list(np.linspace(-1e-3, 1e-3, width)), [-1e4] + [-1e4 - 1] * (width - 1)]
    stress = torch.tensor(stress, dtype=torch.float64).to(dtype).double().numpy()
    return np.concatenate([x, near, stress])


def max_ulp(name, impl, dtype=torch.float32, x=None, dim=-1, **params):
    """Worst ULP error of ``impl`` (a function of one tensor, or two for swiglu/geglu) for activation ``name``
    over ``x`` (default: :func:`sweep`, or :func:`softmax_rows` for the softmax family).

    Returns ``(max_ulp, argument_at_max)``. The reference is computed once per (name, inputs) and cached.
    """
    if x is None:
        x = softmax_rows(dtype) if name in ROWWISE else sweep(dtype)
    if name in BINARY:
        a, b = (np.asarray(t, np.float64) for t in x)
        ref = _cached_reference(name, a.tobytes(), b.tobytes(), a.shape, tuple(sorted(params.items())))
        got = impl(torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype))
        arg = lambda i: (a.ravel()[i], b.ravel()[i])
    else:
        x = np.asarray(x, np.float64)
        ref = _cached_reference(name, x.tobytes(), None, x.shape, tuple(sorted(params.items())) + (("dim", dim),))
        got = impl(torch.from_numpy(x).to(dtype))
        arg = (lambda i: x.ravel()[i]) if name not in ROWWISE else (lambda i: x.reshape(-1, x.shape[dim])[
            i // got.shape[dim]] if dim in (-1, x.ndim - 1) else None)
    err = ulp_error(got, ref, dtype)
    i = int(np.argmax(err))
    return float(err.ravel()[i]), arg(i)


@lru_cache(maxsize=64)
def _cached_reference(name, a_bytes, b_bytes, shape, params):
    params = dict(params)
    dim = params.pop("dim", -1)
    a = np.frombuffer(a_bytes, np.float64).reshape(shape)
    if b_bytes is not None:
        return reference(name, (a, np.frombuffer(b_bytes, np.float64).reshape(shape)), **params)
    return reference(name, a, dim=dim, **params)
