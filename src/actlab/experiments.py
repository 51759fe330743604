"""Experiment plumbing for the chapters: data, tiny MLPs, training over seeds, 1-D function fits, and the
exact tools for piecewise-linear (ReLU) networks. Notebook cells call these so they show the idea, not the
boilerplate. Everything is seeded and runs on the CPU in seconds.

Conventions
- Inputs are numpy arrays; models are ``torch.nn.Module``; results are small dataclasses with numpy fields.
- An activation is named as in :data:`ACTIVATIONS` (``"relu"``, ``"tanh"``, ``"linear"``, ...) or given as
  a module class / factory / parameter-free module instance (e.g. ``actlab.modules.ReLU``).
- A numpy affine layer stack is a list of ``(W, b)`` with ``W`` of shape ``(n_out, n_in)``: ``x -> W x + b``.
- Results over seeds are summarized by :class:`Spread` (mean, std, min, max), printed as ``mean ± std``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["single_thread", "ACTIVATIONS", "Spread", "make_xor", "make_moons", "mlp", "train_classifier", "fit_1d",
           "width_sweep", "over_seeds", "predictor", "affine_forward", "collapse_affine", "relu_net_1d",
           "count_linear_pieces", "relu_interpolant", "relu_breakpoints", "linear_layers",
           "TrainResult", "FitResult", "Sweep", "accuracy", "glue", "claims_table", "Table"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity, "identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU, "silu": nn.SiLU,
    "swish": nn.SiLU, "softplus": nn.Softplus,
}


# --------------------------------------------------------------------------- summaries over seeds
@dataclasses.dataclass(frozen=True)
class Spread:
    """Mean, standard deviation (ddof=1), min and max of one quantity over seeds."""
    mean: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> "Spread":
        v = np.asarray(list(values), dtype=np.float64)
        if v.size == 0:
            raise ValueError("Spread.of needs at least one value")
        return cls(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, float(v.min()),
                   float(v.max()), int(v.size))

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return f"{self.mean:{spec}} ± {self.std:{spec}}"

    def __str__(self) -> str:
        return format(self)


def over_seeds(run: Callable[[int], Any], seeds: Sequence[int] = (0, 1, 2, 3, 4), progress: bool = False,
               desc: str = "seeds") -> list:
    """``[run(seed) for seed in seeds]``, with a tqdm bar when ``progress``."""
    if progress:
        from tqdm.auto import tqdm
        seeds = tqdm(list(seeds), desc=desc)
    return [run(int(s)) for s in seeds]


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block. The models here are tiny: one thread is as fast as several,
    and much faster when other processes compete for the cores (idle threads spin and wait)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _single_threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_thread():
            return fn(*args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------- data
def make_xor(n: int = 200, noise: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy XOR: ``n`` points in four Gaussian blobs around (±1, ±1); label 1 where the signs differ."""
    rng = np.random.default_rng(seed)
    centers = rng.choice([-1.0, 1.0], size=(n, 2))
    X = centers + noise * rng.standard_normal((n, 2))
    y = (centers[:, 0] != centers[:, 1]).astype(np.int64)
    return X, y


def make_moons(n: int = 300, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons, standardized (zero mean, unit variance per feature)."""
    from sklearn.datasets import make_moons as _moons
    X, y = _moons(n_samples=n, noise=noise, random_state=seed)
    return (X - X.mean(0)) / X.std(0), y.astype(np.int64)


# --------------------------------------------------------------------------- models and training
def _activation(act: str | type | Callable | nn.Module) -> Callable[[], nn.Module]:
    if isinstance(act, str):
        try:
            return ACTIVATIONS[act]
        except KeyError:
            raise ValueError(f"unknown activation {act!r}; known: {sorted(ACTIVATIONS)}") from None
    if isinstance(act, nn.Module):
        return lambda: act
    if callable(act):
        return act
    raise TypeError(f"activation must be a name, a module class/factory or a module, got {act!r}")


def mlp(sizes: Sequence[int], activation: str | Callable | nn.Module = "relu", seed: int = 0) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1])`` (no activation after the last),
    in float64, initialized by PyTorch's default after ``torch.manual_seed(seed)``."""
    if len(sizes) < 2:
        raise ValueError("sizes needs at least an input and an output size")
    make = _activation(activation)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, dtype=torch.float64))
        if i < len(sizes) - 2:
            layers.append(make())
    return nn.Sequential(*layers)


