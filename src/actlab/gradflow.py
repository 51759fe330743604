"""Gradient flow through deep networks: per-layer gradient norms, saturated and dead units, initialization
schemes, and the manual backpropagation of chapter 01 (reused by chapters 02, 04, 06 and the capstone).

Notation (chapter 01): a network with layers ``l = 1..L`` computes ``z_l = W_l h_{l-1} + b_l`` and
``h_l = f(z_l)`` (the last layer may have no activation); backpropagation carries ``delta_l = dL/dz_l``
downwards by

.. math:: \\delta_l = f'(z_l) \\odot (W_{l+1}^\\top \\delta_{l+1}), \\qquad
          \\frac{\\partial L}{\\partial W_l} = \\delta_l\\, h_{l-1}^\\top,

so the gradient that reaches layer ``l`` is a product of the Jacobians ``W_k^T diag(f'(z_k))`` of the layers
above it (Glorot & Bengio 2010; Hochreiter 1991).

Two halves:

- **torch** (experiments): :func:`deep_mlp` builds an MLP with a chosen :func:`init_std` scheme
  (``"naive"`` N(0, 1), ``"xavier"``, ``"kaiming"``, or ``"scaled"`` gain/sqrt(fan_in) for sweeps);
  :func:`gradient_flow` measures one batch at initialization (weight-gradient norms, ``delta`` norms,
  saturation and dead-unit fractions, activation statistics); :func:`flow_over_seeds` repeats it over seeds
  and returns arrays shaped ``(layers, seeds)`` for :func:`actlab.plotting.plot_sweep`.
- **numpy** (the references of chapter 01's exercises): :func:`dense_backward`, :func:`backprop_grad_norms`,
  :func:`saturation_per_layer`, :func:`jacobian_and_bound`, written with the stable activations of
  :mod:`actlab.numpy_ref`.

A unit is *saturated* on an input when its slope is below ``eps`` (default 0.01) times the activation's
largest slope: ``f'(z) < eps * max f'``. For sigmoid that is ``|z| > 5.99``, for tanh ``|z| > 2.99``, for
ReLU ``z <= 0``. A unit saturated on every input of the batch is *dead* for that batch.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from actlab import numpy_ref
from actlab.experiments import _activation, single_thread

__all__ = ["INITS", "SATURATION_EPS", "init_std", "deep_mlp", "slope", "max_slope", "GradFlow", "gradient_flow",
           "Flows", "flow_over_seeds", "saturate", "train_sgd", "digits", "NUMPY_ACTIVATIONS", "dense_backward",
           "forward_cache", "backprop_grad_norms", "saturation_per_layer", "jacobian_and_bound"]

INITS = ("naive", "xavier", "kaiming")
SATURATION_EPS = 0.01


# --------------------------------------------------------------------------- initialization
def init_std(scheme: str, fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """The standard deviation of the N(0, std^2) weights of a layer ``fan_in -> fan_out``.

    - ``"naive"``: ``gain`` (1 by default: standard normal weights, the scale-blind choice);
    - ``"xavier"``: ``gain * sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio 2010, for tanh/sigmoid);
    - ``"kaiming"``: ``gain * sqrt(2 / fan_in)`` (He et al. 2015, for ReLU);
    - ``"scaled"``: ``gain / sqrt(fan_in)`` (a sweep over the gain; Xavier is gain 1 for equal widths,
      Kaiming gain sqrt(2)).
    """
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fan_in and fan_out must be positive, got {fan_in}, {fan_out}")
    if scheme == "naive":
        return float(gain)
    if scheme == "xavier":
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return gain * math.sqrt(2.0 / fan_in)
    if scheme == "scaled":
        return gain / math.sqrt(fan_in)
    raise ValueError(f"unknown init scheme {scheme!r}; known: {INITS + ('scaled',)}")


def deep_mlp(n_in: int, width: int, depth: int, n_out: int, activation: str | Callable = "tanh",
             init: str = "xavier", gain: float = 1.0, seed: int = 0) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear output layer, float64.

    Weights are N(0, std^2) with ``std = init_std(init, fan_in, fan_out, gain)``, biases 0, drawn after
    ``torch.manual_seed(seed)``. ``activation`` is a name of :data:`actlab.experiments.ACTIVATIONS` or a
    module factory."""
    if depth < 1:
        raise ValueError(f"depth (the number of hidden layers) must be >= 1, got {depth}")
    make = _activation(activation)
    torch.manual_seed(seed)
    sizes = [n_in] + [width] * depth + [n_out]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.normal_(0.0, init_std(init, a, b, gain))
            lin.bias.zero_()
        layers.append(lin)
        if i < depth:
            layers.append(make())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- slopes and saturation
