"""Chapter 06 (ELU and SELU): case generators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference
========================  ==========================================  =========================================
``ex1-celu``              :func:`celu_cases`, :func:`overflow_cases`  :func:`celu`, :func:`celu_grad`
``ex2-selu``              :func:`selu_inputs`,                        :func:`selu_forward`, :func:`selu_and_grad`,
                                                                      :func:`selu_vjp`
                          :func:`upstream_cases`                      (the student's Function run by
                                                                      :func:`upstream_probe`)
``ex3-moments``           :func:`moment_cases`                        :func:`elu_moments`
``ex4-fixed-point``       :func:`fixed_point_cases`                   :func:`selu_parameters`
========================  ==========================================  =========================================

The Gaussian integrals (Klambauer et al., 2017, appendix): for ``z ~ N(mu, nu)``, ``s = sqrt(nu)``, ``Phi`` the
normal CDF and ``phi`` its density,

.. math::
    \\mathbb{E}[z; z > 0] = \\mu\\Phi(\\tfrac{\\mu}{s}) + s\\varphi(\\tfrac{\\mu}{s}), \\quad
    \\mathbb{E}[z^2; z > 0] = (\\mu^2 + \\nu)\\Phi(\\tfrac{\\mu}{s}) + \\mu s\\varphi(\\tfrac{\\mu}{s}), \\quad
    \\mathbb{E}[e^{kz}; z \\le 0] = e^{k\\mu + k^2\\nu/2}\\,\\Phi(-\\tfrac{\\mu + k\\nu}{s}).
"""
from __future__ import annotations

import math

import numpy as np

from actlab.checks import Case, case_generator, cases

__all__ = ["HINTS", "NUMPY_ONLY", "SELU_FORBID", "SELU_ALPHA", "SELU_LAMBDA", "selu_inputs", "celu", "celu_grad", "celu_cases", "overflow_cases", "selu_forward", "selu_and_grad",
           "upstream_cases", "selu_vjp", "upstream_probe", "elu_moments", "moment_cases",
           "selu_parameters", "fixed_point_cases"]

#: The SELU constants to float64 precision (Klambauer et al., 2017; torch.nn.SELU uses the same).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946

#: What the numpy exercise may not call, and what the SELU exercise may not call (torch's own selu and elu, by
#: name or as the ATen kernels they dispatch to).
NUMPY_ONLY = ("actlab", "scipy.special", "torch")
SELU_FORBID = ("actlab", "torch.selu", "torch.nn.functional.selu", "torch.nn.functional.elu", "aten.elu",
               "aten.elu_backward")

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-celu": "celu(x) = x for x > 0 and alpha * expm1(x / alpha) otherwise: np.expm1 keeps the digits that "
                "exp(t) - 1 cancels near 0, and exponentiating only min(x, 0) / alpha avoids overflow; the "
                "derivative is 1 for x > 0 and exp(x / alpha) otherwise; use alpha in both places, keep x's dtype "
                "(do not convert x to float64)",
    "ex2-selu": "selu(x) = lambda * x for x > 0 and lambda * alpha * expm1(x) otherwise; its derivative is lambda "
                "for x > 0 and selu(x) + lambda * alpha otherwise (x = 0 included), computed in backward from the "
                "saved output and multiplied by grad_output",
    "ex3-moments": "split the integral at 0: E[f(z)] = lam * (E[z; z > 0] + alpha * (E[e^z; z <= 0] - P(z <= 0))), "
                   "and the same for f(z)^2 with e^(2z); E[e^(kz); z <= 0] = exp(k mu + k^2 nu / 2) "
                   "Phi(-(mu + k nu) / sqrt(nu)); the variance is E[f^2] - E[f]^2",
    "ex4-fixed-point": "with z ~ N(0, q): the mean condition alone fixes alpha = E[z; z > 0] / (P(z <= 0) - "
                       "E[e^z; z <= 0]); then lam = sqrt(q / E[elu_alpha(z)^2]); E[e^(kz); z <= 0] = exp(k^2 q / 2) "
                       "Phi(-k sqrt(q))",
}


def _phi(t: float) -> float:
    return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def _Phi(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


# --------------------------------------------------------------------------- ex1: CELU and its derivative
def celu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """CELU (Barron, 2017): ``x`` for ``x > 0``, ``alpha * expm1(x / alpha)`` otherwise, in x's dtype (computed
    in float64). ``celu_alpha(x) = alpha * elu_1(x / alpha)``: an ELU with scale alpha whose derivative is
    continuous for every alpha."""
    x = np.asarray(x)
    v = x.astype(np.float64)
    return np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0.0) / alpha)).astype(x.dtype)


