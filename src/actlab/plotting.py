"""The book's figure style: one colour per activation, the same in every chapter, and the few plots the
chapters share.

- :data:`ACTIVATION_COLORS` and :func:`color_of`: the colour of an activation (colour-blind-safe palette,
  Okabe-Ito first, then Paul Tol's). Variants of one activation (exact vs approximate GELU, several γ) use
  :func:`shades` of its colour; line styles: the function solid, a reference dashed, an approximation dotted.
- :func:`plot_activation`: function and derivative side by side (labeled axes, legend); call it again with
  ``axes=`` to overlay another activation. :func:`plot_activation_sweep`: a parameter sweep (γ, α, β, T).
- :func:`plot_decision_boundary`: a 2-D classifier's probability, its p = 0.5 boundary in the activation's
  colour, and the data.
- :func:`plot_mean_spread`, :func:`plot_sweep`, :func:`plot_spread_bars`: results over seeds: the mean, the
  min–max band (or ± std) and every seed as a faint dot, never one lucky run.

Call :func:`use_style` once (every function here calls it too). Figures are sized for the page width
(7.5 in at 110 dpi for two panels).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["ACTIVATION_COLORS", "CLASS_STYLE", "STYLE", "use_style", "color_of", "shades", "figure",
           "plot_activation", "plot_activation_sweep", "plot_decision_boundary", "plot_mean_spread",
           "plot_sweep", "plot_spread_bars", "numeric_derivative"]

ACTIVATION_COLORS: dict[str, str] = {
    "linear": "#7F7F7F",      # grey: no activation
    "sigmoid": "#0072B2",     # blue
    "tanh": "#E69F00",        # orange
    "relu": "#D55E00",        # vermillion
    "leaky_relu": "#CC79A7",  # reddish purple
    "prelu": "#8E4B7A",       # dark reddish purple
    "elu": "#009E73",         # bluish green
    "selu": "#117733",        # dark green
    "softplus": "#56B4E9",    # sky blue
    "softmax": "#332288",     # indigo
    "gelu": "#882255",        # wine
    "silu": "#44AA99",        # teal (swish is the same function family)
    "glu": "#88CCEE",         # cyan
    "reglu": "#661100",       # brown
    "geglu": "#999933",       # olive
    "swiglu": "#AA4499",      # purple
    "bilinear": "#6699CC",    # steel blue
}
_ALIASES = {"swish": "silu", "identity": "linear", "none": "linear", "leakyrelu": "leaky_relu",
            "logistic": "sigmoid", "swi_glu": "swiglu", "ge_glu": "geglu", "re_glu": "reglu"}

# class markers for 2-D data: hollow circles for class 0, dark triangles for class 1 (no colour clash with
# the activations, whose colours mark the decision boundaries)
CLASS_STYLE = ({"marker": "o", "facecolor": "white", "edgecolor": "#333333"},
               {"marker": "^", "facecolor": "#333333", "edgecolor": "#333333"})

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.5, 3.0), "figure.constrained_layout.use": True,
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "legend.fontsize": 9,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 2.0,
    "legend.frameon": False, "image.cmap": "Greys", "axes.prop_cycle": mpl.cycler(color=[
        "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#882255", "#44AA99"]),
}


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(STYLE)


def _key(name: str) -> str:
    k = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(k, k)


_RAISE = object()


def color_of(name: str, default=_RAISE) -> str | None:
    """The colour of activation ``name`` (case, ``-``/``_`` and aliases like ``swish`` → ``silu`` ignored).
    A name with a variant suffix (``"gelu_tanh"``, ``"relu (torch)"``) takes its base's colour."""
    k = _key(name)
    if k in ACTIVATION_COLORS:
        return ACTIVATION_COLORS[k]
    for base in sorted(ACTIVATION_COLORS, key=len, reverse=True):
        if k.startswith(base + "_") or k.startswith(base + "("):
            return ACTIVATION_COLORS[base]
    if default is not _RAISE:
        return default
    raise KeyError(f"no colour for activation {name!r}; known: {sorted(ACTIVATION_COLORS)}")


def shades(name: str, n: int) -> list[str]:
    """``n`` shades of an activation's colour, light to dark (for parameter sweeps)."""
    rgb = np.array(mpl.colors.to_rgb(color_of(name)))
    out = []
    for t in np.linspace(0.0, 1.0, n) if n > 1 else [0.5]:
        light = 0.55 * (1 - t)        # mix with white for light shades,
        dark = 0.45 * max(t - 0.5, 0)  # with black for the darkest
        c = rgb * (1 - light) + light
        c = c * (1 - dark)
        out.append(mpl.colors.to_hex(np.clip(c, 0, 1)))
    return out