def slope(act: nn.Module | Callable, z: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative ``f'(z)`` of an elementwise activation, by autograd (float64)."""
    z = z.detach().to(torch.float64).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(act(z).sum(), z)
    return g


_MAX_SLOPES: dict[str, float] = {}


def max_slope(act: nn.Module | Callable) -> float:
    """``max |f'(z)|`` over ``z`` in [-20, 20] (1/4 for sigmoid, 1 for tanh and ReLU); cached per module
    type and parameters (``extra_repr``) for modules."""
    key = (f"{type(act).__module__}.{type(act).__qualname__}({act.extra_repr()})"
           if isinstance(act, nn.Module) and not list(act.parameters()) else None)
    if key in _MAX_SLOPES:
        return _MAX_SLOPES[key]
    grid = torch.linspace(-20.0, 20.0, 40001, dtype=torch.float64)
    value = float(slope(act, grid).abs().max())
    if key is not None:
        _MAX_SLOPES[key] = value
    return value


# --------------------------------------------------------------------------- one measurement
@dataclasses.dataclass
class GradFlow:
    """What one batch at initialization shows, layer by layer (``L`` linear layers, ``L - 1`` hidden)."""
    weight_grad: np.ndarray   # (L,)   ||dLoss/dW_l||_F
    delta: np.ndarray         # (L-1,) ||dLoss/dz_l||_F of the hidden pre-activations
    saturation: np.ndarray    # (L-1,) fraction of (input, unit) pairs with f'(z) < eps max f'
    dead: np.ndarray          # (L-1,) fraction of units saturated on every input of the batch
    act_mean: np.ndarray      # (L-1,) mean of h_l = f(z_l)
    act_std: np.ndarray       # (L-1,) standard deviation of h_l
    loss: float

    def ratio(self) -> float:
        """``||dL/dW_1|| / ||dL/dW_L||``: how much of the weight gradient reaches the first layer."""
        return float(self.weight_grad[0] / self.weight_grad[-1])

    def delta_ratio(self) -> float:
        """``||dL/dz_1|| / ||dL/dz_{L-1}||``: how much of the backpropagated gradient survives the hidden
        layers (the product of Theorem 01.1, without the layer inputs ``h_{l-1}`` that the weight gradients
        also contain)."""
        return float(self.delta[0] / self.delta[-1])


def gradient_flow(model: nn.Sequential, X: np.ndarray, y: np.ndarray, eps: float = SATURATION_EPS,
                  loss: str = "cross_entropy") -> GradFlow:
    """Run one batch through ``model`` (an ``nn.Sequential`` of ``Linear`` layers with activation modules
    between them) and measure the gradient flow. ``loss``: ``"cross_entropy"`` (``y`` integer classes) or
    ``"mse"`` (``y`` targets)."""
    acts = [m for m in model if not isinstance(m, nn.Linear)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    zs: list[torch.Tensor] = []
    hooks = [a.register_forward_pre_hook(lambda mod, inp: zs.append(inp[0])) for a in acts]
    try:
        with single_thread():
            model.zero_grad()
            Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
            out = model(Xt)
            for h in hooks:
                h.remove()
            for z in zs:
                z.retain_grad()
            if loss == "cross_entropy":
                value = nn.functional.cross_entropy(out, torch.as_tensor(np.asarray(y), dtype=torch.int64))
            elif loss == "mse":
                value = nn.functional.mse_loss(out, torch.as_tensor(np.asarray(y), dtype=torch.float64))
            else:
                raise ValueError(f"loss must be 'cross_entropy' or 'mse', got {loss!r}")
            value.backward()
            sat, dead, mean, std = [], [], [], []
            for a, z in zip(acts, zs):
                s = slope(a, z).abs() < eps * max_slope(a)
                sat.append(s.double().mean().item())
                dead.append(s.all(dim=0).double().mean().item())
                h = a(z.detach())
                mean.append(h.mean().item())
                std.append(h.std().item())
    finally:
        for h in hooks:
            h.remove()
    return GradFlow(np.array([lin.weight.grad.norm().item() for lin in linears]),
                    np.array([z.grad.norm().item() for z in zs]), np.array(sat), np.array(dead),
                    np.array(mean), np.array(std), float(value.item()))


@dataclasses.dataclass
class Flows:
    """:class:`GradFlow` fields over seeds, each an array shaped ``(layers, seeds)`` (``loss``: ``(seeds,)``)."""
    weight_grad: np.ndarray
    delta: np.ndarray
    saturation: np.ndarray
    dead: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray
    loss: np.ndarray

    @classmethod
    def stack(cls, flows: Sequence[GradFlow]) -> "Flows":
        fields = [f.name for f in dataclasses.fields(GradFlow)]
        return cls(**{k: np.stack([getattr(f, k) for f in flows], axis=-1) for k in fields})

    def ratio(self) -> np.ndarray:
        """``||dL/dW_1|| / ||dL/dW_L||`` per seed: how much of the weight gradient reaches the first layer."""
        return self.weight_grad[0] / self.weight_grad[-1]

    def delta_ratio(self) -> np.ndarray:
        """``||dL/dz_1|| / ||dL/dz_{L-1}||`` per seed (see :meth:`GradFlow.delta_ratio`)."""
        return self.delta[0] / self.delta[-1]


def flow_over_seeds(X: np.ndarray, y: np.ndarray, activation: str | Callable = "tanh", init: str = "xavier",
                    depth: int = 15, width: int = 64, gain: float = 1.0, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                    eps: float = SATURATION_EPS) -> Flows:
    """:func:`gradient_flow` of :func:`deep_mlp` (``n_out`` = the number of classes in ``y``) for each seed."""
    n_out = int(np.max(y)) + 1
    return Flows.stack([gradient_flow(deep_mlp(X.shape[1], width, depth, n_out, activation, init, gain, seed=s),
                                      X, y, eps) for s in seeds])


def saturate(model: nn.Sequential, fraction: float, layers: Sequence[int] | None = None, bias: float = 6.0,
             seed: int = 0) -> dict[int, np.ndarray]:
    """Push a random ``fraction`` of the units of some hidden layers into saturation by setting their biases
    to ``+bias`` or ``-bias`` (random signs); ``layers`` are 0-based indices among the hidden layers
    (default: all). Returns ``{layer index: boolean mask of the saturated units}``. With ``bias = 6`` a
    tanh unit has ``f'(z) ~ 2.5e-5`` for inputs with ``|W h| << 6``, a sigmoid unit ``~2.5e-3``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    linears = [m for m in model if isinstance(m, nn.Linear)][:-1]
    rng = np.random.default_rng(seed)
    masks = {}
    for k in range(len(linears)) if layers is None else layers:
        lin = linears[k]
        mask = rng.random(lin.out_features) < fraction
        signs = rng.choice([-1.0, 1.0], size=int(mask.sum()))
        with torch.no_grad():
            lin.bias[torch.as_tensor(mask)] = torch.as_tensor(bias * signs, dtype=lin.bias.dtype)
        masks[k] = mask
    return masks


def train_sgd(model: nn.Sequential, X: np.ndarray, y: np.ndarray, steps: int = 150,
              lr: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch gradient descent (plain SGD, no momentum) on cross-entropy. Returns the loss per step and,
    per ``Linear`` layer, the relative change of its weights ``||W_T - W_0||_F / ||W_0||_F``: how much
    each layer learned."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    W0 = [lin.weight.detach().clone() for lin in linears]
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    losses = np.empty(steps)
    with single_thread():
        for step in range(steps):
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt), yt)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            losses[step] = loss.item()
    change = [((lin.weight.detach() - w0).norm() / w0.norm()).item() for lin, w0 in zip(linears, W0)]
    return losses, np.array(change)


def digits(n: int | None = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with the package), each pixel
    standardized over the data set (constant pixels left at 0); ``n`` images drawn without replacement
    (``None``: all), labels 0-9 as int64."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    sd = X.std(0)
    X = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    if n is not None:
        idx = np.random.default_rng(seed).choice(len(X), size=min(n, len(X)), replace=False)
        X, y = X[idx], y[idx]
    return X.astype(np.float64), y.astype(np.int64)


# --------------------------------------------------------------------------- numpy references (chapter 01)
def _relu_grad(z):
    return (z > 0).astype(z.dtype)


#: name -> (f, f', max f') in numpy, the stable forms of actlab.numpy_ref
NUMPY_ACTIVATIONS: dict[str, tuple[Callable, Callable, float]] = {
    "sigmoid": (numpy_ref.sigmoid, numpy_ref.sigmoid_grad, 0.25),
    "tanh": (numpy_ref.tanh, numpy_ref.tanh_grad, 1.0),
    "relu": (numpy_ref.relu, _relu_grad, 1.0),
}


def _act(name: str):
    try:
        return NUMPY_ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(NUMPY_ACTIVATIONS)}") from None


def dense_backward(x: np.ndarray, W: np.ndarray, b: np.ndarray, grad_out: np.ndarray,
                   activation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward pass of one dense layer ``h = f(x W^T + b)`` on a batch ``x`` of shape ``(n, n_in)``:

    .. math:: \\delta = g \\odot f'(z),\\quad \\frac{\\partial L}{\\partial x} = \\delta W,\\quad
              \\frac{\\partial L}{\\partial W} = \\delta^\\top x,\\quad \\frac{\\partial L}{\\partial b} =
              \\textstyle\\sum_i \\delta_i

    with ``g = grad_out = dL/dh`` of shape ``(n, n_out)``. Returns ``(grad_x, grad_W, grad_b)`` in the
    input's dtype. Reference for exercise ``ex1-dense-backward``."""
    _, df, _ = _act(activation)
    z = x @ W.T + b
    delta = grad_out * df(z)
    return delta @ W, delta.T @ x, delta.sum(axis=0)


def forward_cache(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray,
                  activation: str, last: bool = False) -> tuple[list, list]:
    """``(zs, hs)``: the pre-activations ``z_1..z_L`` and the layer inputs ``h_0 = x, ..., h_{L-1}`` (and
    ``h_L`` when ``last``: the activation is applied after the last layer too; else the output is ``z_L``)."""
    f, _, _ = _act(activation)
    zs, hs = [], [x]
    for i, (W, b) in enumerate(layers):
        z = hs[-1] @ W.T + b
        zs.append(z)
        if i < len(layers) - 1 or last:
            hs.append(f(z))
    return zs, hs


def backprop_grad_norms(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray, y: np.ndarray,
                        activation: str) -> np.ndarray:
    """``||dL/dW_l||_F`` for ``l = 1..L`` by manual backpropagation, for the network ``z_l = h_{l-1} W_l^T +
    b_l``, ``h_l = f(z_l)`` on the hidden layers, a linear output ``z_L`` and the loss
    ``L = ||z_L - y||^2 / (2 n)`` on a batch ``x`` of ``n`` rows. float64. Reference for ``ex2-grad-norms``."""
    layers = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in layers]
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    _, df, _ = _act(activation)
    zs, hs = forward_cache(layers, x, activation)
    delta = (zs[-1] - y) / x.shape[0]
    norms = np.empty(len(layers))
    for l in range(len(layers) - 1, -1, -1):
        norms[l] = np.linalg.norm(delta.T @ hs[l])
        if l > 0:
            delta = (delta @ layers[l][0]) * df(zs[l - 1])
    return norms


def saturation_per_layer(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray, activation: str,
                         eps: float = SATURATION_EPS) -> np.ndarray:
    """For each hidden layer (all but the last), the fraction of (input, unit) pairs with
    ``f'(z) < eps * max f'`` on the batch ``x``. float64. Reference for ``ex3-saturation``."""
    _, df, top = _act(activation)
    zs, _ = forward_cache(layers, np.asarray(x), activation)
    return np.array([np.mean(df(z) < eps * top) for z in zs[:-1]], dtype=np.float64)


def jacobian_and_bound(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> tuple[float, float]:
    """For the all-sigmoid network ``h_l = sigma(W_l h_{l-1} + b_l)``, ``l = 1..L``, at one input ``x``:
    the spectral norm of its Jacobian ``dh_L/dx = D_L W_L ... D_1 W_1`` (``D_l = diag(sigma'(z_l))``) and
    the bound ``(1/4)^L prod_l ||W_l||_2`` of Theorem 01.2. Reference for ``ex4-bound``."""
    x = np.asarray(x, np.float64).reshape(-1)
    J = np.eye(x.size)
    h = x
    for W, b in layers:
        W = np.asarray(W, np.float64)
        z = W @ h + np.asarray(b, np.float64)
        J = numpy_ref.sigmoid_grad(z)[:, None] * (W @ J)
        h = numpy_ref.sigmoid(z)
    bound = 0.25 ** len(layers) * math.prod(np.linalg.norm(np.asarray(W, np.float64), 2) for W, _ in layers)
    return float(np.linalg.norm(J, 2)), float(bound)
