"""Small MLPs trained on scikit-learn's handwritten digits, for the chapters that compare activations in
training (03 tanh, 04 ReLU): the data split, networks with a chosen initialization, a seeded minibatch
trainer that records what a chapter wants to watch, and the pre-activations of every hidden layer.

``sklearn.datasets.load_digits`` ships with scikit-learn (1,797 grey 8×8 images, 10 classes): nothing is
downloaded. Everything runs in float32 on one CPU thread (:func:`actlab.experiments.single_thread`); a run of
20 epochs of a 64-64-64-64-10 network takes well under a second.

    >>> from actlab import digits
    >>> data = digits.load(seed=0)
    >>> run = digits.train(data, "tanh", hidden=(64, 64), lr=0.1, epochs=5, seed=0)
    >>> run.train_loss.shape, 0 <= run.test_accuracy <= 1
    ((5,), True)
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from actlab import experiments

__all__ = ["Digits", "load", "network", "INITS", "set_linear_layers", "Run", "train", "hidden_layers", "accuracy"]

#: initializations :func:`network` knows: torch's default, Glorot/Xavier normal, He/Kaiming normal
INITS = ("default", "xavier", "kaiming")


@dataclasses.dataclass(frozen=True)
class Digits:
    """A train/test split of ``load_digits``: float32 features standardized with the training statistics
    (pixels that are constant in the training set stay 0), int64 labels 0–9."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load(seed: int = 0, test_fraction: float = 0.25) -> Digits:
    """``load_digits`` split into train and test sets, stratified by class, shuffled by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    mean, std = X_tr.mean(0), X_tr.std(0)
    std[std == 0] = 1.0
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return Digits(scale(X_tr), y_tr.astype(np.int64), scale(X_te), y_te.astype(np.int64))


def _init_(model: nn.Sequential, init: str | float) -> None:
    """Re-initialize every ``nn.Linear`` in place: normal weights with std ``gain / sqrt(fan_in)`` (Kaiming:
    gain √2; a number: that gain) or ``sqrt(2 / (fan_in + fan_out))`` (Xavier), zero biases."""
    for m in model:
        if not isinstance(m, nn.Linear):
            continue
        fan_out, fan_in = m.weight.shape
        if init == "xavier":
            std = math.sqrt(2.0 / (fan_in + fan_out))
        elif init == "kaiming":
            std = math.sqrt(2.0 / fan_in)
        else:
            std = float(init) / math.sqrt(fan_in)
        with torch.no_grad():
            m.weight.normal_(0.0, std)
            m.bias.zero_()


def network(hidden: Sequence[int] = (64, 64, 64), activation: str | Callable | nn.Module = "relu",
            seed: int = 0, init: str | float = "default", n_in: int = 64, n_out: int = 10) -> nn.Sequential:
    """``Linear(64, hidden[0]), act, ..., Linear(hidden[-1], 10)`` in float32, seeded.

    Args:
        hidden: the hidden layer widths.
        activation: a name in :data:`actlab.experiments.ACTIVATIONS` or a module class / factory.
        seed: ``torch.manual_seed`` before the weights are drawn.
        init: ``"default"`` (PyTorch's: uniform in ±1/√fan_in, weights and biases), ``"xavier"`` (normal, std
            √(2/(fan_in + fan_out)), Glorot & Bengio 2010), ``"kaiming"`` (normal, std √(2/fan_in), He et al.
            2015), or a number g (normal, std g/√fan_in); biases 0 for all but ``"default"``.
    """
    if isinstance(init, str) and init not in INITS:
        raise ValueError(f"init must be one of {INITS} or a number (the gain), got {init!r}")
    model = experiments.mlp([n_in, *hidden, n_out], activation, seed).to(torch.float32)
    if init != "default":
        torch.manual_seed(seed)
        _init_(model, init)
    return model


def set_linear_layers(model: nn.Module, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> nn.Module:
    """Copy ``[(W1, b1), ...]`` (numpy, ``W`` of shape ``(n_out, n_in)``) into the ``nn.Linear`` layers of
    ``model``, in order (the inverse of :func:`actlab.experiments.linear_layers`); returns the model."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != len(layers):
        raise ValueError(f"the model has {len(linears)} linear layers, got {len(layers)} (W, b) pairs")
    with torch.no_grad():
        for i, (m, (W, b)) in enumerate(zip(linears, layers), 1):
            if tuple(np.shape(W)) != tuple(m.weight.shape) or tuple(np.shape(b)) != tuple(m.bias.shape):
                raise ValueError(f"layer {i}: expected W {tuple(m.weight.shape)} and b {tuple(m.bias.shape)}, "
                                 f"got {np.shape(W)} and {np.shape(b)}")
            m.weight.copy_(torch.as_tensor(np.asarray(W)))
            m.bias.copy_(torch.as_tensor(np.asarray(b)))
    return model