def figure(ncols: int = 2, nrows: int = 1, width: float = 7.5, height: float | None = None, **kw):
    """``plt.subplots`` in the book's style, sized for the page width (height 3 in per row by default)."""
    use_style()
    height = 3.0 * nrows if height is None else height
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kw)
    return fig, (axes[0, 0] if axes.size == 1 else axes.ravel() if nrows == 1 or ncols == 1 else axes)


def numeric_derivative(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central difference ``(f(x + h) - f(x - h)) / 2h`` in float64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.asarray(fn(x + h), dtype=np.float64) - np.asarray(fn(x - h), dtype=np.float64)) / (2 * h)


def _resolve_fn(name_or_fn) -> tuple[Callable, str, Callable | None]:
    """A function, its display name and (for a name) its derivative from ``actlab.numpy_ref`` if present."""
    if callable(name_or_fn):
        return name_or_fn, getattr(name_or_fn, "__name__", "f"), None
    import importlib
    ref = importlib.import_module("actlab.numpy_ref")
    key = _key(name_or_fn)
    fn = getattr(ref, key, None)
    if fn is None:
        raise ValueError(f"actlab.numpy_ref has no function {key!r}; pass the function itself")
    grad = next((getattr(ref, n) for n in (f"{key}_grad", f"{key}_derivative", f"d{key}") if hasattr(ref, n)), None)
    return fn, key, grad


def plot_activation(name_or_fn: str | Callable, derivative: Callable | None = None, *, name: str | None = None,
                    x: np.ndarray | None = None, axes=None, color: str | None = None, linestyle: str = "-",
                    label: str | None = None, xlabel: str = "x", title: bool = True):
    """Draw an activation (left) and its derivative (right) on labeled axes with a legend.

    Args:
        name_or_fn: a numpy function ``f(x)``, or a name in ``actlab.numpy_ref`` (its ``<name>_grad`` is then
            the derivative if it exists).
        derivative: ``f'(x)``; default: the name's ``_grad`` or a central difference of ``f``.
        name: the activation's name (colour and labels); default: the function's ``__name__``.
        x: the inputs (default 1001 points in [-5, 5]).
        axes: two axes to draw on (overlay several activations by passing the same axes again).
        color, linestyle, label: override the activation's colour, the line style, the legend label.
    Returns:
        ``(fig, (ax_f, ax_df))``.
    """
    use_style()
    fn, auto_name, auto_grad = _resolve_fn(name_or_fn)
    name = name or auto_name
    derivative = derivative or auto_grad or (lambda t: numeric_derivative(fn, t))
    x = np.linspace(-5.0, 5.0, 1001) if x is None else np.asarray(x, dtype=np.float64)
    new = axes is None
    if new:
        fig, axes = figure(2)
    else:
        fig = axes[0].figure
    ax_f, ax_d = axes
    color = color or color_of(name, default="#333333")
    label = label or name
    ax_f.plot(x, fn(x), color=color, linestyle=linestyle, label=label)
    ax_d.plot(x, derivative(x), color=color, linestyle=linestyle, label=f"{label}′")
    for ax, ylab, ttl in ((ax_f, "f(x)", "function"), (ax_d, "f′(x)", "derivative")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylab)
        if title:
            ax.set_title(ttl)
        if new:  # the axes through the origin, once
            ax.axhline(0, color="#999999", linewidth=0.8, zorder=0)
            ax.axvline(0, color="#999999", linewidth=0.8, zorder=0)
        ax.legend(loc="best")
    return fig, (ax_f, ax_d)


def plot_activation_sweep(fn: Callable, param: str, values: Sequence[float], *, name: str,
                          derivative: Callable | None = None, x: np.ndarray | None = None, symbol: str | None = None):
    """``fn(x, **{param: v})`` for each value, function and derivative side by side, in shades of the
    activation's colour (light = small). ``symbol`` is the legend's parameter symbol (e.g. ``"γ"``)."""
    use_style()
    x = np.linspace(-5.0, 5.0, 1001) if x is None else np.asarray(x, dtype=np.float64)
    fig, (ax_f, ax_d) = figure(2)
    for v, c in zip(values, shades(name, len(values))):
        f = lambda t, v=v: fn(t, **{param: v})  # noqa: E731
        d = (lambda t, v=v: derivative(t, **{param: v})) if derivative else None
        plot_activation(f, d, name=name, x=x, axes=(ax_f, ax_d), color=c, label=f"{symbol or param} = {v:g}")
    ax_f.set_title(f"{name}: function")
    ax_d.set_title(f"{name}: derivative")
    return fig, (ax_f, ax_d)


