"""Grading fairness for chapter 06 (ELU and SELU): other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why (the pattern of
tests/test_ch00_exercises.py)."""
import math

import numpy as np
import pytest

from actlab import signal_propagation as SP
from actlab.exercises import ch06
from exercise_harness import Chapter, fairness_tests

CH = Chapter("06_elu")
CHECKS = {
    "ex1-celu": ["visible: celu, worked example", "visible: celu_grad, worked example",
                 "hidden: celu, random, tiny and extreme x", "hidden: celu_grad, random, tiny and extreme x",
                 "hidden: no overflow warning at ±1000"],
    "ex2-selu": ["visible: worked example", "hidden: forward, to the last digits",
                 "hidden: random, tiny and extreme x", "hidden: a random upstream gradient"],
    "ex3-moments": ["visible: SELU's fixed point and ReLU", "hidden: random, narrow and wide Gaussians"],
    "ex4-fixed-point": ["visible: SELU's constants", "hidden: q from 0.1 to 9"],
}
POINTS = {"ex1-celu": 2, "ex2-selu": 2, "ex3-moments": 3, "ex4-fixed-point": 3}
C = CHECKS

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-celu": {
        "alpha * elu_1(x / alpha) with a helper": """
def _elu1(t):
    return np.where(t > 0, t, np.expm1(np.minimum(t, 0)))

def celu(x, alpha=1.0):
    return (alpha * _elu1(x / alpha)).astype(x.dtype)

def celu_grad(x, alpha=1.0):
    t = x / alpha
    return np.where(t > 0, np.ones_like(x), np.exp(np.minimum(t, 0)).astype(x.dtype))
""",
        "masked assignment on copies": """
def celu(x, alpha=1.0):
    out = x.copy()
    neg = x <= 0
    out[neg] = alpha * np.expm1(x[neg] / alpha)
    return out

def celu_grad(x, alpha=1.0):
    out = np.ones_like(x)
    neg = x <= 0
    out[neg] = np.exp(x[neg] / alpha)
    return out
""",
        "clip, and the derivative from the output": """
def celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.clip(x, None, 0) / alpha))

def celu_grad(x, alpha=1.0):
    y = celu(x, alpha)
    return np.where(x > 0, 1, y / alpha + 1).astype(x.dtype)
""",
    },
    "ex2-selu": {
        "save the input, recompute the exponential": """
class SELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x.clamp(max=0)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * SELU_LAMBDA * torch.where(x > 0, 1.0, SELU_ALPHA * torch.exp(x.clamp(max=0)))
""",
        "clamps instead of where": """
class SELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = SELU_LAMBDA * (x.clamp(min=0) + SELU_ALPHA * torch.expm1(x.clamp(max=0)))
        ctx.save_for_backward(y, (x > 0).to(x.dtype))
        return y

    @staticmethod
    def backward(ctx, g):
        y, pos = ctx.saved_tensors
        return g * (pos * SELU_LAMBDA + (1 - pos) * (y + SELU_LAMBDA * SELU_ALPHA))
""",
    },
    "ex3-moments": {
        "quadrature in standardized coordinates": """
from scipy.integrate import quad
def elu_moments(mu, nu, alpha, lam):
    s = math.sqrt(nu)
    f = lambda z: lam * (z if z > 0 else alpha * math.expm1(z))
    phi = lambda u: math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    u0 = -mu / s
    def E(g):
        a = quad(lambda u: g(mu + s * u) * phi(u), -math.inf, u0, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        b = quad(lambda u: g(mu + s * u) * phi(u), u0, math.inf, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        return a + b
    m = E(f)
    return m, E(lambda z: f(z) ** 2) - m * m
""",
        "closed form with math.erf, as a list": """
def elu_moments(mu, nu, alpha, lam):
    s = math.sqrt(nu)
    Phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))
    phi = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    t = mu / s
    zp = mu * Phi(t) + s * phi(t)
    z2p = (mu * mu + nu) * Phi(t) + mu * s * phi(t)
    pn = Phi(-t)
    e1 = math.exp(mu + nu / 2) * Phi(-(mu + nu) / s)
    e2 = math.exp(2 * mu + 2 * nu) * Phi(-(mu + 2 * nu) / s)
    m = zp + alpha * (e1 - pn)
    m2 = z2p + alpha ** 2 * (e2 - 2 * e1 + pn)
    return [lam * m, lam ** 2 * (m2 - m * m)]
""",
    },
    "ex4-fixed-point": {
        "fsolve on quadrature": """
from scipy.integrate import quad
from scipy.optimize import fsolve
def selu_parameters(q):
    s = math.sqrt(q)
    phi = lambda u: math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    def E(g):
        return (quad(lambda u: g(s * u) * phi(u), -math.inf, 0, epsabs=1e-14, epsrel=1e-13)[0]
                + quad(lambda u: g(s * u) * phi(u), 0, math.inf, epsabs=1e-14, epsrel=1e-13)[0])
    def eqs(p):
        a, lam = p
        f = lambda z: lam * (z if z > 0 else a * math.expm1(z))
        return [E(f), E(lambda z: f(z) ** 2) - q]
    a, lam = fsolve(eqs, [1.5, 1.0], xtol=1e-13)
    return float(a), float(lam)
""",
        "brentq for alpha, then lam": """
from scipy.optimize import brentq
from scipy.stats import norm
def selu_parameters(q):
    s = math.sqrt(q)
    e1 = math.exp(q / 2) * norm.cdf(-s)
    e2 = math.exp(2 * q) * norm.cdf(-2 * s)
    mean = lambda a: s / math.sqrt(2 * math.pi) + a * (e1 - 0.5)
    a = brentq(mean, 1e-3, 100, xtol=1e-15, rtol=1e-15)
    return a, math.sqrt(q / (q / 2 + a * a * (e2 - 2 * e1 + 0.5)))
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
CELU_GRAD_OK = """
def celu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha)).astype(x.dtype)
"""
CELU_OK = """
def celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))
"""


def selu_function(forward: str, backward: str) -> str:
    return f"""
class SELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
{forward}

    @staticmethod
    def backward(ctx, g):
{backward}
"""


SELU_FORWARD = """        y = torch.where(x > 0, SELU_LAMBDA * x, SELU_LAMBDA * SELU_ALPHA * torch.expm1(x.clamp(max=0)))
        ctx.save_for_backward(x > 0, y)
        return y"""
SELU_BACKWARD = """        pos, y = ctx.saved_tensors
        return g * torch.where(pos, SELU_LAMBDA, y + SELU_LAMBDA * SELU_ALPHA)"""

# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-celu": {
        "exp(t) - 1 instead of expm1": ("""
def celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0) / alpha) - 1))
""" + CELU_GRAD_OK, [C["ex1-celu"][2]], "use np.expm1"),
        "ELU, not CELU: alpha only outside": ("""
def celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

def celu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)
""", [C["ex1-celu"][i] for i in range(4)], "expected -0.786938"),
        "alpha ignored": ("""
def celu(x, alpha=1.0):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
""" + CELU_GRAD_OK, [C["ex1-celu"][0], C["ex1-celu"][2]], "expected -0.786938"),
        "masks multiplied in: inf * 0 = nan": ("""
def celu(x, alpha=1.0):
    return x * (x > 0) + alpha * np.expm1(x / alpha) * (x <= 0)
""" + CELU_GRAD_OK, [C["ex1-celu"][2], C["ex1-celu"][4]], "got nan"),
        "exponentiates the positive side (overflow warning, right values)": ("""
def celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x / alpha))
""" + CELU_GRAD_OK, [C["ex1-celu"][4]], "emitted"),
        "converts x to float64 first": ("""
def celu(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))
""" + CELU_GRAD_OK, [C["ex1-celu"][2], C["ex1-celu"][4]], "expected dtype float32"),
        "the derivative of ELU (alpha e^x)": (CELU_OK + """
def celu_grad(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0) / alpha)).astype(x.dtype)
""", [C["ex1-celu"][1], C["ex1-celu"][3]], "expected 1.0, got 2.0"),
        "calls torch's celu": ("""
import torch
def celu(x, alpha=1.0):
    return torch.celu(torch.from_numpy(x), alpha).numpy()