def linear_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(W, b)`` of every ``nn.Linear`` in ``model``, in order, as numpy arrays."""
    return [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
            for m in model.modules() if isinstance(m, nn.Linear)]


def predictor(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy function ``X -> P(class 1)`` (or class probabilities for more than two classes)."""
    def predict(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            p = torch.softmax(model(torch.as_tensor(np.asarray(X), dtype=torch.float64)), dim=-1).numpy()
        return p[:, 1] if p.shape[1] == 2 else p
    return predict


@dataclasses.dataclass
class TrainResult:
    model: nn.Module
    losses: np.ndarray      # training loss per step
    accuracy: float         # on the training data
    seed: int


@_single_threaded
def train_classifier(X: np.ndarray, y: np.ndarray, hidden: Sequence[int] = (16, 16, 16),
                     activation: str | Callable | nn.Module = "relu", seed: int = 0, steps: int = 400,
                     lr: float = 0.02) -> TrainResult:
    """Full-batch Adam on cross-entropy for an MLP ``d -> hidden... -> n_classes``."""
    Xt, yt = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.int64)
    model = mlp([X.shape[1], *hidden, int(y.max()) + 1], activation, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps)
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()
        losses[step] = loss.item()
    with torch.no_grad():
        acc = (model(Xt).argmax(-1) == yt).double().mean().item()
    return TrainResult(model, losses, acc, seed)


@dataclasses.dataclass
class FitResult:
    model: nn.Module
    width: int
    activation: str
    seed: int
    max_error: float        # max |net - f| on a dense grid of [lo, hi]
    rmse: float             # on the same grid

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, 1))
            return self.model(t).numpy().ravel()


@_single_threaded
def fit_1d(f: Callable[[np.ndarray], np.ndarray], width: int, activation: str | Callable = "relu",
           seed: int = 0, lo: float = -math.pi, hi: float = math.pi, n_train: int = 256,
           steps: int = 300, lr: float = 0.5) -> FitResult:
    """Fit ``f`` on ``[lo, hi]`` with one hidden layer of ``width`` units by full-batch L-BFGS on the mean
    squared error (``steps`` iterations); report the max and RMS error on a 4x denser grid."""
    x = torch.linspace(lo, hi, n_train, dtype=torch.float64).reshape(-1, 1)
    y = torch.as_tensor(f(x.numpy()), dtype=torch.float64)
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
    model = mlp([1, width, 1], activation, seed)
    opt = torch.optim.LBFGS(model.parameters(), lr=lr, max_iter=steps, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss
    opt.step(closure)
    xs = np.linspace(lo, hi, 4 * n_train)
    res = FitResult(model, width, name, seed, 0.0, 0.0)
    err = res(xs) - np.asarray(f(xs)).ravel()
    res.max_error, res.rmse = float(np.max(np.abs(err))), float(np.sqrt(np.mean(err ** 2)))
    return res


@dataclasses.dataclass
class Sweep:
    """Fits over widths x seeds per activation: ``fits[activation][i][j]`` is width ``widths[i]``, seed
    ``seeds[j]``."""
    widths: list
    seeds: list
    fits: dict

    def max_errors(self) -> dict[str, np.ndarray]:
        """``{activation: max errors of shape (len(widths), len(seeds))}`` (the input of ``plot_sweep``)."""
        return {a: np.array([[r.max_error for r in row] for row in rows]) for a, rows in self.fits.items()}


def width_sweep(f: Callable, widths: Sequence[int], activations: Sequence[str] = ("relu", "tanh"),
                seeds: Sequence[int] = (0, 1, 2), progress: bool = False, **fit_kwargs) -> Sweep:
    """:func:`fit_1d` for every activation, width and seed."""
    jobs = [(a, w, s) for a in activations for w in widths for s in seeds]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="fits")
    fits = {a: [[None] * len(seeds) for _ in widths] for a in activations}
    for a, w, s in jobs:
        fits[a][list(widths).index(w)][list(seeds).index(s)] = fit_1d(f, w, a, s, **fit_kwargs)
    return Sweep(list(widths), list(seeds), fits)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of ``X`` that ``model`` classifies as ``y``."""
    with torch.no_grad():
        pred = model(torch.as_tensor(np.asarray(X), dtype=torch.float64)).argmax(-1).numpy()
    return float(np.mean(pred == np.asarray(y)))


class Table:
    """A small table that renders as HTML (the book, Jupyter) and as Markdown (other front ends): myst-nb
    renders a Markdown output as CommonMark, which has no tables, so the HTML form is the one the site shows.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[Any]], bold_first: bool = True):
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"each row needs {len(self.header)} cells ({', '.join(self.header)}); "
                                 f"got {row!r}")
        self.bold_first = bold_first

    def _repr_html_(self) -> str:
        import html
        first = (lambda c: f"<strong>{c}</strong>") if self.bold_first else (lambda c: c)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{first(html.escape(c)) if i == 0 else html.escape(c)}</td>"
                                        for i, c in enumerate(row)) + "</tr>" for row in self.rows)
        return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def _repr_markdown_(self) -> str:
        cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
        first = (lambda c: f"**{c}**") if self.bold_first else (lambda c: c)
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(first(cell(c)) if i == 0 else cell(c) for i, c in enumerate(row)) + " |"
                  for row in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self._repr_markdown_()


