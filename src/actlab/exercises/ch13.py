"""The capstone: case generators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference
========================  ==========================================  =========================================
``ex1-derivatives``       :func:`derivative_cases`                    :func:`derivative_ref`
``ex2-saturation``        :func:`slope_tables`                        :func:`saturation_ref`
``ex3-paired``            :func:`paired_results`                      :func:`paired_ref`
``ex4-gradient-flow``     :func:`mlp_problems`                        :func:`gradient_norms_ref` (torch autograd)
========================  ==========================================  =========================================
"""
from __future__ import annotations

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "NAMES", "derivative_cases", "derivative_ref", "slope_tables", "saturation_ref",
           "paired_results", "paired_ref", "mlp_problems", "gradient_norms_ref"]

NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu")

HINTS = {
    "ex1-derivatives": "sigmoid' = s(1 - s) with a stable s; tanh' = 1 - tanh²; relu' and leaky' are 1 for x > 0 "
                       "(0 and 0.01 otherwise, also at 0); elu' = e^x for x <= 0; selu' = λ (1 or α e^x); "
                       "gelu' = Φ(x) + x φ(x); silu' = s + x s (1 - s); never exponentiate a large positive number",
    "ex2-saturation": "saturated: |slope| < eps * max_slope, averaged over every entry; dead: a unit (column) "
                      "saturated on every input (row), averaged over the units",
    "ex4-gradient-flow": "backward from the top: delta = f'(z_L) (the loss is the sum of the outputs), then for "
                         "each layer grad_W = h_prev.T @ delta and delta_prev = (delta @ W.T) * f'(z_prev); keep "
                         "the z of every layer from the forward pass; sigmoid' = s (1 - s) with a stable s; "
                         "relu'(0) = 0",
    "ex3-paired": "work with the per-seed differences d = a - b: mean, sample std (ddof=1), and the half-width "
                  "t_{0.975, n-1} · std / √n (scipy.stats.t.ppf(0.975, n - 1)), not 1.96",
}


@case_generator
def derivative_cases(*, seed: int = 0) -> list:
    """``(name, x)`` for every activation: random float32 and float64 arrays, zeros, and ±30, ±1000."""
    rng = np.random.default_rng(seed)
    out = []
    for name in NAMES:
        for dt in ("float32", "float64"):
            out.append(Case(f"{name}: random (4, 8) ({dt}, seed {seed})",
                            (name, (3 * rng.standard_normal((4, 8))).astype(dt))))
            out.append(Case(f"{name}: x = [-1000, -30, -0, 0, 30, 1000] ({dt})",
                            (name, np.array([-1000, -30, -0.0, 0, 30, 1000], dtype=dt)),
                            hint="an extreme input: the derivative must be finite (no inf or nan)"))
    return out


def derivative_ref(name: str, x: np.ndarray) -> np.ndarray:
    """``f'(x)`` of the named activation (leaky ReLU with slope 0.01, ELU with α = 1; 0 at the kink)."""
    if name not in NAMES:
        raise ValueError(f"unknown activation {name!r}")
    return getattr(numpy_ref, f"{name}_grad")(x)


@case_generator
def slope_tables(*, seed: int = 0) -> list:
    """``(slopes, max_slope)``: slopes of (inputs x units) tables, with dead columns and exact zeros."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (n, u) in enumerate([(50, 8), (7, 3), (200, 32), (1, 5)]):
        s = np.abs(rng.standard_normal((n, u))) * rng.choice([1e-3, 1.0], size=(n, u), p=[0.3, 0.7])
        s[:, :max(1, u // 4)] *= 1e-4              # dead columns
        out.append(Case(f"#{i}: {n} inputs x {u} units (seed {seed})", (s, 1.0)))
    s = np.zeros((4, 3))
    out.append(Case("all slopes 0 (everything saturated and dead)", (s, 0.25)))
    out.append(Case("sigmoid-like max slope 0.25, one value exactly at the threshold",
                    (np.array([[0.0025, 0.3], [0.001, 0.2]]), 0.25),
                    hint="strictly below the threshold counts as saturated; exactly at it does not"))
    return out


def saturation_ref(slopes: np.ndarray, max_slope: float, eps: float = 0.01) -> tuple[float, float]:
    """(fraction of entries with ``|slope| < eps * max_slope``, fraction of columns saturated on every row)."""
    s = np.abs(np.asarray(slopes, dtype=np.float64)) < eps * max_slope
    return float(s.mean()), float(s.all(axis=0).mean())


@case_generator
def paired_results(*, seed: int = 0) -> list:
    """``(a, b)``: accuracies of two activations on the same seeds (3 to 10 seeds), ties and large gaps."""
    rng = np.random.default_rng(seed)
    out = []
    for n in (3, 5, 10):
        base = rng.uniform(0.85, 0.97, n)
        out.append(Case(f"{n} seeds, correlated (seed {seed})",
                        (base + rng.normal(0.01, 0.004, n), base + rng.normal(0, 0.004, n))))
    out.append(Case("2 seeds", (np.array([0.9, 0.95]), np.array([0.88, 0.9]))))
    out.append(Case("identical results", (np.full(4, 0.9), np.full(4, 0.9))))
    out.append(Case("a clear gap", (np.array([0.96, 0.97, 0.95, 0.96, 0.97]),
                                     np.array([0.80, 0.78, 0.82, 0.79, 0.81]))))
    return out


def paired_ref(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean of ``a - b``, half-width of its 95 % Student-t confidence interval) over paired seeds."""
    from scipy.stats import t

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = d.size
    return float(d.mean()), float(t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n))


@case_generator
def mlp_problems(*, seed: int = 0) -> list:
    """``(weights, x, name)``: bias-free MLPs of depth 1 to 6 for tanh, sigmoid and ReLU, in float64, with
    PyTorch-like and with large weights (saturated units, pre-activations in the thousands)."""
    rng = np.random.default_rng(seed)
    out = []
    for name in ("tanh", "sigmoid", "relu"):
        for depth, n, scale in ((1, 5, 1.0), (3, 8, 1.0), (6, 16, 1.0), (4, 1, 1.0), (3, 10, 300.0)):
            widths = [int(w) for w in rng.integers(1, 12, depth + 1)]
            weights = tuple(scale * rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(widths, widths[1:]))
            x = 3 * rng.standard_normal((n, widths[0]))
            label = f"{name}: depth {depth}, widths {widths}, {n} inputs" + (f", weights x{scale:g}" if scale != 1 else "")
            out.append(Case(f"{label} (seed {seed})", (weights, x, name),
                            hint="large weights saturate tanh and sigmoid: the gradients are tiny but must be "
                                 "finite, without overflow warnings" if scale != 1 else ""))
    return out


def gradient_norms_ref(weights, x, name: str) -> np.ndarray:
    """``[‖∂L/∂W_1‖, ..., ‖∂L/∂W_L‖]`` (Frobenius norms, float64) for ``h_l = f(h_{l-1} W_l)``, ``h_0 = x`` and
    ``L = sum(h_L)``, by torch's autograd in float64 (an independent check of a hand-written backward)."""
    import torch

    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[name]
    h = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    ws = [torch.tensor(np.asarray(w), dtype=torch.float64, requires_grad=True) for w in weights]
    for w in ws:
        h = act(h @ w)
    h.sum().backward()
    return np.array([float(torch.linalg.norm(w.grad)) for w in ws])
