"""numpy twins of the activations, for the chapters' numpy sections: each forward and its derivative.

The formulas are the stable ones of :mod:`actlab.functional` (two-branch sigmoid, expm1, log1p, max
subtraction, erfc), so that no finite input gives NaN, Inf or an overflow warning unless the true result itself
exceeds the dtype's range. Inputs are arrays or numbers of any real dtype; every function computes in float64 and
rounds its result once to the input's floating dtype (float64 for integers), so float32 and float16 results are
correctly rounded up to float64's few ULP.

``*_grad(x)`` is the elementwise derivative f'(x). For the functions of a vector (softmax) the Jacobian is not
diagonal: ``softmax_jvp(x, v)`` is J v (J is symmetric, so it is also the vector-Jacobian product),
``log_softmax_vjp(x, g)`` is g^T J, and ``softmax_jacobian(x)`` the matrix itself. For the gates,
``swiglu_grad(a, b)`` returns the two partial derivatives (d/da, d/db).
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
    "elu", "elu_grad", "selu", "selu_grad", "softplus", "softplus_grad", "softmax", "log_softmax",
    "softmax_jvp", "softmax_jacobian", "log_softmax_vjp", "gelu", "gelu_grad", "silu", "silu_grad", "swish",
    "swish_grad", "swish_grad_beta", "glu", "glu_vjp", "swiglu", "swiglu_grad", "geglu", "geglu_grad",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = 0.044715
GELU_SIGMOID_C = 1.702
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _floats(fn):
    """Compute in float64 and round the results once to the input's dtype (float64 for integer inputs)."""

    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
        compute = np.float64
        args = [np.asarray(a, compute) if isinstance(a, (np.ndarray, list)) else a for a in args]
        out = fn(x.astype(compute, copy=False), *args, **kwargs)
        if isinstance(out, tuple):
            return tuple(np.asarray(o).astype(dtype, copy=False) for o in out)
        return np.asarray(out).astype(dtype, copy=False)

    return wrapper


def _cap(x, scale):
    """x clipped where scale * x would overflow (beyond that the activations are linear or 0 anyway)."""
    big = np.finfo(x.dtype).max / max(abs(scale), 1.0)
    return np.clip(x, -big, big)


# ---------------------------------------------------------------------------------------------- sigmoid
@_floats
def sigmoid(x):
    r"""sigma(x) = 1 / (1 + e^{-x}), two branches: 1/(1+e) for x >= 0 and e/(1+e) for x < 0, e = e^{-|x|}."""
    e = np.exp(-np.abs(x))                      # never exponentiates a positive number
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


@_floats
def sigmoid_grad(x):
    r"""sigma'(x) = sigma(x) sigma(-x) = e / (1 + e)^2 with e = e^{-|x|} (no cancellation in 1 - sigma)."""
    e = np.exp(-np.abs(x))
    return e / (1.0 + e) ** 2


# ---------------------------------------------------------------------------------------------- tanh
@_floats
def tanh(x):
    r"""tanh x = (e^{2x} - 1)/(e^{2x} + 1) with expm1; |x| is capped at 20, where tanh is +-1 in float64."""
    u = np.expm1(2.0 * np.clip(x, -20.0, 20.0))
    return u / (u + 2.0)


@_floats
def tanh_grad(x):
    r"""tanh'(x) = 1 - tanh^2 x."""
    return 1.0 - tanh(x) ** 2


# ---------------------------------------------------------------------------------------------- ReLU family
@_floats
def relu(x):
    r"""max(x, 0)."""
    return np.maximum(x, 0.0)


@_floats
def relu_grad(x):
    r"""[x > 0] (0 at x = 0, as torch)."""
    return (x > 0).astype(x.dtype)


@_floats
def leaky_relu(x, negative_slope=0.01):
    r"""x for x > 0, gamma x otherwise."""
    return np.where(x > 0, x, negative_slope * x)


