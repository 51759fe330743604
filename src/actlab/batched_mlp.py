"""Many small MLPs trained side by side: one stacked model holds ``n_nets`` independent networks (one per seed,
or per seed x setting such as the Leaky ReLU slope), so that a sweep over settings and seeds costs about as
much as training one network. Chapters 05 (Leaky ReLU) and 06 (ELU) use it for their sweeps.

Why the networks stay independent: the stacked model's loss is the *sum* of the networks' own losses, so the
gradient of network ``s``'s weights is the gradient of its own loss; SGD and Adam act on every weight
separately (Adam's moments are elementwise), so each network follows exactly the path it would follow alone.
Each network draws its initial weights from its own seed, with PyTorch's default ``nn.Linear`` rule
(weights and biases uniform in ``±1/sqrt(fan_in)``), or LeCun normal (``N(0, 1/fan_in)``, zero biases, the
initialization SELU assumes).

Shapes: inputs ``(n_nets, n, d)`` (or ``(n, d)``, the same data for every network), logits
``(n_nets, n, classes)``, labels ``(n_nets, n)`` or ``(n,)``. Results per network are arrays of length
``n_nets``; per step, arrays ``(steps, n_nets)``.

Diagnostics:

- :func:`dead_fraction`: the fraction of hidden units whose pre-activation is ``<= 0`` on *every* input
  (for ReLU such a unit outputs 0 everywhere and gets no gradient: it is dead);
- :func:`roughness`: how much a loss curve fluctuates around its own moving average, a measure of
  "fluctuations during training";
- :class:`History` ``grad_norms``: the gradient norm of every network at every step.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from actlab.experiments import _activation, single_thread

__all__ = ["BatchedMLP", "PerNetLeakyReLU", "History", "train", "accuracy", "dead_fraction", "roughness",
           "moving_average", "predictor"]


class PerNetLeakyReLU(nn.Module):
    """Leaky ReLU with one slope per network: ``x`` where ``x > 0``, else ``gamma[s] * x`` for network ``s``
    (inputs ``(n_nets, n, width)``). ``gamma = 0`` is ReLU, ``gamma = 1`` the identity. Computed as
    ``gamma x + (1 - gamma) relu(x)`` (the same function, slope ``gamma`` at 0 as torch; on the CPU several
    times faster than ``torch.where`` with a broadcast slope)."""

    def __init__(self, gammas: Sequence[float], dtype: torch.dtype = torch.float64):
        super().__init__()
        self.register_buffer("gamma", torch.as_tensor(np.asarray(gammas, dtype=np.float64), dtype=dtype)
                             .reshape(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gamma.to(x.dtype)
        return g * x + (1.0 - g) * torch.relu(x)

    def extra_repr(self) -> str:
        return f"n_nets={self.gamma.shape[0]}"


class BatchedMLP(nn.Module):
    """``n_nets`` independent MLPs ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between the layers.

    Args:
        sizes: layer widths, input first.
        seeds: one seed per network (its initial weights); ``len(seeds)`` is ``n_nets``.
        activation: a name of :data:`actlab.experiments.ACTIVATIONS`, a module class or factory (an
            elementwise module works on the stacked ``(n_nets, n, width)`` tensors as it is), or a module
            instance such as :class:`PerNetLeakyReLU` (shared by all hidden layers).
        init: ``"default"`` (PyTorch's ``nn.Linear``: uniform ``±1/sqrt(fan_in)``) or ``"lecun"``
            (``N(0, 1/fan_in)`` weights, zero biases).
        dtype: float64 by default, as :func:`actlab.experiments.mlp`.
    """

    def __init__(self, sizes: Sequence[int], seeds: Sequence[int], activation="relu", init: str = "default",
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError("sizes needs at least an input and an output size")
        if init not in ("default", "lecun"):
            raise ValueError(f"init must be 'default' or 'lecun', got {init!r}")
        self.sizes, self.seeds = [int(s) for s in sizes], [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("give at least one seed (one network per seed)")
        S = len(self.seeds)
        weights = [torch.empty(S, a, b, dtype=dtype) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        biases = [torch.empty(S, 1, b, dtype=dtype) for b in self.sizes[1:]]
        for s, seed in enumerate(self.seeds):
            g = torch.Generator().manual_seed(seed)
            for W, b in zip(weights, biases):
                fan_in = W.shape[1]
                if init == "default":
                    bound = 1.0 / math.sqrt(fan_in)
                    W[s].copy_((torch.rand(W.shape[1:], generator=g, dtype=dtype) * 2 - 1) * bound)
                    b[s].copy_((torch.rand(b.shape[1:], generator=g, dtype=dtype) * 2 - 1) * bound)
                else:
                    W[s].copy_(torch.randn(W.shape[1:], generator=g, dtype=dtype) / math.sqrt(fan_in))
                    b[s].zero_()
        self.weights = nn.ParameterList([nn.Parameter(W) for W in weights])
        self.biases = nn.ParameterList([nn.Parameter(b) for b in biases])
        make = activation if isinstance(activation, nn.Module) else None
        factory = None if make is not None else _activation(activation)
        self.acts = nn.ModuleList([make if make is not None else factory() for _ in range(len(sizes) - 2)])
        self.acts.to(dtype)

    @property
    def n_nets(self) -> int:
        return len(self.seeds)

    def _stack(self, X) -> torch.Tensor:
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=self.weights[0].dtype)
        if X.ndim == 2:
            X = X.expand(self.n_nets, *X.shape)
        if X.ndim != 3 or X.shape[0] != self.n_nets or X.shape[2] != self.sizes[0]:
            raise ValueError(f"inputs must be (n, {self.sizes[0]}) or ({self.n_nets}, n, {self.sizes[0]}); "
                             f"got {tuple(X.shape)}")
        return X

    def preactivations(self, X) -> list[torch.Tensor]:
        """The pre-activations ``z_l`` of every hidden layer, each ``(n_nets, n, width_l)``, then the logits."""
        h, out = self._stack(X), []
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = torch.baddbmm(b, h, W)
            out.append(z)
            if i < len(self.acts):
                h = self.acts[i](z)
        return out

    def forward(self, X) -> torch.Tensor:
        return self.preactivations(X)[-1]


@dataclasses.dataclass
class History:
    """Per step and network: the training loss (of the step's batch) and the gradient norm."""
    losses: np.ndarray       # (steps, n_nets)
    grad_norms: np.ndarray   # (steps, n_nets)


def _labels(y, S: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return y.expand(S, *y.shape) if y.ndim == 1 else y


def train(model: BatchedMLP, X, y, *, steps: int = 400, lr: float | Sequence[float] = 0.01, optimizer: str = "adam",
          batch_size: int | None = None, seed: int = 0, progress: bool = False) -> History:
    """Train every network of ``model`` on cross-entropy, in place, single-threaded.

    Args:
        X, y: inputs ``(n, d)`` or ``(n_nets, n, d)``; integer labels ``(n,)`` or ``(n_nets, n)``.
        steps: optimizer steps.
        lr: the learning rate, or one per network (each network then follows exactly the path that the
            optimizer with its own rate would take: the step of rate 1 is computed and scaled per network;
            Adam's moment estimates do not depend on the rate).
        optimizer: ``"adam"`` or ``"sgd"`` (plain, no momentum).
        batch_size: ``None`` for full batch; otherwise minibatches from a fresh permutation of the data every
            epoch, drawn from ``seed`` and the network's own seed (networks with equal seeds see the same
            batches).
        seed: seeds the minibatch order.
        progress: a tqdm bar over the steps.
    Returns:
        :class:`History` with the loss and gradient norm of every network at every step.
    """
    S = model.n_nets
    with single_thread():
        Xs, ys = model._stack(X), _labels(y, S)
        n = Xs.shape[1]
        if ys.shape != (S, n):
            raise ValueError(f"labels must be ({n},) or ({S}, {n}); got {tuple(ys.shape)}")
        params = list(model.parameters())
        rates = np.array(lr, dtype=np.float64) if np.ndim(lr) else None
        if np.ndim(lr) and np.shape(lr) != (S,):
            raise ValueError(f"give one learning rate or one per network ({S}); got {np.shape(lr)}")
        base = 1.0 if rates is not None else float(lr)
        if optimizer == "adam":
            opt = torch.optim.Adam(params, lr=base)
        elif optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=base)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        scale = None if rates is None else torch.as_tensor(rates, dtype=params[0].dtype)
        if scale is not None and any(p.dim() == 0 or p.shape[0] != S for p in params):
            raise ValueError("one learning rate per network needs every parameter stacked per network "
                             f"(first axis {S})")
        # one generator per network, from its own seed: networks with the same seed (e.g. one per slope)
        # see the same batches in the same order, a paired comparison
        gens = [torch.Generator().manual_seed(1_000_003 * int(seed) + s) for s in model.seeds]
        rows = torch.arange(S)[:, None]
        order, pos = None, n
        losses, norms = np.empty((steps, S)), np.empty((steps, S))
        it = range(steps)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="steps")
        for step in it:
            if batch_size is None or batch_size >= n:
                xb, yb = Xs, ys
            else:
                if pos + batch_size > n:
                    order, pos = torch.stack([torch.randperm(n, generator=g) for g in gens]), 0
                idx = order[:, pos:pos + batch_size]
                pos += batch_size
                xb, yb = Xs[rows, idx], ys[rows, idx]
            opt.zero_grad()
            logits = model(xb)
            per_net = nn.functional.cross_entropy(logits.transpose(1, 2), yb, reduction="none").mean(1)
            per_net.sum().backward()
            sq = sum(p.grad.reshape(S, -1).pow(2).sum(1) for p in params if p.grad is not None)
            if scale is None:
                opt.step()
            else:  # the step of rate 1, scaled by each network's rate
                before = [p.detach().clone() for p in params]
                opt.step()
                with torch.no_grad():
                    for p, p0 in zip(params, before):
                        p.copy_(p0 + scale.reshape((-1,) + (1,) * (p.dim() - 1)) * (p - p0))
            losses[step] = per_net.detach().numpy()
            norms[step] = sq.sqrt().numpy()
    return History(losses, norms)


def accuracy(model: BatchedMLP, X, y) -> np.ndarray:
    """The accuracy of every network, ``(n_nets,)``."""
    with torch.no_grad(), single_thread():
        pred = model(X).argmax(-1)
        return (pred == _labels(y, model.n_nets)).double().mean(1).numpy()


def dead_fraction(model: BatchedMLP, X, per_layer: bool = False) -> np.ndarray:
    """The fraction of hidden units whose pre-activation is ``<= 0`` on every input of ``X``: ``(n_nets,)``
    over all hidden layers together, or ``(hidden layers, n_nets)`` with ``per_layer``."""
    with torch.no_grad(), single_thread():
        zs = model.preactivations(X)[:-1]
        if not zs:
            raise ValueError("the model has no hidden layer")
        dead = [(z <= 0).all(dim=1) for z in zs]              # (S, width) per layer
    if per_layer:
        return np.stack([d.double().mean(1).numpy() for d in dead])
    return torch.cat(dead, dim=1).double().mean(1).numpy()


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The centred moving average along axis 0 over ``window`` steps (``valid`` part only)."""
    v = np.asarray(values, dtype=np.float64)
    if not 1 <= window <= v.shape[0]:
        raise ValueError(f"window must be in [1, {v.shape[0]}], got {window}")
    c = np.cumsum(np.concatenate([np.zeros((1,) + v.shape[1:]), v]), axis=0)
    return (c[window:] - c[:-window]) / window


def roughness(losses: np.ndarray, window: int = 25, start: float = 0.5) -> np.ndarray:
    """How much a loss curve fluctuates: the RMS of ``loss - moving average`` (in the loss's units, nats for
    cross-entropy) over the steps after ``start`` (a fraction of training), per network. ``losses`` is
    ``(steps, n_nets)``; 0 for a smooth curve."""
    v = np.asarray(losses, dtype=np.float64)[int(start * len(losses)):]
    avg = moving_average(v, window)
    centred = v[window // 2: window // 2 + len(avg)]
    return np.sqrt(np.mean((centred - avg) ** 2, axis=0))


def predictor(model: BatchedMLP, net: int) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy function ``X -> P(class 1)`` (or the class probabilities) of network ``net`` of ``model``, for
    :func:`actlab.plotting.plot_decision_boundary`."""
    def predict(X: np.ndarray) -> np.ndarray:
        with torch.no_grad(), single_thread():
            p = torch.softmax(model(X)[net], dim=-1).double().numpy()
        return p[:, 1] if p.shape[1] == 2 else p
    return predict
