"""Chapter 09's experiments with Swish inside networks: a learnable β, SiLU against its monotone twin, and
where the pre-activations of a trained network fall.

- :data:`SILU_ARGMIN`, :data:`SILU_MIN`: the minimum of :math:`\\mathrm{SiLU}(x) = x\\sigma(x)`, found by
  Newton's method on :math:`1 + x(1 - \\sigma(x)) = 0` (chapter 09 proves it converges);
  :math:`x^* \\approx -1.2785`, :math:`\\mathrm{SiLU}(x^*) = x^* + 1 \\approx -0.2785`.
- :class:`MonotoneSiLU`: :math:`\\mathrm{SiLU}(\\max(x, x^*))`, SiLU with its dip flattened. Since
  :math:`\\mathrm{SiLU}'(x^*) = 0` it is still continuously differentiable, equal to SiLU for :math:`x \\ge x^*`
  and constant below: the smallest change that makes SiLU monotone, for an ablation of "non-monotonic helps".
- :func:`digits_data`, :func:`train_digits`: a seeded MLP on scikit-learn's ``load_digits`` (ships with the
  package, nothing downloaded), full-batch Adam, single-threaded; it records the loss per step, the test
  accuracy and loss, every learnable β per step (of any module with a ``beta`` parameter, e.g.
  :class:`LearnableSwish`), and the hidden pre-activations on the test set.

References: Ramachandran, Zoph & Le, *Searching for Activation Functions*, 2017 (Swish, learnable β);
Elfwing, Uchibe & Doya, 2018 (SiLU).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from actlab.experiments import mlp, single_thread

__all__ = ["silu_argmin", "SILU_ARGMIN", "SILU_MIN", "MonotoneSiLU", "LearnableSwish", "ACTIVATIONS",
           "DigitsData", "digits_data", "DigitsRun", "train_digits"]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def silu_argmin(steps: int = 8) -> float:
    """The minimizer of SiLU by Newton's method on g(x) = 1 + x(1 - σ(x)) from x₀ = 0 (then x₁ = -2)."""
    x = 0.0
    for _ in range(steps):
        s = _sigmoid(x)
        g, dg = 1.0 + x * (1.0 - s), (1.0 - s) * (1.0 - x * s)
        x -= g / dg
    return x


SILU_ARGMIN = silu_argmin()
SILU_MIN = SILU_ARGMIN * _sigmoid(SILU_ARGMIN)


class MonotoneSiLU(nn.Module):
    r"""SiLU with its dip removed: :math:`\mathrm{SiLU}(\max(x, x^*))` with :math:`x^* = ` :data:`SILU_ARGMIN`.

    Non-decreasing, continuously differentiable (the derivative is 0 on both sides of :math:`x^*`), equal to
    SiLU for :math:`x \ge x^*` and to its minimum :data:`SILU_MIN` below.
    """

    def forward(self, x):
        return nn.functional.silu(x.clamp(min=SILU_ARGMIN))


class LearnableSwish(nn.Module):
    r""":math:`x\,\sigma(\beta x)` with a learned :math:`\beta` (one, or one per unit with ``num_parameters``),
    differentiated by autograd. :class:`actlab.modules.Swish` computes the same with a hand-written backward; this
    plain form is several times faster for the small tensors of chapter 09's experiments."""

    def __init__(self, beta: float = 1.0, num_parameters: int = 1):
        super().__init__()
        shape = () if num_parameters == 1 else (num_parameters,)
        self.beta = nn.Parameter(torch.full(shape, float(beta)))

    def forward(self, x):
        return x * torch.sigmoid(self.beta.to(x.dtype) * x)


#: the activations :func:`train_digits` knows by name (factories; "swish_learned" has a learnable scalar β
#: per layer starting at 1, "swish_learned_channel" one β per unit)
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "silu": nn.SiLU, "silu_monotone": MonotoneSiLU, "gelu": nn.GELU, "softplus": nn.Softplus,
    "elu": nn.ELU, "tanh": nn.Tanh,
    "swish_learned": LearnableSwish,
}


@dataclasses.dataclass(frozen=True)
class DigitsData:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def digits_data(seed: int = 0, test_fraction: float = 0.3) -> DigitsData:
    """``load_digits`` split at random (seeded) and standardized with the training statistics, float64."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    idx = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = idx[:n_test], idx[n_test:]
    mu, sd = X[train].mean(0), X[train].std(0)
    sd[sd == 0] = 1.0
    z = lambda a: (a - mu) / sd  # noqa: E731
    return DigitsData(z(X[train]), y[train].astype(np.int64), z(X[test]), y[test].astype(np.int64))


@dataclasses.dataclass
class DigitsRun:
    activation: str
    seed: int
    losses: np.ndarray          # training loss per step
    test_accuracy: float
    test_loss: float
    betas: np.ndarray           # (steps + 1, n_betas): every learnable β, at the start and after each step
    preacts: list               # hidden pre-activations on the test set, one (n_test, width) array per layer
    model: nn.Module


def _factory(activation):
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[activation]
    return activation


def train_digits(activation: str | Callable[[], nn.Module] = "silu", seed: int = 0, hidden=(64, 64),
                 steps: int = 200, lr: float = 3e-3, data: DigitsData | None = None) -> DigitsRun:
    """Full-batch Adam on cross-entropy for an MLP ``64 -> hidden... -> 10`` on :func:`digits_data` (split
    ``seed``), initial weights from ``seed``, one thread."""
    data = digits_data(seed) if data is None else data
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
    with single_thread():
        model = mlp([64, *hidden, 10], _factory(activation), seed)
        betas_of = [m.beta for m in model.modules() if isinstance(getattr(m, "beta", None), nn.Parameter)]
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        X, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
        losses, betas = np.empty(steps), np.empty((steps + 1, sum(b.numel() for b in betas_of)))

        def record(i):
            if betas_of:
                betas[i] = torch.cat([b.detach().reshape(-1) for b in betas_of]).numpy()
        record(0)
        for step in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
            losses[step] = loss.item()
            record(step + 1)
        hidden_linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
        preacts: list = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: preacts.append(out.detach().numpy()))
                 for m in hidden_linears]
        with torch.no_grad():
            logits = model(torch.as_tensor(data.X_test))
        for h in hooks:
            h.remove()
        yt = torch.as_tensor(data.y_test)
        test_loss = nn.functional.cross_entropy(logits, yt).item()
        acc = (logits.argmax(-1) == yt).double().mean().item()
    return DigitsRun(name, seed, losses, acc, test_loss, betas, preacts, model)
