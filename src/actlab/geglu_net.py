"""A tiny GeGLU network on the handwritten digits, for chapter 11: which GELU form the gate uses, and which
half of a fused gate/up projection is the gate.

The network (:class:`GeGLUNet`): ``x -> Linear(64, d) -> [z + FFN(LayerNorm(z))] x blocks -> Linear(d, 10)``,
a pre-norm residual stack as in a Transformer, where
each feed-forward block is ChatGLM2's layout: ONE linear map ``d -> 2 d_ff`` (``fused``), split into halves,
``GELU(first) * second``, then ``d_ff -> d``. The GELU form (``"none"`` exact, ``"tanh"``, ``"sigmoid"``) is
an attribute that can be changed after training (:meth:`GeGLUNet.with_form`), and ``order="up_gate"`` reads the
fused projection with its halves swapped.

- :func:`train` trains one on ``load_digits`` (float32, full-batch Adam, one thread) with a given form.
- :func:`logit_drift` compares the logits of the same weights under two forms (max and mean |difference|,
  prediction flips).
- :func:`drift_bound`: the first-order bound of one block's output change, ``eps * |b| @ |W2|`` with ``eps`` the
  largest difference between the two GELU forms (chapter 11, theorem on the drift).
- :func:`split_fused`, :func:`gate_half_by_loss`: the references of chapter 11's exercises on fused
  projections.

Reference: N. Shazeer, *GLU Variants Improve Transformer*, 2020 (GEGLU); ChatGLM2-6B's ``MLP`` (one fused
``dense_h_to_4h``, ``chunk(2)``, activation on the first half).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from actlab import functional as AF
from actlab import numpy_ref
from actlab.experiments import _single_threaded

__all__ = ["GeGLUNet", "digits_split", "train", "TrainedNet", "logit_drift", "drift_bound", "gelu_gap",
           "split_fused", "gate_half_by_loss", "cross_entropy_np"]


class GeGLUNet(nn.Module):
    """``Linear(n_in, d)``, ``blocks`` pre-norm residual GeGLU feed-forward blocks
    ``z + FFN(LayerNorm(z))`` with a fused gate/up projection, ``Linear(d, n_out)``; ``form`` is the GELU form of every gate, ``order`` which half is the gate."""

    def __init__(self, n_in: int = 64, d: int = 32, d_ff: int = 64, n_out: int = 10, blocks: int = 2,
                 form: str = "none", order: str = "gate_up"):
        super().__init__()
        self.embed = nn.Linear(n_in, d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))
        self.fused = nn.ModuleList(nn.Linear(d, 2 * d_ff) for _ in range(blocks))
        self.down = nn.ModuleList(nn.Linear(d_ff, d) for _ in range(blocks))
        self.head = nn.Linear(d, n_out)
        self.form, self.order = form, order

    def gate_up(self, i: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gate and up inputs of block ``i`` (before GELU)."""
        first, second = self.fused[i](z).chunk(2, dim=-1)
        return (first, second) if self.order == "gate_up" else (second, first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x)
        for i in range(len(self.fused)):
            a, b = self.gate_up(i, self.norms[i](z))
            z = z + self.down[i](AF.geglu(a, b, self.form))
        return self.head(z)

    def with_form(self, form: str) -> "GeGLUNet":
        """The same weights, another GELU form (a shallow copy: parameters are shared)."""
        other = GeGLUNet.__new__(GeGLUNet)
        other.__dict__ = {**self.__dict__}
        other.form = form
        return other

    def with_order(self, order: str) -> "GeGLUNet":
        """The same weights with the fused projections read as ``order``."""
        other = self.with_form(self.form)
        other.order = order
        return other