def claims_table(rows: Sequence[tuple[str, str, str, str]]) -> Table:
    """The claim → verdict → evidence table that ends every chapter's experiments: one row
    ``(claim id, what the source says, verdict, evidence)`` per claim. Evidence strings carry the numbers,
    formatted from the experiment's variables (never typed in)."""
    for row in rows:
        if len(row) != 4:
            raise ValueError(f"each row is (claim, says, verdict, evidence); got {row!r}")
    return Table(["claim", "the source says", "verdict", "evidence"], rows)


def glue(name: str, value: Any, display: bool = False) -> None:
    """``myst_nb.glue`` in the book build (a number for the ``{glue:text}`` role); a no-op where myst-nb is
    not installed (Colab, a plain Jupyter), so a notebook runs the same everywhere."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


# --------------------------------------------------------------------------- affine stacks (chapter 00)
def _check_stack(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    if len(layers) == 0:
        raise ValueError("the stack needs at least one layer")
    n_prev = None
    for i, (W, b) in enumerate(layers, 1):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"layer {i}: W must be 2-D (n_out, n_in) and b of shape (n_out,); got "
                             f"W {W.shape}, b {b.shape}")
        if n_prev is not None and W.shape[1] != n_prev:
            raise ValueError(f"layer {i}: W has {W.shape[1]} columns but layer {i - 1} outputs {n_prev} values")
        n_prev = W.shape[0]


def affine_forward(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray,
                   activation: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Run ``x`` (shape ``(n_in,)`` or ``(batch, n_in)``) through the stack, applying ``activation`` after
    every layer but the last (none: a purely affine stack)."""
    _check_stack(layers)
    h = np.asarray(x)
    for i, (W, b) in enumerate(layers):
        h = h @ np.asarray(W).T + b
        if activation is not None and i < len(layers) - 1:
            h = activation(h)
    return h


def collapse_affine(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The single affine map equal to a stack of affine maps (Theorem 00.1):

    .. math:: W = W_L \\cdots W_1, \\qquad b = \\sum_{l=1}^{L} W_L \\cdots W_{l+1} b_l.

    Computed in float64, returned in the layers' dtype. Reference for exercise ``ex1-collapse``."""
    _check_stack(layers)
    dtype = np.result_type(*[np.asarray(W).dtype for W, _ in layers], *[np.asarray(b).dtype for _, b in layers])
    W, b = (np.asarray(a, dtype=np.float64) for a in layers[0])
    for Wl, bl in layers[1:]:
        Wl, bl = np.asarray(Wl, dtype=np.float64), np.asarray(bl, dtype=np.float64)
        W, b = Wl @ W, Wl @ b + bl
    return W.astype(dtype), b.astype(dtype)


# --------------------------------------------------------------------------- 1-D ReLU networks (chapter 00)
def relu_net_1d(w: np.ndarray, b: np.ndarray, v: np.ndarray, c: float, x: np.ndarray) -> np.ndarray:
    """``f(x) = sum_k v_k relu(w_k x + b_k) + c`` for an array ``x`` (one hidden layer, scalar in and out)."""
    x = np.asarray(x, dtype=np.float64)
    w, b, v = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (w, b, v))
    return np.maximum(np.multiply.outer(x, w) + b, 0.0) @ v + c