@_floats
def leaky_relu_grad(x, negative_slope=0.01):
    r"""1 for x > 0, gamma otherwise."""
    return np.where(x > 0, 1.0, negative_slope).astype(x.dtype)


@_floats
def elu(x, alpha=1.0):
    r"""x for x > 0, alpha (e^x - 1) otherwise, with expm1 (accurate for small negative x)."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


@_floats
def elu_grad(x, alpha=1.0):
    r"""1 for x > 0, alpha e^x otherwise."""
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))).astype(x.dtype)


@_floats
def selu(x):
    r"""lambda * elu(x, alpha) with alpha = 1.6733, lambda = 1.0507 (Klambauer et al., 2017)."""
    return np.where(x > 0, SELU_SCALE * x, (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0.0)))


@_floats
def selu_grad(x):
    r"""lambda for x > 0, lambda alpha e^x otherwise."""
    return np.where(x > 0, SELU_SCALE, (SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x, 0.0))).astype(x.dtype)


@_floats
def softplus(x, beta=1.0, threshold=20.0):
    r"""(1/beta) log(1 + e^{beta x}) = (max(beta x, 0) + log1p(e^{-|beta x|}))/beta; x where beta x > threshold."""
    v = beta * _cap(x, beta)
    return np.where(v > threshold, x, (np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))) / beta)


@_floats
def softplus_grad(x, beta=1.0, threshold=20.0):
    r"""sigma(beta x); 1 where beta x > threshold."""
    v = beta * _cap(x, beta)
    return np.where(v > threshold, 1.0, sigmoid(v)).astype(x.dtype)


# ---------------------------------------------------------------------------------------------- softmax
@_floats
def softmax(x, axis=-1):
    r"""e^{x_i - m} / sum_j e^{x_j - m}, m = max_j x_j: all exponents <= 0, the largest term is exactly 1."""
    if x.size == 0:
        return x.copy()
    with np.errstate(invalid="ignore"):         # inf - inf: NaN for rows holding +inf (or only -inf)
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@_floats
def log_softmax(x, axis=-1):
    r"""(x_i - m) - log1p(sum_{j != k} e^{x_j - m}), m = x_k = max: log1p keeps a tiny remainder."""
    if x.size == 0:
        return x.copy()
    k = np.argmax(x, axis=axis)
    m = np.take_along_axis(x, np.expand_dims(k, axis), axis)
    with np.errstate(invalid="ignore"):
        z = x - m
    e = np.exp(z)
    np.put_along_axis(e, np.expand_dims(k, axis), 0.0, axis)      # leave the maximum's e^0 = 1 out
    return z - np.log1p(np.sum(e, axis=axis, keepdims=True))


@_floats
def softmax_jvp(x, v, axis=-1):
    r"""J v for the softmax Jacobian J = diag(y) - y y^T: y * (v - sum(y v)). J is symmetric: also v^T J."""
    y = softmax(x, axis)
    return y * (v - np.sum(y * v, axis=axis, keepdims=True))


@_floats
def softmax_jacobian(x):
    r"""The matrix J_ij = y_i (delta_ij - y_j) of a 1-D input."""
    if x.ndim != 1:
        raise ValueError(f"softmax_jacobian expects a 1-D array, got shape {x.shape}")
    y = softmax(x)
    return np.diag(y) - np.outer(y, y)


@_floats
def log_softmax_vjp(x, g, axis=-1):
    r"""g^T J for log_softmax: g - softmax(x) sum(g)."""
    return g - softmax(x, axis) * np.sum(g, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------- GELU
def _erfc(x):
    from scipy.special import erfc   # scipy only when needed

    return erfc(x)


@_floats
def gelu(x, approximate="none"):
    r"""x Phi(x) = (x/2) erfc(-x/sqrt2) (erfc: no cancellation in the left tail, unlike 1 + erf);
    ``"tanh"``: x sigma(2u), u = sqrt(2/pi)(x + 0.044715 x^3); ``"sigmoid"``: x sigma(1.702 x)."""
    if approximate == "none":
        return 0.5 * x * _erfc(-x / math.sqrt(2.0))
    xc = np.clip(x, -100.0, 100.0)              # sigma(2u) is already exactly 0 or 1 there; x^3 cannot overflow
    if approximate == "tanh":
        return x * sigmoid(2.0 * _SQRT_2_PI * (xc + GELU_TANH_C * xc ** 3))
    if approximate == "sigmoid":
        return x * sigmoid(GELU_SIGMOID_C * _cap(x, GELU_SIGMOID_C))
    raise ValueError(f"approximate must be 'none', 'tanh' or 'sigmoid', got {approximate!r}")


@_floats
def gelu_grad(x, approximate="none"):
    r"""Phi(x) + x phi(x); for the tanh form sigma(2u) + x sigma'(2u) 2u'(x); for the sigmoid form
    sigma(1.702x) + 1.702 x sigma'(1.702x)."""
    xc = np.clip(x, -100.0, 100.0)
    if approximate == "none":
        return 0.5 * _erfc(-x / math.sqrt(2.0)) + xc * np.exp(-0.5 * xc * xc) / math.sqrt(2.0 * math.pi)
    if approximate == "tanh":
        v = 2.0 * _SQRT_2_PI * (xc + GELU_TANH_C * xc ** 3)
        return sigmoid(v) + xc * sigmoid_grad(v) * 2.0 * _SQRT_2_PI * (1.0 + 3.0 * GELU_TANH_C * xc * xc)
    if approximate == "sigmoid":
        v = GELU_SIGMOID_C * _cap(x, GELU_SIGMOID_C)
        return sigmoid(v) + v * sigmoid_grad(v)
    raise ValueError(f"approximate must be 'none', 'tanh' or 'sigmoid', got {approximate!r}")