def digits_split(seed: int = 0):
    """``load_digits`` standardized, 70 % / 30 % train/test split (float32 tensors), by ``seed``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    cut = int(0.7 * len(y))
    tr, te = idx[:cut], idx[cut:]
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    Xs = ((X - mu) / sd).astype(np.float32)
    t = lambda a: torch.tensor(a)  # noqa: E731
    return t(Xs[tr]), t(y[tr]), t(Xs[te]), t(y[te])


@dataclasses.dataclass
class TrainedNet:
    model: GeGLUNet
    test_accuracy: float
    final_loss: float
    data: tuple


@_single_threaded
def train(seed: int = 0, form: str = "none", steps: int = 150, lr: float = 1e-2, data=None, **kw) -> TrainedNet:
    """Train a :class:`GeGLUNet` with GELU form ``form`` on the digits (full-batch Adam, float32)."""
    data = digits_split(0) if data is None else data
    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    model = GeGLUNet(form=form, **kw)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(Xtr), ytr)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(Xte).argmax(1) == yte).float().mean().item()
    return TrainedNet(model.eval(), acc, loss.item(), data)


@dataclasses.dataclass
class Drift:
    max_abs: float        # max |logit difference| over the test set
    mean_abs: float       # mean |logit difference|
    logit_scale: float    # mean |logit| (for scale)
    flips: int            # test inputs whose predicted class changes
    accuracy: tuple       # (accuracy before, accuracy after)


def logit_drift(model: GeGLUNet, X: torch.Tensor, y: torch.Tensor, form: str) -> Drift:
    """How far the logits on ``X`` move when the trained ``model`` runs with GELU form ``form`` instead of its
    own."""
    with torch.no_grad():
        base, other = model(X), model.with_form(form)(X)
    diff = (other - base).abs()
    acc = lambda z: (z.argmax(1) == y).float().mean().item()  # noqa: E731
    return Drift(diff.max().item(), diff.mean().item(), base.abs().mean().item(),
                 int((other.argmax(1) != base.argmax(1)).sum()), (acc(base), acc(other)))


def gelu_gap(form: str, other: str = "none", lo: float = -10.0, hi: float = 10.0, n: int = 200_001) -> float:
    """``max |gelu_form(x) - gelu_other(x)|`` on a fine grid of ``[lo, hi]`` (float64): the ``eps`` of
    :func:`drift_bound` (about 4.7e-4 for tanh vs exact, 2.0e-2 for sigmoid vs exact)."""
    x = np.linspace(lo, hi, n)
    return float(np.abs(numpy_ref.gelu(x, form) - numpy_ref.gelu(x, other)).max())


def drift_bound(a: np.ndarray, b: np.ndarray, W2: np.ndarray, eps: float) -> np.ndarray:
    """First-order bound on the change of one GeGLU block's output ``(gelu(a) * b) @ W2`` when the GELU form
    changes by at most ``eps`` anywhere: ``eps * |b| @ |W2|`` (per input row and output unit)."""
    return eps * (np.abs(b) @ np.abs(W2))


# --------------------------------------------------------------------------- fused projections
def split_fused(weight: np.ndarray, order: str = "gate_up") -> tuple[np.ndarray, np.ndarray]:
    """``(W, V)`` in the ``x @ W`` convention (each ``(d, d_ff)``) from a fused ``nn.Linear`` weight of shape
    ``(2 d_ff, d)`` whose first ``d_ff`` rows are the gate's (``order="gate_up"``, ChatGLM2, Phi-3, GLM-4) or the
    up projection's (``"up_gate"``). Reference for chapter 11's ``ex3``."""
    weight = np.asarray(weight)
    if weight.ndim != 2 or weight.shape[0] % 2:
        raise ValueError(f"a fused weight has shape (2 d_ff, d); got {weight.shape}")
    first, second = np.split(weight, 2, axis=0)
    if order == "gate_up":
        return first.T.copy(), second.T.copy()
    if order == "up_gate":
        return second.T.copy(), first.T.copy()
    raise ValueError(f"order must be 'gate_up' or 'up_gate', got {order!r}")


def cross_entropy_np(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of integer labels ``y`` under ``logits`` (stable log-sum-exp), float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), np.asarray(y)].mean())


def gate_half_by_loss(U: np.ndarray, W2: np.ndarray, X: np.ndarray, y: np.ndarray) -> int:
    """Which half of the fused matrix ``U`` (``(d, 2 d_ff)``, ``x @ U`` convention) is the gate of the block
    ``logits = (gelu(x U_gate) * (x U_up)) @ W2``: 0 (first) or 1 (second), whichever gives the labels ``y`` the
    lower cross-entropy. Reference for chapter 11's ``ex4``."""
    first, second = np.split(np.asarray(X) @ np.asarray(U), 2, axis=1)
    ce = [cross_entropy_np((numpy_ref.gelu(g) * u) @ W2, y) for g, u in ((first, second), (second, first))]
    return int(np.argmin(ce))