def celu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The derivative of :func:`celu`: 1 for ``x > 0``, ``exp(x / alpha)`` otherwise (1 at 0 from both sides)."""
    x = np.asarray(x)
    v = x.astype(np.float64)
    return np.where(v > 0, 1.0, np.exp(np.minimum(v, 0.0) / alpha)).astype(x.dtype)


@case_generator
def celu_cases(*, seed: int = 0, dtypes=("float32", "float64")) -> list:
    """``(x, alpha)``: random inputs with alpha 1, 0.5, 1.7 and 3, tiny negative inputs (where exp(t) - 1
    cancels), signed zeros, and ±30, ±1000 (where exp overflows)."""
    rng = np.random.default_rng(seed)
    out = []
    use_alpha = "alpha appears twice: alpha * (exp(x / alpha) - 1)"
    for dt in dtypes:
        d = np.dtype(dt)
        for a in (1.0, 0.5, 1.7):
            out.append(Case(f"random x of shape (16,), alpha = {a} ({dt}, seed {seed})",
                            (rng.normal(0.0, 3.0, size=16).astype(d), a), hint="" if a == 1.0 else use_alpha))
        out.append(Case(f"random x of shape (4, 8), alpha = 3 ({dt})",
                        (rng.normal(0.0, 3.0, size=(4, 8)).astype(d), 3.0), hint=use_alpha))
        tiny = -(10.0 ** -np.arange(3, 12 if dt == "float64" else 9, dtype=float))
        out.append(Case(f"tiny negative x from -1e-3 down to {tiny[-1]:.0e}, alpha = 1.5 ({dt})", (tiny.astype(d), 1.5),
                        hint="exp(t) is within one rounding of 1 here and exp(t) - 1 keeps no correct digit: use "
                             "np.expm1"))
        out.append(Case(f"x = [0, -0], alpha = 2 ({dt})", (np.array([0.0, -0.0], dtype=d), 2.0),
                        hint="celu(0) = 0, and its derivative is 1 from both sides"))
        out.append(Case(f"x = [-1000, -30, 30, 1000], alpha = 1.2 ({dt})",
                        (np.array([-1000.0, -30.0, 30.0, 1000.0], dtype=d), 1.2),
                        hint="celu(-1000) = -alpha; at x = 1000, exp(x / alpha) overflows to inf, and inf * 0 = nan "
                             "if you multiply by masks: select with np.where and exponentiate only min(x, 0) / alpha"))
    return out


@case_generator
def overflow_cases(*, dtypes=("float32", "float64")) -> list:
    """``(x, alpha = 1)`` with ``x = [-1000, -30, 30, 1000]``: where a formula that exponentiates the positive
    side overflows (alpha = 1, so only the warning matters here)."""
    return [Case(f"x = [-1000, -30, 30, 1000], alpha = 1 ({dt})",
                 (np.array([-1000.0, -30.0, 30.0, 1000.0], dtype=dt), 1.0),
                 hint="exponentiate only min(x, 0) / alpha: exp(1000) overflows (a warning, and inf * 0 = nan "
                      "if masks are multiplied in)") for dt in dtypes]


# --------------------------------------------------------------------------- ex2: SELU with a backward
def selu_forward(x: np.ndarray) -> np.ndarray:
    """``selu(x)`` in x's dtype (computed in float64 with expm1)."""
    return selu_and_grad(x)[0]


