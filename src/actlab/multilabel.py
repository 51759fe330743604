"""Single-label vs multi-label classification (chapter 07): data, a softmax head and a sigmoid head, and the
metrics that show what each head can express.

* **single-label** data: every sample has exactly one of ``K`` classes. A softmax head (cross-entropy) models
  the categorical distribution :math:`p = \\operatorname{softmax}(z)`, :math:`\\sum_k p_k = 1`.
* **multi-label** data: a sample may carry several labels at once. A sigmoid head models ``K`` independent
  Bernoulli variables :math:`p_k = \\sigma(z_k)` (binary cross-entropy per label); the :math:`p_k` need not
  sum to 1, so two labels can both be certain.

Labels are always a multi-hot matrix ``Y`` of shape ``(n, K)`` (one-hot for single-label data), so one
training function serves both heads. A softmax head trained on multi-label data uses the usual target
``Y / Y.sum(1)`` (the labels of a sample share the probability mass).

Reference: Zhang & Zhou, *A review on multi-label learning algorithms*, IEEE TKDE 26(8), 2014.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from actlab.experiments import mlp, single_thread

__all__ = ["make_multilabel", "make_single_label", "HeadResult", "train_head", "predict_labels",
           "softmax_labels", "subset_accuracy", "all_labels_recall", "label_counts"]


# --------------------------------------------------------------------------- data
def make_multilabel(n: int = 600, n_features: int = 8, n_labels: int = 4, rate: float = 0.4,
                    noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label data: ``X ~ N(0, I)``; label ``k`` is on where ``w_k·x + b_k + noise > 0`` for a random
    unit vector ``w_k`` and the ``b_k`` that switches it on for about a fraction ``rate`` of the samples;
    labels are independent of each other given ``x``. Samples without any label are dropped, so every row of
    ``Y`` has at least one 1 (and many have two or more). The first rows do not depend on ``n``: draw once
    and split into training and test data.

    Returns ``X`` (float64, ``(n, n_features)``) and ``Y`` (int64 0/1, ``(n, n_labels)``)."""
    if not 0 < rate < 1:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_labels, n_features))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    from statistics import NormalDist
    b = np.full(n_labels, NormalDist().inv_cdf(rate) * np.sqrt(1 + noise ** 2))
    X, Y = np.empty((0, n_features)), np.empty((0, n_labels), dtype=np.int64)
    while len(X) < n:           # fixed-size draws: the first rows do not depend on n (train/test splits)
        x = rng.standard_normal((1024, n_features))
        y = (x @ W.T + b + noise * rng.standard_normal((1024, n_labels)) > 0).astype(np.int64)
        keep = y.sum(1) > 0
        X, Y = np.vstack([X, x[keep]]), np.vstack([Y, y[keep]])
    return X[:n], Y[:n]