@dataclasses.dataclass
class Run:
    """One training run. ``train_loss[e]`` is the mean minibatch loss of epoch ``e``; ``watched`` holds
    ``watch(model)`` at initialization and after every epoch (``epochs + 1`` entries) when a ``watch`` was
    given. ``diverged``: the loss became NaN or infinite (training stopped there; later losses are NaN)."""
    model: nn.Module
    activation: str
    seed: int
    lr: float
    optimizer: str
    train_loss: np.ndarray
    test_accuracy: float
    watched: list
    diverged: bool


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of the rows of ``X`` that ``model`` classifies as ``y`` (computed in the model's dtype)."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        pred = model(torch.as_tensor(np.asarray(X), dtype=dtype)).argmax(-1).numpy()
    return float(np.mean(pred == np.asarray(y)))


def _name(activation: Any) -> str:
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


@experiments._single_threaded
def train(data: Digits, activation: str | Callable | nn.Module = "relu", hidden: Sequence[int] = (64, 64, 64),
          *, optimizer: str = "sgd", lr: float = 0.1, epochs: int = 20, batch_size: int = 32, seed: int = 0,
          init: str | float = "default", model: nn.Module | None = None,
          watch: Callable[[nn.Module], Any] | None = None) -> Run:
    """Minibatch training on the cross-entropy loss; the batches are shuffled by ``seed`` every epoch.

    Args:
        data: from :func:`load`.
        activation, hidden, seed, init: the network of :func:`network` (ignored when ``model`` is given;
            ``seed`` still orders the batches).
        optimizer: ``"sgd"`` (plain, no momentum) or ``"adam"``; ``lr`` its learning rate.
        model: train this network instead of a new one (it is trained in place).
        watch: called on the model at initialization and after every epoch; the results go to
            ``Run.watched`` (e.g. the fraction of dead units, the activations of a layer).
    """
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
    if model is None:
        model = network(hidden, activation, seed, init)
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(data.X_train, dtype=dtype)
    y = torch.as_tensor(data.y_train)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    losses = np.full(epochs, np.nan)
    watched = [watch(model)] if watch else []
    diverged = False
    for epoch in range(epochs):
        total, count = 0.0, 0
        for idx in torch.randperm(len(X), generator=order).split(batch_size):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        losses[epoch] = total / count
        if not math.isfinite(losses[epoch]):
            diverged = True
            break
        if watch:
            watched.append(watch(model))
    return Run(model, _name(activation), seed, lr, optimizer, losses,
               accuracy(model, data.X_test, data.y_test), watched, diverged)


def hidden_layers(model: nn.Sequential, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(z_1, h_1), (z_2, h_2), ...]``: the pre-activations ``z_l`` (output of a ``Linear`` that an
    activation follows) and activations ``h_l`` of every hidden layer of an MLP on the rows of ``X``, each of
    shape ``(n_samples, width)``, as numpy arrays."""
    mods = list(model)
    dtype = next(model.parameters()).dtype
    out, z = [], None
    h = torch.as_tensor(np.asarray(X), dtype=dtype)
    with torch.no_grad():
        for i, m in enumerate(mods):
            h = m(h)
            if isinstance(m, nn.Linear):
                z = h if i + 1 < len(mods) and not isinstance(mods[i + 1], nn.Linear) else None
            elif z is not None:
                out.append((z.numpy().copy(), h.numpy().copy()))
                z = None
    return out