""" + CELU_GRAD_OK, [C["ex1-celu"][2]], "must not use torch"),
    },
    "ex2-selu": {
        "derivative from the output + lambda (alpha forgotten)": (selu_function(SELU_FORWARD, """
        pos, y = ctx.saved_tensors
        return g * torch.where(pos, SELU_LAMBDA, y + SELU_LAMBDA)"""),
            [C["ex2-selu"][i] for i in (0, 2, 3)], "dy/dx: expected"),
        "ignores grad_output": (selu_function(SELU_FORWARD, """
        pos, y = ctx.saved_tensors
        return torch.where(pos, SELU_LAMBDA, y + SELU_LAMBDA * SELU_ALPHA)"""),
            [C["ex2-selu"][i] for i in (0, 2, 3)], "dy/dx: expected"),  # every gradient check: upstream != 1
        "exp(x) - 1 instead of expm1": (selu_function("""
        y = torch.where(x > 0, SELU_LAMBDA * x, SELU_LAMBDA * SELU_ALPHA * (torch.exp(x.clamp(max=0)) - 1))
        ctx.save_for_backward(x > 0, y)
        return y""", SELU_BACKWARD), [C["ex2-selu"][1]], "expected"),
        "calls torch.selu in forward": (selu_function("""
        y = torch.selu(x)
        ctx.save_for_backward(x > 0, y)
        return y""", SELU_BACKWARD), [C["ex2-selu"][2]], "must not use torch.selu"),
        "calls actlab.selu in forward": (selu_function("""
        import actlab
        y = actlab.selu(x)
        ctx.save_for_backward(x > 0, y)
        return y""", SELU_BACKWARD), [C["ex2-selu"][2]], "must not use actlab"),
        "swapped constants": (selu_function("""
        y = torch.where(x > 0, SELU_ALPHA * x, SELU_ALPHA * SELU_LAMBDA * torch.expm1(x.clamp(max=0)))
        ctx.save_for_backward(x > 0, y)
        return y""", """
        pos, y = ctx.saved_tensors
        return g * torch.where(pos, SELU_ALPHA, y + SELU_LAMBDA * SELU_ALPHA)"""), C["ex2-selu"], "y: expected"),
    },
    "ex3-moments": {
        "the second moment, not the variance": ("""
from scipy.stats import norm
def elu_moments(mu, nu, alpha, lam):
    s = math.sqrt(nu); t = mu / s
    zp = mu * norm.cdf(t) + s * norm.pdf(t); z2p = (mu**2 + nu) * norm.cdf(t) + mu * s * norm.pdf(t)
    pn = norm.cdf(-t); e1 = math.exp(mu + nu / 2) * norm.cdf(-(mu + nu) / s)
    e2 = math.exp(2 * mu + 2 * nu) * norm.cdf(-(mu + 2 * nu) / s)
    return lam * (zp + alpha * (e1 - pn)), lam**2 * (z2p + alpha**2 * (e2 - 2 * e1 + pn))
""", C["ex3-moments"], "var: expected"),
        "always N(0, 1): ignores mu and nu": ("""
from scipy.stats import norm
def elu_moments(mu, nu, alpha, lam):
    e1 = math.exp(0.5) * norm.cdf(-1); e2 = math.exp(2) * norm.cdf(-2)
    m = 1 / math.sqrt(2 * math.pi) + alpha * (e1 - 0.5)
    m2 = 0.5 + alpha**2 * (e2 - 2 * e1 + 0.5)
    return lam * m, lam**2 * (m2 - m * m)
""", [C["ex3-moments"][1]], "expected"),
        "nu taken as the standard deviation": ("""
from scipy.stats import norm
def elu_moments(mu, nu, alpha, lam):
    s = nu; v = nu * nu; t = mu / s
    zp = mu * norm.cdf(t) + s * norm.pdf(t); z2p = (mu**2 + v) * norm.cdf(t) + mu * s * norm.pdf(t)
    pn = norm.cdf(-t); e1 = math.exp(mu + v / 2) * norm.cdf(-(mu + v) / s)
    e2 = math.exp(2 * mu + 2 * v) * norm.cdf(-(mu + 2 * v) / s)
    m = zp + alpha * (e1 - pn)
    return lam * m, lam**2 * (z2p + alpha**2 * (e2 - 2 * e1 + pn) - m * m)
""", [C["ex3-moments"][1]], "expected"),
        "lam not squared in the variance": ("""
from scipy.stats import norm
def elu_moments(mu, nu, alpha, lam):
    s = math.sqrt(nu); t = mu / s
    zp = mu * norm.cdf(t) + s * norm.pdf(t); z2p = (mu**2 + nu) * norm.cdf(t) + mu * s * norm.pdf(t)
    pn = norm.cdf(-t); e1 = math.exp(mu + nu / 2) * norm.cdf(-(mu + nu) / s)
    e2 = math.exp(2 * mu + 2 * nu) * norm.cdf(-(mu + 2 * nu) / s)
    m = zp + alpha * (e1 - pn)
    return lam * m, lam * (z2p + alpha**2 * (e2 - 2 * e1 + pn) - m * m)
