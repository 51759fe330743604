"""Dead and saturated units: the two ways a hidden unit stops passing gradient (chapters 03 and 04).

- A ReLU unit is **dead over a data set** when its pre-activation is ``<= 0`` on every example: its output
  is 0 and its derivative (0 for z <= 0, PyTorch's convention at 0) is 0 everywhere, so no example sends a
  gradient to its incoming weights (Lu et al., *Dying ReLU and Initialization*, 2020).
- A sigmoid or tanh unit is **saturated on an example** when its derivative there is below ``level`` times
  the activation's largest derivative (``f'(z) < level · f'(0)``), i.e. ``|z|`` beyond
  :func:`saturation_threshold`; with ``level = 0.1`` that is |z| > 1.818 for tanh, |z| > 3.636 for sigmoid.

``z`` arrays are ``(n_samples, n_units)``; :func:`actlab.digits.hidden_layers` gives them per layer.
"""
from __future__ import annotations

import math
import numpy as np
import torch
from torch import nn

__all__ = ["dead_mask", "dead_fractions", "saturation_threshold", "saturated_fraction", "layer_grad_norms"]


def dead_mask(z: np.ndarray) -> np.ndarray:
    """``True`` for the units (columns of ``z``, shape ``(n_samples, n_units)``) whose pre-activation is
    ``<= 0`` on every sample."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"z must be (n_samples >= 1, n_units); got shape {z.shape}")
    return np.all(z <= 0, axis=0)


def dead_fractions(model: nn.Sequential, X: np.ndarray) -> list[float]:
    """The fraction of dead units (over the rows of ``X``) in every hidden layer of an MLP."""
    from actlab.digits import hidden_layers
    return [float(dead_mask(z).mean()) for z, _ in hidden_layers(model, X)]


def saturation_threshold(activation: str, level: float = 0.1) -> float:
    """The |z| beyond which ``f'(z) < level · f'(0)``: for tanh, 1 − tanh² z = level, so
    z = artanh √(1 − level); for the sigmoid, σ'(z) = level/4, so z = 2 artanh √(1 − level) (σ'(z) =
    tanh'(z/2)/4)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t = math.atanh(math.sqrt(1.0 - level))
    if activation == "tanh":
        return t
    if activation == "sigmoid":
        return 2.0 * t
    raise ValueError(f"saturation is defined here for 'tanh' and 'sigmoid', got {activation!r}")


def saturated_fraction(activation: str, z: np.ndarray, level: float = 0.1) -> float:
    """The fraction of the entries of ``z`` (pre-activations) where the unit is saturated:
    ``|z| > saturation_threshold(activation, level)``."""
    return float(np.mean(np.abs(np.asarray(z)) > saturation_threshold(activation, level)))


def layer_grad_norms(model: nn.Sequential, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The Frobenius norm of the cross-entropy gradient with respect to the weight matrix of every
    ``nn.Linear``, first layer first, on the batch ``(X, y)``. (Chapter 01 studies these in depth.)"""
    dtype = next(model.parameters()).dtype
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(torch.as_tensor(np.asarray(X), dtype=dtype)),
                                       torch.as_tensor(np.asarray(y)))
    loss.backward()
    norms = [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]
    model.zero_grad()
    return np.array(norms)

