"""Every activation of the book on one task (the capstone): accuracy, training time, dead and saturated units,
and gradient flow, over several seeds.

The task: ``load_digits`` (:func:`actlab.digits.load`), an MLP ``64 -> 64 x depth -> 10`` trained by minibatch
Adam (:func:`actlab.digits.train`). Activations: the elementwise ones of :data:`ELEMENTWISE` and ``"geglu"``, a
gated network whose hidden layers are ``LayerNorm(GeGLU(Linear(n, 2h)))`` with ``h = 43`` (about 2/3 of 64, so that it has
about as many parameters as the plain network).

Measured per (activation, seed) by :func:`run_one`:

- test accuracy and training seconds (one thread);
- at initialization, on one batch, the weight-gradient norm of every linear layer
  (:func:`layer_gradient_norms`): how much gradient reaches the first layer;
- after training, over the test set, with :func:`actlab.gradflow.slope` and :func:`actlab.gradflow.max_slope`:
  the fraction of (input, unit) pairs whose slope is below 1 % of the activation's largest slope (saturated)
  and the fraction of units that are so on every input (dead); ``nan`` for the gated network, whose units
  have two inputs.

``benchmarks/capstone_activations.py`` runs it at full size and writes the results file the capstone loads.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn

from actlab import digits, gradflow
from actlab.experiments import single_thread
from actlab.modules import GeGLU

__all__ = ["ELEMENTWISE", "ACTIVATIONS", "gated_network", "network", "layer_gradient_norms", "unit_stats",
           "run_one", "Result"]

ELEMENTWISE = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu")
ACTIVATIONS = ELEMENTWISE + ("geglu",)
GATED_WIDTH = 43


def gated_network(depth: int, width: int = GATED_WIDTH, seed: int = 0) -> nn.Sequential:
    """``Linear(64, 2w), GeGLU, LayerNorm(w), Linear(w, 2w), ..., Linear(w, 10)`` in float32 (``depth`` hidden
    layers). The product of two projections is quadratic in the input: without a normalization (which every
    Transformer block has) this stack vanishes at PyTorch's default initialization and explodes at a slightly
    larger one on the standardized digits, so each gated layer is followed by a LayerNorm."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    n = 64
    for _ in range(depth):
        layers += [nn.Linear(n, 2 * width), GeGLU(), nn.LayerNorm(width)]
        n = width
    layers.append(nn.Linear(n, 10))
    return nn.Sequential(*layers).to(torch.float32)


def network(activation: str, depth: int, seed: int) -> nn.Sequential:
    """The plain MLP of :func:`actlab.digits.network` (width 64) or, for ``"geglu"``, :func:`gated_network`."""
    if activation == "geglu":
        return gated_network(depth, seed=seed)
    return digits.network((64,) * depth, activation, seed=seed)


def layer_gradient_norms(model: nn.Sequential, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``||dLoss/dW_l||_F`` of every ``nn.Linear`` on one batch (cross-entropy), first layer first."""
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(torch.as_tensor(X)), torch.as_tensor(y, dtype=torch.int64))
    loss.backward()
    out = np.array([m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)])
    model.zero_grad()
    return out


def unit_stats(model: nn.Sequential, X: np.ndarray, eps: float = 0.01) -> tuple[float, float]:
    """(saturated fraction of (input, unit) pairs, dead fraction of units) over ``X``, all hidden layers
    together; ``nan`` for gated layers."""
    acts = [m for m in model if not isinstance(m, nn.Linear)]
    if any(isinstance(a, (GeGLU, nn.LayerNorm)) for a in acts):
        return float("nan"), float("nan")
    zs: list[torch.Tensor] = []
    hooks = [a.register_forward_pre_hook(lambda mod, inp: zs.append(inp[0].detach())) for a in acts]
    try:
        with torch.no_grad():
            model(torch.as_tensor(X))
    finally:
        for h in hooks:
            h.remove()
    sat, dead, units = 0.0, 0.0, 0
    for a, z in zip(acts, zs):
        s = gradflow.slope(a, z).abs() < eps * gradflow.max_slope(a)
        sat += s.double().mean().item() * z.shape[1]
        dead += s.all(dim=0).double().sum().item()
        units += z.shape[1]
    return sat / units, dead / units


@dataclasses.dataclass
class Result:
    activation: str
    seed: int
    accuracy: float
    seconds: float
    saturated: float
    dead: float
    grad_norms: list      # at initialization, per linear layer
    parameters: int


def run_one(activation: str, seed: int, depth: int = 4, epochs: int = 20, lr: float = 1e-3,
            data: digits.Digits | None = None) -> Result:
    """Train one network and measure it (see the module docstring)."""
    data = digits.load(seed=0) if data is None else data
    model = network(activation, depth, seed)
    with single_thread():
        g0 = layer_gradient_norms(model, data.X_train[:256], data.y_train[:256])
        t = time.perf_counter()
        run = digits.train(data, model=model, optimizer="adam", lr=lr, epochs=epochs, seed=seed)
        seconds = time.perf_counter() - t
        sat, dead = unit_stats(run.model, data.X_test)
    return Result(activation, seed, float(run.test_accuracy), seconds, sat, dead, g0.tolist(),
                  sum(p.numel() for p in model.parameters()))


def run_all(activations: Sequence[str] = ACTIVATIONS, seeds: Sequence[int] = (0, 1, 2, 3, 4), **kw) -> list:
    """:func:`run_one` for every activation and seed (the data split is the same for all)."""
    data = digits.load(seed=0)
    return [run_one(a, s, data=data, **kw) for a in activations for s in seeds]
