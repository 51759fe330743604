"""How the mean and variance of activations travel through a deep network: the measurement (a deep random MLP,
layer by layer, over seeds) and the theory (the Gaussian moment map whose fixed point defines a
*self-normalizing* activation). Chapter 06 (ELU and SELU) introduces both; chapter 05 uses the measurement for
the Leaky ReLU initialization gain, and chapter 08 reuses it to show that GELU is not self-normalizing.

Setting (Klambauer et al., 2017, Section 3). A layer computes ``z = W h`` and ``h' = f(z)``. If the ``n``
inputs ``h_i`` are independent with mean ``mu`` and variance ``nu``, and the weights of a unit have
``omega = sum_i w_i`` and ``tau = sum_i w_i^2``, then ``z`` is approximately normal with mean ``mu omega`` and
variance ``nu tau`` (central limit theorem), and the unit's output has

.. math:: \\tilde\\mu = \\mathbb{E}[f(z)], \\qquad \\tilde\\nu = \\operatorname{Var}[f(z)],
          \\qquad z \\sim \\mathcal{N}(\\mu\\omega, \\nu\\tau).

:func:`moment_map` computes ``(mu, nu) -> (mu~, nu~)`` by quadrature; :func:`moment_trajectory` iterates it.
An activation is self-normalizing when ``(0, 1)`` is an attracting fixed point for ``omega = 0, tau = 1``
(SELU with ``alpha = 1.6733, lambda = 1.0507``).

:func:`layer_statistics` measures the same thing in a real network: Gaussian inputs, ``depth`` layers of
``width`` units with ``N(0, gain^2 / fan_in)`` weights and no biases, the mean and variance of every layer's
outputs (over all units and inputs), for several seeds.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import torch

from actlab.experiments import _activation, single_thread

__all__ = ["GAINS", "init_gain", "LayerStats", "layer_statistics", "gaussian_expectation", "moment_map",
           "moment_trajectory", "random_layer_map"]

#: Weight-scale rules by name: weights N(0, gain^2 / fan_in) (square layers, so Xavier's 2/(fan_in + fan_out)
#: is the same as LeCun's 1/fan_in).
GAINS = {"lecun": 1.0, "xavier": 1.0, "kaiming": math.sqrt(2.0)}


def init_gain(init: str | float) -> float:
    """The gain of an initialization: a number, or a name of :data:`GAINS`."""
    if isinstance(init, str):
        try:
            return GAINS[init]
        except KeyError:
            raise ValueError(f"unknown init {init!r}; known: {sorted(GAINS)} or a number (the gain)") from None
    gain = float(init)
    if not gain > 0:
        raise ValueError(f"the gain must be positive, got {init!r}")
    return gain


@dataclasses.dataclass
class LayerStats:
    """Statistics of a deep random MLP, each an array ``(depth, seeds)`` (layer 1 first): the mean and
    variance of the outputs ``h_l = f(z_l)`` and of the pre-activations ``z_l``, over all units and inputs."""
    activation: str
    gain: float
    mean: np.ndarray
    var: np.ndarray
    pre_mean: np.ndarray
    pre_var: np.ndarray

    @property
    def layers(self) -> np.ndarray:
        """Layer numbers 1..depth (the x axis of a plot)."""
        return np.arange(1, self.mean.shape[0] + 1)


def layer_statistics(activation: str | Callable, depth: int = 32, width: int = 256, init: str | float = "lecun",
                     seeds: Sequence[int] = (0, 1, 2), n_samples: int = 512, input_mean: float = 0.0,
                     input_std: float = 1.0, dtype: torch.dtype = torch.float64) -> LayerStats:
    """Push ``n_samples`` Gaussian inputs through ``depth`` random layers and measure every layer.

    Args:
        activation: a name of :data:`actlab.experiments.ACTIVATIONS` (``"relu"``, ``"elu"``, ``"selu"``,
            ``"gelu"``, ...), an ``nn.Module`` class (built without arguments) or instance (e.g.
            ``nn.LeakyReLU(0.5)``), or an elementwise function of a tensor.
        depth, width: the number of layers and their width (every layer ``width -> width``).
        init: the weights are ``N(0, gain^2 / width)``; ``init`` is the gain or a name of :data:`GAINS`
            (``"lecun"`` 1, ``"kaiming"`` sqrt 2).
        seeds: one network (weights and inputs) per seed.
        n_samples: inputs per network; entries ``N(input_mean, input_std^2)``.
    Returns:
        :class:`LayerStats`.
    """
    if depth < 1 or width < 1 or n_samples < 2:
        raise ValueError("depth and width must be >= 1 and n_samples >= 2")
    gain = init_gain(init)
    if isinstance(activation, str) or isinstance(activation, type):
        act, name = _activation(activation)(), activation if isinstance(activation, str) else activation.__name__
    elif callable(activation):
        act, name = activation, getattr(activation, "__name__", type(activation).__name__)
    else:
        raise TypeError(f"activation must be a name, a module class or instance, or a function; got {activation!r}")
    out = {k: np.empty((depth, len(seeds))) for k in ("mean", "var", "pre_mean", "pre_var")}
    with torch.no_grad(), single_thread():
        for j, seed in enumerate(seeds):
            g = torch.Generator().manual_seed(int(seed))
            h = input_mean + input_std * torch.randn(n_samples, width, generator=g, dtype=dtype)
            for layer in range(depth):
                W = torch.randn(width, width, generator=g, dtype=dtype) * (gain / math.sqrt(width))
                z = h @ W
                h = act(z)
                out["pre_mean"][layer, j], out["pre_var"][layer, j] = z.mean().item(), z.var().item()
                out["mean"][layer, j], out["var"][layer, j] = h.mean().item(), h.var().item()
    return LayerStats(name, gain, **out)


def gaussian_expectation(g: Callable[[np.ndarray], np.ndarray], mean: float = 0.0, var: float = 1.0) -> float:
    """``E[g(z)]`` for ``z ~ N(mean, var)``, by adaptive quadrature on each side of 0 (where the activations of
    this book have their kink). ``var = 0`` gives ``g(mean)``."""
    from scipy.integrate import quad

    if var < 0:
        raise ValueError(f"the variance must be >= 0, got {var}")
    if var == 0:
        return float(g(np.asarray(mean, dtype=np.float64)))
    s = math.sqrt(var)

    def integrand(z):
        weight = math.exp(-0.5 * ((z - mean) / s) ** 2)
        return 0.0 if weight == 0.0 else float(g(np.asarray(z, dtype=np.float64))) * weight

    left, _ = quad(integrand, -math.inf, 0.0, epsabs=1e-13, epsrel=1e-12, limit=200)
    right, _ = quad(integrand, 0.0, math.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
    return (left + right) / (s * math.sqrt(2.0 * math.pi))


def moment_map(f: Callable[[np.ndarray], np.ndarray], mu: float, nu: float, omega: float = 0.0,
               tau: float = 1.0) -> tuple[float, float]:
    """The mean and variance ``(mu~, nu~)`` of ``f(z)`` for ``z ~ N(mu omega, nu tau)``: one layer of the
    moment map of Klambauer et al. (2017), for inputs with mean ``mu`` and variance ``nu`` and weights with
    ``sum w = omega``, ``sum w^2 = tau``. ``f`` is a numpy function."""
    m, v = mu * omega, nu * tau
    mean = gaussian_expectation(f, m, v)
    second = gaussian_expectation(lambda z: np.asarray(f(z), dtype=np.float64) ** 2, m, v)
    return mean, max(second - mean ** 2, 0.0)


def moment_trajectory(f: Callable[[np.ndarray], np.ndarray], mu0: float, nu0: float, steps: int = 10,
                      omega: float = 0.0, tau: float = 1.0) -> np.ndarray:
    """``steps`` iterations of :func:`moment_map` from ``(mu0, nu0)``: an array ``(steps + 1, 2)`` of
    ``(mu, nu)``, the start first."""
    out = [(float(mu0), float(nu0))]
    for _ in range(steps):
        out.append(moment_map(f, *out[-1], omega=omega, tau=tau))
    return np.array(out)


def random_layer_map(f: Callable[[np.ndarray], np.ndarray], mu: float, nu: float,
                     gain: float = 1.0) -> tuple[float, float]:
    """The moment map of a layer with random weights ``N(0, gain^2 / fan_in)`` (what :func:`layer_statistics`
    measures): over the units, ``omega = sum w`` is itself random, so the pre-activations are
    ``N(0, gain^2 (nu + mu^2))`` and the outputs have mean and variance :func:`moment_map` of that. At a fixed
    point with ``mu = 0`` this agrees with the normalized-weights map (``omega = 0``, ``tau = gain^2``)."""
    return moment_map(f, 0.0, nu + mu * mu, omega=0.0, tau=gain * gain)