""", C["ex3-moments"], "var: expected 1.0"),
        "calls the library": ("""
from actlab.exercises.ch06 import elu_moments
""", [C["ex3-moments"][1]], "must not use actlab"),
    },
    "ex4-fixed-point": {
        "ignores q: SELU's constants for every q": ("""
def selu_parameters(q):
    return SELU_ALPHA, SELU_LAMBDA
""", [C["ex4-fixed-point"][1]], "alpha: expected"),
        "second moment 1 instead of q": ("""
from scipy.stats import norm
def selu_parameters(q):
    s = math.sqrt(q); e1 = math.exp(q / 2) * norm.cdf(-s); e2 = math.exp(2 * q) * norm.cdf(-2 * s)
    a = (s / math.sqrt(2 * math.pi)) / (0.5 - e1)
    return a, math.sqrt(1 / (q / 2 + a * a * (e2 - 2 * e1 + 0.5)))
""", [C["ex4-fixed-point"][1]], "lam: expected"),
        "q taken as the standard deviation": ("""
from scipy.stats import norm
def selu_parameters(q):
    s = q; v = q * q; e1 = math.exp(v / 2) * norm.cdf(-s); e2 = math.exp(2 * v) * norm.cdf(-2 * s)
    a = (s / math.sqrt(2 * math.pi)) / (0.5 - e1)
    return a, math.sqrt(v / (v / 2 + a * a * (e2 - 2 * e1 + 0.5)))
""", [C["ex4-fixed-point"][1]], "alpha: expected"),
        "returns (lam, alpha)": ("""
from scipy.stats import norm
def selu_parameters(q):
    s = math.sqrt(q); e1 = math.exp(q / 2) * norm.cdf(-s); e2 = math.exp(2 * q) * norm.cdf(-2 * s)
    a = (s / math.sqrt(2 * math.pi)) / (0.5 - e1)
    return math.sqrt(q / (q / 2 + a * a * (e2 - 2 * e1 + 0.5))), a
""", C["ex4-fixed-point"], "alpha: expected 1.67326"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)


# --------------------------------------------------------------------------- the references themselves
def test_moment_reference_agrees_with_quadrature():
    for case in ch06.moment_cases(seed=25).cases:
        mu, nu, a, lam = case.args
        f = lambda z, a=a, lam=lam: lam * np.where(z > 0, z, a * np.expm1(np.minimum(z, 0)))  # noqa: E731
        np.testing.assert_allclose(ch06.elu_moments(mu, nu, a, lam), SP.moment_map(f, mu, nu, omega=1.0, tau=1.0),
                                   rtol=1e-9, atol=1e-12, err_msg=case.id)


def test_fixed_point_reference_solves_its_conditions():
    assert ch06.selu_parameters(1.0) == pytest.approx((ch06.SELU_ALPHA, ch06.SELU_LAMBDA), rel=1e-14)
    for q in (0.1, 2.0, 9.0):
        a, lam = ch06.selu_parameters(q)
        mean, var = ch06.elu_moments(0.0, q, a, lam)
        assert abs(mean) < 1e-12 and var + mean ** 2 == pytest.approx(q, rel=1e-12)
    with pytest.raises(ValueError):
        ch06.selu_parameters(0.0)


def test_celu_and_selu_references_agree_with_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-30, 30, 2001)
    t = torch.tensor(x, requires_grad=True)
    torch.celu(t, 1.7).sum().backward()
    np.testing.assert_allclose(ch06.celu(x, 1.7), torch.celu(t.detach(), 1.7).numpy(), rtol=1e-14, atol=1e-300)
    # torch computes the CELU gradient from its output: about 5e-7 relative in float64 (our reference is exact)
    np.testing.assert_allclose(ch06.celu_grad(x, 1.7), t.grad.numpy(), rtol=2e-6)
    t = torch.tensor(x, requires_grad=True)
    torch.selu(t).sum().backward()
    y, d = ch06.selu_and_grad(x)
    np.testing.assert_allclose(y, torch.selu(t.detach()).numpy(), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(d, t.grad.numpy(), rtol=1e-12, atol=1e-300)
    assert math.isclose(ch06.SELU_ALPHA, 1.6732632423543772) and math.isclose(ch06.SELU_LAMBDA, 1.0507009873554805)
