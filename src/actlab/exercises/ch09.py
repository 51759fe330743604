"""Chapter 09 (Swish / SiLU): case generators, references and runners for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / runner
========================  ==========================================  =========================================
``ex1-swish``             :func:`swish_inputs`                        ``actlab.numpy_ref.swish``
``ex2-swish-grads``       :func:`swish_inputs`                        :func:`swish_grads_reference`
``ex3-swish-function``    :func:`function_inputs`                     :func:`function_reference`, run by
                                                                      :func:`run_swish_function`
``ex4-newton``            :func:`newton_cases`                        :func:`newton_reference`
========================  ==========================================  =========================================
"""
from __future__ import annotations

import functools

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "swish_inputs", "swish_grads_reference", "function_inputs", "function_reference",
           "run_swish_function", "swish_function_runner", "newton_cases", "newton_reference"]

#: The hint each exercise's hidden checks add to a failure message (kept here, not in the hidden-test source).
HINTS = {
    "ex1-swish": "compute sigma(beta x) in the two-branch form: with e = exp(-|beta x|) <= 1, sigma is 1/(1+e) "
                 "where beta x >= 0 and e/(1+e) where beta x < 0; keep the input's dtype (no float64 constants)",
    "ex2-swish-grads": "with s = sigma(beta x) from the stable form and s' = s (1 - s) = e/(1+e)^2: "
                       "d/dx = s + beta x s', d/dbeta = x^2 s'; do not form exp(-beta x) for negative beta x",
    "ex3-swish-function": "save what backward needs in forward (ctx.save_for_backward(x, beta)); backward gets "
                          "the upstream gradient g and returns g * d/dx and the SUM of g * d/dbeta (beta is "
                          "one number: its gradient collects every element)",
    "ex4-newton": "iterate x <- x - g(x)/g'(x) with g(x) = 1 + beta x (1 - sigma(beta x)) and "
                  "g'(x) = beta sigma(-beta x) (1 - beta x sigma(beta x)), starting from x = 0; return all "
                  "steps + 1 iterates",
}

_BETAS = (1.0, 0.5, 1.702, 2.0, 10.0, 0.0, -1.0)


# --------------------------------------------------------------------------- ex1 / ex2: swish and its gradients
@case_generator
def swish_inputs(*, seed: int = 0, dtypes=("float32", "float64"), betas=_BETAS) -> list:
    """``(x, beta)``: normal(0, 3) arrays of a few shapes for every β, log-uniform magnitudes up to 1e3,
    signed zeros, and the extremes ±1000, ±(exp overflow + 1), ±30 with β = 1 and β = 10."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        dtype = np.dtype(dt)
        for beta in betas:
            shape = [(), (17,), (4, 6)][len(out) % 3]
            out.append(Case(f"random, shape {shape}, beta = {beta:g} ({dt}, seed {seed})",
                            (rng.normal(0.0, 3.0, size=shape).astype(dtype), float(beta))))
        mags = (10.0 ** rng.uniform(-3, 3, size=24) * rng.choice([-1.0, 1.0], size=24)).astype(dtype)
        out.append(Case(f"magnitudes 1e-3..1e3, beta = 1 ({dt})", (mags, 1.0)))
        out.append(Case(f"x = [0, -0], beta = 1.5 ({dt})", (np.array([0.0, -0.0], dtype=dtype), 1.5)))
        edge = 90.0 if dtype.itemsize <= 4 else 710.0
        for beta in (1.0, 10.0):
            for v in (-1000.0, -edge, -30.0, 30.0, edge, 1000.0):
                out.append(Case(f"x = {v:g}, beta = {beta:g} ({dt})", (np.array(v, dtype=dtype), beta),
                                hint="an extreme input: exp(-beta x) overflows here; only exponentiate numbers <= 0"))
    return out


def swish_grads_reference(x, beta=1.0):
    """``(d/dx, d/dβ)`` of ``x σ(βx)``, elementwise, in x's dtype."""
    return numpy_ref.swish_grad(x, beta), numpy_ref.swish_grad_beta(x, beta)