def count_linear_pieces(w: np.ndarray, b: np.ndarray, v: np.ndarray) -> int:
    """The number of maximal intervals of the real line on which ``sum_k v_k relu(w_k x + b_k)`` is affine.

    Unit k has a kink at ``t_k = -b_k / w_k`` (if ``w_k != 0``) where the slope jumps by ``v_k |w_k|``;
    kinks at the same point add up and may cancel. Pieces = 1 + the number of points with a nonzero total
    jump. Exact (rational arithmetic on the float inputs). Reference for exercise ``ex3-pieces``."""
    w, b, v = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (w, b, v))
    if not (w.shape == b.shape == v.shape):
        raise ValueError(f"w, b, v must have the same length; got {w.shape}, {b.shape}, {v.shape}")
    jumps: dict[Fraction, Fraction] = {}
    for wk, bk, vk in zip(w.tolist(), b.tolist(), v.tolist()):
        if wk == 0 or vk == 0:
            continue
        t = -Fraction(bk) / Fraction(wk)
        jumps[t] = jumps.get(t, Fraction(0)) + Fraction(vk) * abs(Fraction(wk))
    return 1 + sum(1 for j in jumps.values() if j != 0)


def relu_interpolant(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weights ``(w, b, v, c)`` of a one-hidden-layer ReLU net with ``len(xs) - 1`` units that equals the
    piecewise-linear interpolant of ``(xs, ys)`` on ``[xs[0], xs[-1]]`` (Theorem 00.4):

    .. math:: f(x) = y_0 + \\sum_{k=0}^{m-1} (s_k - s_{k-1})\\,\\mathrm{relu}(x - x_k), \\quad
              s_k = \\frac{y_{k+1} - y_k}{x_{k+1} - x_k},\\ s_{-1} = 0.

    Reference for exercise ``ex4-interpolant``."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size < 2 or np.any(np.diff(xs) <= 0):
        raise ValueError("xs and ys must be 1-D of the same length >= 2, with xs strictly increasing")
    s = np.diff(ys) / np.diff(xs)
    v = np.diff(s, prepend=0.0)
    return np.ones_like(v), -xs[:-1].copy(), v, float(ys[0])


def relu_breakpoints(layers: Sequence[tuple[np.ndarray, np.ndarray]], lo: float, hi: float,
                     rtol: float = 1e-9) -> np.ndarray:
    """The kinks in ``(lo, hi)`` of a ReLU network with scalar input and output (``layers`` as in
    :func:`affine_forward`, ReLU between layers): found layer by layer, since each pre-activation is affine
    between the kinks found so far and can change sign at most once there; kinks where the slope does not
    actually change are dropped. The network has ``len(result) + 1`` linear pieces on ``[lo, hi]``."""
    _check_stack(layers)
    if np.asarray(layers[0][0]).shape[1] != 1 or np.asarray(layers[-1][0]).shape[0] != 1:
        raise ValueError("relu_breakpoints needs a network with one input and one output")
    def relu(z):
        return np.maximum(z, 0.0)
    pts = np.array([lo, hi], dtype=np.float64)
    for depth in range(1, len(layers)):
        z = _preact(layers, depth, pts)  # affine in x between consecutive points of pts
        za, zb = z[:-1], z[1:]
        cross = (za * zb < 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = pts[:-1, None] + (pts[1:, None] - pts[:-1, None]) * za / (za - zb)
        pts = np.unique(np.concatenate([pts, t[cross]]))
    y = affine_forward(layers, pts[:, None], relu).ravel()
    slopes = np.diff(y) / np.diff(pts)
    scale = np.max(np.abs(slopes), initial=0.0)
    keep = np.abs(np.diff(slopes)) > rtol * max(scale, 1.0)
    return pts[1:-1][keep]


def _preact(layers, depth, x):
    """The pre-activations ``z_depth`` of layer ``depth`` (1-based) at the points ``x``."""
    h = x[:, None]
    for W, b in layers[:depth - 1]:
        h = np.maximum(h @ np.asarray(W).T + b, 0.0)
    W, b = layers[depth - 1]
    return h @ np.asarray(W).T + b