def make_single_label(n: int = 600, n_features: int = 8, n_classes: int = 4, spread: float = 1.2,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Single-label data: ``n_classes`` Gaussian blobs (unit variance, centres ``spread`` times a random
    normal vector). Returns ``X`` (float64) and the one-hot ``Y`` (int64, ``(n, n_classes)``)."""
    rng = np.random.default_rng(seed)
    centres = spread * rng.standard_normal((n_classes, n_features))
    cls = rng.integers(0, n_classes, size=n)
    X = centres[cls] + rng.standard_normal((n, n_features))
    return X, np.eye(n_classes, dtype=np.int64)[cls]


def label_counts(Y: np.ndarray) -> dict[int, int]:
    """``{number of labels: number of samples}``."""
    k, c = np.unique(np.asarray(Y).sum(1), return_counts=True)
    return {int(a): int(b) for a, b in zip(k, c)}


# --------------------------------------------------------------------------- heads
@dataclasses.dataclass
class HeadResult:
    model: nn.Module
    head: str               # "softmax" or "sigmoid"
    losses: np.ndarray      # training loss per step
    seed: int

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """softmax(z) or sigmoid(z) of the network's outputs z, shape ``(n, K)``."""
        with torch.no_grad():
            z = self.model(torch.as_tensor(np.asarray(X), dtype=torch.float64))
            return (torch.softmax(z, -1) if self.head == "softmax" else torch.sigmoid(z)).numpy()

    def logits(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.as_tensor(np.asarray(X), dtype=torch.float64)).numpy()


def train_head(X: np.ndarray, Y: np.ndarray, head: str = "sigmoid", hidden=(32,), activation: str = "relu",
               seed: int = 0, steps: int = 150, lr: float = 0.04) -> HeadResult:
    """Full-batch Adam on an MLP ``d -> hidden... -> K`` with a ``"softmax"`` head (cross-entropy against
    ``Y / Y.sum(1)``) or a ``"sigmoid"`` head (binary cross-entropy per label, with logits). Single-threaded."""
    if head not in ("softmax", "sigmoid"):
        raise ValueError(f"head must be 'softmax' or 'sigmoid', got {head!r}")
    Y = np.asarray(Y)
    if Y.ndim != 2 or (Y.sum(1) == 0).any() and head == "softmax":
        raise ValueError("Y must be a multi-hot (n, K) matrix; a softmax head needs at least one label per row")
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    Yt = torch.as_tensor(Y, dtype=torch.float64)
    target = Yt / Yt.sum(1, keepdim=True) if head == "softmax" else Yt
    losses = np.empty(steps)
    with single_thread():
        model = mlp([Xt.shape[1], *hidden, Yt.shape[1]], activation, seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for step in range(steps):
            opt.zero_grad()
            z = model(Xt)
            if head == "softmax":
                loss = -(target * torch.log_softmax(z, -1)).sum(1).mean()
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(z, target)
            loss.backward()
            opt.step()
            losses[step] = loss.item()
    return HeadResult(model, head, losses, seed)


# --------------------------------------------------------------------------- predictions and metrics
def predict_labels(logits: np.ndarray, thresholds=0.5) -> np.ndarray:
    """Multi-label prediction from a sigmoid head's logits: label ``k`` is on where
    :math:`\\sigma(z_k) \\ge t_k`, i.e. where :math:`z_k \\ge \\log(t_k / (1 - t_k))` (no exponential, so no
    overflow); a row with no label on gets its most likely label (the largest logit, the first on ties).

    Args:
        logits: ``(n, K)`` array (any float dtype).
        thresholds: a number or a ``(K,)`` array, each in (0, 1).
    Returns:
        a boolean ``(n, K)`` array. Reference for exercise ``ex5-multilabel`` of chapter 07."""
    z = np.asarray(logits)
    t = np.asarray(thresholds, dtype=np.float64)
    if np.any((t <= 0) | (t >= 1)):
        raise ValueError("thresholds must lie strictly between 0 and 1")
    on = z.astype(np.float64) >= np.log(t) - np.log1p(-t)
    empty = ~on.any(axis=-1)
    if z.shape[-1] and empty.any():
        on[empty, np.argmax(z[empty], axis=-1)] = True
    return on


def softmax_labels(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Labels from a softmax head: every ``k`` with :math:`p_k \\ge` ``threshold``, and at least the most
    likely one. Since the :math:`p_k` sum to 1, at most one can exceed 1/2."""
    p = np.asarray(probs)
    on = p >= threshold
    on[np.arange(len(p)), p.argmax(1)] = True
    return on


def subset_accuracy(pred: np.ndarray, Y: np.ndarray) -> float:
    """The fraction of samples whose predicted label set equals the true one exactly."""
    return float(np.mean(np.all(np.asarray(pred, bool) == np.asarray(Y, bool), axis=1)))


def all_labels_recall(pred: np.ndarray, Y: np.ndarray, min_labels: int = 2) -> float:
    """Among the samples with at least ``min_labels`` true labels, the fraction whose true labels are all
    predicted (NaN if there are none)."""
    pred, Y = np.asarray(pred, bool), np.asarray(Y, bool)
    rows = Y.sum(1) >= min_labels
    return float(np.mean(np.all(pred[rows] | ~Y[rows], axis=1))) if rows.any() else float("nan")
