"""Dead ReLU units over a data set, and a shifted ReLU (chapter 04).

A ReLU unit is **dead over a data set** when its pre-activation is ``<= 0`` on every example: its output is 0
and its derivative (0 for z <= 0, PyTorch's convention at 0) is 0 everywhere, so no example sends a gradient to
its incoming weights (Lu et al., *Dying ReLU and Initialization*, 2020). :mod:`actlab.gradflow` (chapter 01)
measures the same thing for one batch of a float64 network at initialization, together with saturation and
gradient norms; the functions here work on any MLP (float32 digits networks during training included) and on
all of a data set.

``z`` arrays are ``(n_samples, n_units)``; :func:`actlab.digits.hidden_layers` gives them per layer.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["dead_mask", "dead_fractions", "ShiftedReLU"]


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


class ShiftedReLU(nn.Module):
    """``relu(x) - shift``: a ReLU moved down by a constant, e.g. to centre its outputs on 0 (chapter 04's
    bias-shift experiment: the shape, and so the gradient, of ReLU, with outputs of mean about 0)."""

    def __init__(self, shift: float = 0.5):
        super().__init__()
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) - self.shift

    def extra_repr(self) -> str:
        return f"shift={self.shift:g}"
