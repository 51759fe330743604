"""Zero-centred activations and the speed of gradient descent (chapter 02's "bias shift" claim; reused by 03).

Why centring matters (LeCun et al. 1998, *Efficient BackProp*, sections 4.3 and 5): for a linear unit
``z = w^T x`` trained on the squared error, the Hessian is ``H = E[x x^T] = Sigma + mu mu^T``. Inputs that are
all positive (the outputs of a sigmoid layer, mean ``mu ~ 0.5``) add the rank-one term ``mu mu^T``, whose
eigenvalue ``~ |mu|^2`` can dwarf the others: gradient descent must take steps small enough for that
direction (``lr < 2 / lambda_max``) and then crawls along the others, zig-zagging. Per sample, the gradient
``(z - t) x`` is a multiple of ``x``, so all its components share one sign.

- :func:`sigmoid_inputs`: inputs ``sigma(u)``, ``u ~ N(0, I)`` (all positive) or their centred version;
- :func:`gd_path`: gradient descent on that quadratic, the path of ``w`` and the loss;
- :class:`CenteredSigmoid`: ``sigma(x) - 1/2 = tanh(x/2) / 2``, the sigmoid moved to zero mean (same slope);
- :func:`train_full_batch`, :func:`lr_sweep`: an MLP trained by plain gradient descent, over learning rates
  and seeds, to compare an activation with its centred version.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from actlab import numpy_ref
from actlab.experiments import mlp, single_thread

__all__ = ["sigmoid_inputs", "GDPath", "gd_path", "CenteredSigmoid", "train_full_batch", "lr_sweep"]


def sigmoid_inputs(n: int = 200, dim: int = 2, centered: bool = False, seed: int = 0) -> np.ndarray:
    """``n`` inputs ``x = sigma(u)`` with ``u ~ N(0, I_dim)``: all entries in (0, 1), mean about 1/2. With
    ``centered`` the sample mean is subtracted (zero mean, the same spread)."""
    u = np.random.default_rng(seed).standard_normal((n, dim))
    x = numpy_ref.sigmoid(u)
    return x - x.mean(0) if centered else x


@dataclasses.dataclass
class GDPath:
    """Gradient descent on ``L(w) = ||X w - X w_star||^2 / (2n)``: the iterates, the losses, the Hessian."""
    path: np.ndarray        # (steps + 1, dim)
    loss: np.ndarray        # (steps + 1,)
    hessian: np.ndarray     # X^T X / n
    lr: float

    @property
    def condition(self) -> float:
        """``lambda_max / lambda_min`` of the Hessian."""
        ev = np.linalg.eigvalsh(self.hessian)
        return float(ev[-1] / ev[0])

    def steps_to(self, tol: float, w_star: np.ndarray) -> int:
        """The first step at which ``||w - w_star|| <= tol`` (``len(path)`` if never)."""
        hit = np.nonzero(np.linalg.norm(self.path - np.asarray(w_star), axis=1) <= tol)[0]
        return int(hit[0]) if hit.size else len(self.path)


def gd_path(X: np.ndarray, w_star: Sequence[float], w0: Sequence[float] | None = None, lr: float | None = None,
            steps: int = 100, stochastic: bool = False, seed: int = 0) -> GDPath:
    """Gradient descent for a linear unit ``z = w^T x`` fitted to the targets ``t = w_star^T x``.

    Full batch by default, with ``lr = 1 / lambda_max`` of the Hessian unless given; ``stochastic``: one
    sample per step (in a seeded random order), where every update ``-lr (z - t) x`` is a multiple of ``x``."""
    X = np.asarray(X, dtype=np.float64)
    w_star = np.asarray(w_star, dtype=np.float64)
    H = X.T @ X / len(X)
    lr = float(1.0 / np.linalg.eigvalsh(H)[-1]) if lr is None else float(lr)
    w = np.zeros_like(w_star) if w0 is None else np.asarray(w0, dtype=np.float64).copy()
    order = np.random.default_rng(seed).integers(0, len(X), size=steps)
    path, loss = [w.copy()], []

    def value(v):
        r = X @ (v - w_star)
        return 0.5 * float(r @ r) / len(X)

    loss.append(value(w))
    for k in range(steps):
        if stochastic:
            x = X[order[k]]
            w -= lr * (x @ (w - w_star)) * x
        else:
            w -= lr * (H @ (w - w_star))
        path.append(w.copy())
        loss.append(value(w))
    return GDPath(np.array(path), np.array(loss), H, lr)


class CenteredSigmoid(nn.Module):
    """``sigma(x) - 1/2``: the sigmoid shifted to zero mean at ``x = 0``; the same derivative as the
    sigmoid, so a network with it differs from a sigmoid network only in the centring of its activations
    (the next layer's bias can absorb the shift, so both compute the same family of functions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) - 0.5


def train_full_batch(X: np.ndarray, y: np.ndarray, activation: str | Callable = "sigmoid",
                     hidden: Sequence[int] = (32, 32), lr: float = 1.0, steps: int = 100,
                     seed: int = 0) -> np.ndarray:
    """Plain gradient descent (full batch, no momentum) on cross-entropy for ``experiments.mlp`` (PyTorch's
    default initialization, float64, seeded); returns the loss per step (``inf`` from the step it diverges)."""
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    model = mlp([X.shape[1], *hidden, int(np.max(y)) + 1], activation, seed)
    losses = np.full(steps, np.inf)
    with single_thread():
        for step in range(steps):
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt), yt)
            if not torch.isfinite(loss):
                break
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            losses[step] = loss.item()
    return losses


def lr_sweep(X: np.ndarray, y: np.ndarray, activations: dict, lrs: Sequence[float], seeds: Sequence[int] = (0, 1, 2),
             **kwargs) -> dict[str, np.ndarray]:
    """:func:`train_full_batch` for every activation (``{label: name or module factory}``), learning rate
    and seed: ``{label: losses of shape (len(lrs), len(seeds), steps)}``."""
    return {label: np.array([[train_full_batch(X, y, act, lr=lr, seed=s, **kwargs) for s in seeds] for lr in lrs])
            for label, act in activations.items()}