# ---------------------------------------------------------------------------------------------- Swish
@_floats
def silu(x):
    r"""x sigma(x)."""
    return x * sigmoid(x)


@_floats
def silu_grad(x):
    r"""sigma(x) + x sigma'(x)."""
    return sigmoid(x) + x * sigmoid_grad(x)


@_floats
def swish(x, beta=1.0):
    r"""x sigma(beta x)."""
    return x * sigmoid(beta * _cap(x, beta))


@_floats
def swish_grad(x, beta=1.0):
    r"""d/dx: sigma(beta x) + beta x sigma'(beta x)."""
    v = beta * _cap(x, beta)
    return sigmoid(v) + v * sigmoid_grad(v)


@_floats
def swish_grad_beta(x, beta=1.0):
    r"""d/dbeta: x^2 sigma'(beta x), ordered as x (x sigma') so that it overflows only if the result does."""
    return x * (x * sigmoid_grad(beta * _cap(x, beta)))


# ---------------------------------------------------------------------------------------------- GLU family
@_floats
def glu(x, axis=-1):
    r"""a sigma(b) with x = [a; b] split in two halves along ``axis``."""
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


@_floats
def glu_vjp(x, g, axis=-1):
    r"""The gradient of sum(g * glu(x)) with respect to x: [g sigma(b); g a sigma'(b)]."""
    a, b = np.split(x, 2, axis=axis)
    return np.concatenate([g * sigmoid(b), g * a * sigmoid_grad(b)], axis=axis)


@_floats
def swiglu(a, b):
    r"""silu(a) * b (a: the gate input)."""
    return silu(a) * b


@_floats
def swiglu_grad(a, b):
    r"""The partial derivatives (silu'(a) b, silu(a))."""
    return silu_grad(a) * b, silu(a)


@_floats
def geglu(a, b, approximate="none"):
    r"""gelu(a) * b (a: the gate input)."""
    return gelu(a, approximate) * b


@_floats
def geglu_grad(a, b, approximate="none"):
    r"""The partial derivatives (gelu'(a) b, gelu(a))."""
    return gelu_grad(a, approximate) * b, gelu(a, approximate)