# --------------------------------------------------------------------------- ex3: an autograd.Function
def run_swish_function(cls, x, beta, g):
    """Run the student's ``autograd.Function`` ``cls``: ``y = cls.apply(x, beta)`` with ``x`` and a 0-d
    ``beta`` as leaf tensors of x's dtype, then ``y.backward(g)``; returns ``(y, x.grad, beta.grad)``."""
    import torch
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    bt = torch.tensor(beta, dtype=xt.dtype, requires_grad=True)
    y = cls.apply(xt, bt)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"forward must return a torch.Tensor, got {type(y).__name__}")
    if not y.requires_grad:
        raise RuntimeError("the output does not require grad: return a tensor computed in forward, not a detached "
                           "or numpy value")
    y.backward(torch.tensor(np.asarray(g), dtype=y.dtype))
    if xt.grad is None or bt.grad is None:
        missing = " and ".join(n for n, t in (("x", xt), ("beta", bt)) if t.grad is None)
        raise RuntimeError(f"no gradient reached {missing}: backward must return one gradient per input of "
                           "forward, (grad_x, grad_beta)")
    return y.detach(), xt.grad, bt.grad


def swish_function_runner(cls):
    """``functools.partial(run_swish_function, cls)``: the callable a test cell checks."""
    return functools.partial(run_swish_function, cls)


def function_reference(x, beta, g):
    """``(swish(x, β), g · d/dx, Σ g · d/dβ)`` in x's dtype."""
    x = np.asarray(x)
    dbeta = np.sum(np.asarray(g, np.float64) * numpy_ref.swish_grad_beta(x.astype(np.float64), beta))
    return (numpy_ref.swish(x, beta), (g * numpy_ref.swish_grad(x, beta)).astype(x.dtype),
            np.asarray(dbeta, dtype=x.dtype))


@case_generator
def function_inputs(*, seed: int = 0) -> list:
    """``(x, beta, g)``: random float64 arrays with random upstream gradients for several β, a float32 case,
    a 0-d input, and extreme inputs (±1000, ±710)."""
    rng = np.random.default_rng(seed)
    out = []
    for beta, shape in ((1.0, (12,)), (0.5, (3, 5)), (2.0, (20,)), (1.702, (2, 2, 3)), (0.0, (8,)),
                        (-1.5, (9,))):
        out.append(Case(f"random, shape {shape}, beta = {beta:g}, random upstream gradient (float64, seed {seed})",
                        (rng.normal(0, 3, shape), beta, rng.normal(size=shape))))
    out.append(Case("a 0-d input x = 0.7, beta = 1.3 (float64)", (np.array(0.7), 1.3, np.array(1.0))))
    x32 = rng.normal(0, 2, 10).astype(np.float32)
    out.append(Case("random, shape (10,), beta = 1 (float32)", (x32, 1.0, np.ones(10, np.float32))))
    out.append(Case("extremes -1000, -710, 710, 1000, beta = 1 (float64)",
                    (np.array([-1000.0, -710.0, 710.0, 1000.0]), 1.0, np.ones(4)),
                    hint="sigma(beta x) must not overflow: use the stable form (or torch.sigmoid)"))
    return out


# --------------------------------------------------------------------------- ex4: Newton's method
def newton_reference(beta, steps):
    """The iterates ``x_0 = 0, x_1, ..., x_steps`` of Newton's method on
    ``g(x) = 1 + βx(1 - σ(βx))`` (float64 array of length ``steps + 1``)."""
    xs = [0.0]
    for _ in range(int(steps)):
        x = xs[-1]
        u = beta * x
        s = float(numpy_ref.sigmoid(np.float64(u)))
        g = 1.0 + u * (1.0 - s)
        dg = beta * (1.0 - s) * (1.0 - u * s)
        xs.append(x - g / dg)
    return np.array(xs, dtype=np.float64)


@case_generator
def newton_cases(*, betas=(1.0, 0.5, 2.0, 1.702, 10.0, 0.01, 100.0), steps=(0, 1, 2, 5, 10)) -> list:
    """``(beta, steps)`` pairs: every β with 6 steps, and β = 1 with each number of steps."""
    out = [Case(f"beta = {b:g}, 6 steps", (float(b), 6)) for b in betas]
    out += [Case(f"beta = 1, {n} step{'s' if n != 1 else ''}", (1.0, int(n)),
                 hint="return the starting point x_0 = 0 too: steps + 1 values" if n == 0 else "")
            for n in steps]
    return out