def plot_decision_boundary(ax, predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray, *,
                           activation: str | None = None, title: str | None = None, resolution: int = 150,
                           margin: float = 0.4):
    """Shade ``predict(grid)`` (P(class 1), 0 white to 1 grey), draw the p = 0.5 boundary in the activation's
    colour and the data (:data:`CLASS_STYLE`). ``predict`` maps an ``(N, 2)`` array to ``N`` probabilities."""
    use_style()
    X, y = np.asarray(X), np.asarray(y)
    lo, hi = X.min(0) - margin, X.max(0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    p = np.asarray(predict(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="Greys", alpha=0.35, vmin=0, vmax=1.6)
    color = color_of(activation, default="#333333") if activation else "#333333"
    if p.min() < 0.5 < p.max():
        ax.contour(gx, gy, p, levels=[0.5], colors=[color], linewidths=2.2)
    for k, style in enumerate(CLASS_STYLE):
        m = y == k
        ax.scatter(X[m, 0], X[m, 1], s=14, linewidths=0.7, label=f"class {k}", **style)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_aspect("equal", adjustable="box")
    ax.grid(False)
    if title:
        ax.set_title(title, color=color if activation else None)
    return ax


def plot_mean_spread(ax, x: Sequence[float], values: np.ndarray, *, label: str, color: str | None = None,
                     band: str = "minmax", show_seeds: bool = True, marker: str = "o"):
    """One quantity over seeds: ``values`` has shape ``(len(x), n_seeds)``. Draws the mean (line and
    markers), a band (``"minmax"`` or ``"std"``: mean ± one standard deviation) and each seed as a faint dot."""
    use_style()
    x, v = np.asarray(x, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != x.size:
        raise ValueError(f"values must have shape (len(x), n_seeds) = ({x.size}, n); got {v.shape}")
    color = color or color_of(label, default=None)
    mean = v.mean(1)
    if band == "minmax":
        lo, hi = v.min(1), v.max(1)
    elif band == "std":
        sd = v.std(1, ddof=1) if v.shape[1] > 1 else np.zeros_like(mean)
        lo, hi = mean - sd, mean + sd
    else:
        raise ValueError("band must be 'minmax' or 'std'")
    (line,) = ax.plot(x, mean, marker=marker, markersize=4, color=color,
                      label=f"{label} (mean, {'min–max' if band == 'minmax' else '± std'} over {v.shape[1]} seeds)")
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
    if show_seeds:
        ax.plot(np.repeat(x, v.shape[1]), v.ravel(), linestyle="none", marker=".", markersize=3,
                color=line.get_color(), alpha=0.45)
    return line


def plot_sweep(ax, x: Sequence[float], results: Mapping[str, np.ndarray], *, xlabel: str, ylabel: str,
               logx: bool = False, logy: bool = False, band: str = "minmax"):
    """Several curves over seeds (``{label: values of shape (len(x), n_seeds)}``) with labeled axes and a
    legend; a label that names an activation gets its colour."""
    use_style()
    for label, values in results.items():
        plot_mean_spread(ax, x, values, label=label, color=color_of(label, default=None), band=band)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log", base=2 if all(float(t).is_integer() and t > 0 for t in x) else 10)
    if logy:
        ax.set_yscale("log")
    ax.legend(loc="best")
    return ax


def plot_spread_bars(ax, groups: Mapping[str, Sequence[float]], *, ylabel: str, offset: float = 0.0,
                     width: float = 0.8, label_suffix: str = ""):
    """A bar per group at its mean, a min–max error bar, and every seed as a dot; colour by activation name.
    ``offset``/``width`` place grouped bars (e.g. one group per data set)."""
    use_style()
    names = list(groups)
    for i, nm in enumerate(names):
        v = np.asarray(groups[nm], dtype=np.float64)
        c = color_of(nm, default="#333333")
        m = v.mean()
        ax.bar(i + offset, m, width=width, color=c, alpha=0.8, label=f"{nm}{label_suffix}")
        ax.errorbar(i + offset, m, yerr=[[m - v.min()], [v.max() - m]], color="#222222", capsize=3, linewidth=1)
        ax.plot(np.full(v.size, i + offset), v, linestyle="none", marker=".", color="#222222", markersize=4)
    ax.set_xticks(np.arange(len(names)) + offset, names)
    ax.set_ylabel(ylabel)
    return ax