def selu_and_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(selu(x), selu'(x))`` in x's dtype (computed in float64): ``lambda x`` / ``lambda alpha expm1(x)`` and
    ``lambda`` / ``lambda alpha e^x`` (x <= 0 on the negative branch)."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    v = x.astype(np.float64)
    neg = np.minimum(v, 0.0)
    y = np.where(v > 0, SELU_LAMBDA * v, SELU_LAMBDA * SELU_ALPHA * np.expm1(neg))
    d = np.where(v > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(neg))
    return y.astype(dtype), d.astype(dtype)


@case_generator
def selu_inputs(*, seed: int = 0) -> list:
    """The standard elementwise inputs (``actlab.checks.cases.elementwise``: random, log-uniform magnitudes,
    signed zeros, ±1e-7, ±30, ±90/±710, ±1000) in float32 and float64."""
    return list(cases.elementwise(seed=seed, dtypes=("float32", "float64")).cases)


@case_generator
def upstream_cases(*, seed: int = 0, dtypes=("float64", "float32")) -> list:
    """``(x, grad_output)``: random inputs with a random upstream gradient (not all ones), shapes (16,) and
    (4, 8), float64 and float32."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        for shape in ((16,), (4, 8)):
            x = rng.normal(0.0, 2.0, size=shape).astype(dt)
            g = rng.normal(0.0, 1.0, size=shape).astype(dt)
            out.append(Case(f"x {shape} with a random grad_output ({dt}, seed {seed})", (x, g),
                            hint="backward must multiply the derivative by grad_output (the gradient of the "
                                 "loss with respect to the output)"))
    return out


def selu_vjp(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(selu(x), g * selu'(x))``: the output and the gradient of ``L = sum(g * selu(x))``."""
    y, d = selu_and_grad(x)
    return y, (np.asarray(g, dtype=np.float64) * d).astype(y.dtype)


def upstream_probe(fn):
    """A function ``(x, g) -> (y, dL/dx)`` for ``L = sum(g * fn(x))``: runs a student's ``Function.apply`` with a
    random upstream gradient, which a test with ``sum(y)`` (upstream gradient 1) cannot tell from none."""
    import torch

    def run(x, g):
        x_t = torch.tensor(np.asarray(x), requires_grad=True)
        y = fn(x_t)
        if not isinstance(y, torch.Tensor):
            raise AssertionError(f"expected a torch.Tensor, got {type(y).__name__}")
        (y * torch.as_tensor(np.asarray(g))).sum().backward()
        if x_t.grad is None:
            raise AssertionError("no gradient reached x: backward must return dL/dx")
        return y.detach(), x_t.grad

    return run


# --------------------------------------------------------------------------- ex3: the moment map
def _moments(mu: float, nu: float) -> dict:
    s = math.sqrt(nu)
    t = mu / s
    return {
        "z_pos": mu * _Phi(t) + s * _phi(t),                          # E[z; z > 0]
        "z2_pos": (mu * mu + nu) * _Phi(t) + mu * s * _phi(t),        # E[z^2; z > 0]
        "p_neg": _Phi(-t),                                            # P(z <= 0)
        "e1_neg": math.exp(mu + nu / 2) * _Phi(-(mu + nu) / s),      # E[e^z; z <= 0]
        "e2_neg": math.exp(2 * mu + 2 * nu) * _Phi(-(mu + 2 * nu) / s),   # E[e^(2z); z <= 0]
    }


def elu_moments(mu: float, nu: float, alpha: float = 1.0, lam: float = 1.0) -> tuple[float, float]:
    """The mean and variance of ``lam * elu_alpha(z)`` for ``z ~ N(mu, nu)``, ``nu > 0``, in closed form."""
    if not nu > 0:
        raise ValueError(f"nu must be > 0, got {nu}")
    m = _moments(float(mu), float(nu))
    mean = m["z_pos"] + alpha * (m["e1_neg"] - m["p_neg"])
    second = m["z2_pos"] + alpha ** 2 * (m["e2_neg"] - 2 * m["e1_neg"] + m["p_neg"])
    return float(lam * mean), float(lam ** 2 * (second - mean ** 2))


@case_generator
def moment_cases(*, seed: int = 0) -> list:
    """``(mu, nu, alpha, lam)``: random means and variances, the SELU fixed point, a narrow distribution far on
    either side of the kink, a wide one."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(5):
        mu, nu = float(rng.uniform(-2, 2)), float(rng.uniform(0.2, 4))
        a, lam = float(rng.choice([0.5, 1.0, 2.0])), float(rng.choice([1.0, 1.5]))
        out.append(Case(f"random #{i}: mu = {mu:.3f}, nu = {nu:.3f}, alpha = {a}, lam = {lam} (seed {seed})",
                        (mu, nu, a, lam)))
    out += [
        Case("the SELU fixed point mu = 0, nu = 1", (0.0, 1.0, SELU_ALPHA, SELU_LAMBDA),
             hint="at the SELU constants the mean is 0 and the variance 1"),
        Case("ELU with alpha = 1 on N(0, 1)", (0.0, 1.0, 1.0, 1.0)),
        Case("narrow and far left: mu = -3, nu = 0.01 (almost always saturated)", (-3.0, 0.01, 1.5, 1.0),
             hint="here z <= 0 almost surely: the mean is close to alpha (e^(mu + nu/2) - 1)"),
        Case("narrow and far right: mu = 3, nu = 0.01 (almost always linear)", (3.0, 0.01, 1.5, 1.2),
             hint="here z > 0 almost surely: the mean is close to lam * mu and the variance to lam^2 nu"),
        Case("wide: mu = 0.5, nu = 9", (0.5, 9.0, 1.0, 1.0)),
    ]
    return out


# --------------------------------------------------------------------------- ex4: the fixed point
def selu_parameters(q: float = 1.0) -> tuple[float, float]:
    """``(alpha, lam)`` such that ``f = lam * elu_alpha`` maps ``z ~ N(0, q)`` to mean 0 and second moment ``q``:
    ``alpha = E[z; z > 0] / (P(z <= 0) - E[e^z; z <= 0])``, ``lam = sqrt(q / E[elu_alpha(z)^2])``. For
    ``q = 1`` these are SELU's constants."""
    if not q > 0:
        raise ValueError(f"q must be > 0, got {q}")
    m = _moments(0.0, float(q))
    alpha = m["z_pos"] / (m["p_neg"] - m["e1_neg"])
    second = m["z2_pos"] + alpha ** 2 * (m["e2_neg"] - 2 * m["e1_neg"] + m["p_neg"])
    return float(alpha), float(math.sqrt(q / second))


@case_generator
def fixed_point_cases(*, qs=(1.0, 0.1, 0.5, 2.0, 4.0, 9.0)) -> list:
    """One case per target second moment ``q``."""
    return [Case(f"q = {q:g}" + (" (SELU's constants)" if q == 1.0 else ""), (float(q),),
                 hint="" if q == 1.0 else "the integrals are over N(0, q), not N(0, 1): s = sqrt(q) enters "
                                          "every term") for q in qs]
