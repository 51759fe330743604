"""Chapter 05 (Leaky ReLU): case generators, evaluators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-backward``          :func:`leaky_layer_cases`                   :func:`leaky_layer_grads`
``ex2-inverse``           :func:`leaky_layers` (each case carries     the input ``x`` that produced ``y``
                          its expected ``x``)
``ex3-mirror``            :func:`mirror_stacks`                       :func:`mirror_reference` /
                                                                      :func:`eval_mirror`
``ex4-prelu``             :func:`prelu_cases`                         :func:`prelu_reference`, the student's
                                                                      module run by :func:`prelu_probe`
========================  ==========================================  =========================================
"""
from __future__ import annotations

import numpy as np

from actlab.checks import Case, case_generator

__all__ = ["HINTS", "PRELU_FORBID", "leaky_layer_cases", "leaky_layer_grads", "leaky_forward", "leaky_layers", "mirror_stacks", "mirror_points",
           "mirror_reference", "eval_mirror", "prelu_cases", "prelu_reference", "prelu_probe"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-backward": "recompute z = x W^T + b; dz = G * f'(z) with f'(z) = 1 where z > 0 and gamma elsewhere "
                    "(z = 0 included, any gamma >= 0); then dx = dz W, dW = dz^T x, db = dz summed over the rows; "
                    "keep x's dtype (np.where(z > 0, 1.0, gamma) is float64)",
    "ex2-inverse": "undo the layer from the outside in: first the activation (y / gamma where y <= 0), then the "
                   "bias, then solve W x = ... (np.linalg.solve; for a batch of rows solve with the transpose)",
    "ex3-mirror": "leaky_gamma(z) = -gamma * leaky_(1/gamma)(-z): negate every hidden layer's pre-activation, and "
                  "let the next layer absorb the factor -gamma; the output layer only absorbs it",
    "ex4-prelu": "dy/dx is 1 where x > 0 and a elsewhere; dy/da is x where x <= 0 and 0 elsewhere; multiply by "
                 "grad_output and sum dL/da over every axis except the channel axis 1 (all axes for one "
                 "shared slope); forward must return PReLUFunction.apply(x, self.weight)",
}


#: What the PReLU exercise may not call: torch's own prelu, by name or as the ATen kernels it dispatches to.
PRELU_FORBID = ("torch.nn.functional.prelu", "torch.prelu", "aten._prelu_kernel", "aten._prelu_kernel_backward")


# --------------------------------------------------------------------------- ex1: backward through a layer
@case_generator
def leaky_layer_cases(*, seed: int = 0) -> list:
    """``(x, W, b, G, gamma)`` for ``h = leaky_relu(x W^T + b)`` and ``G = dL/dh``: random layers with the
    usual slopes, the edge slopes 0 (ReLU), 1 (the identity) and 3 (> 1), one row, pre-activations exactly 0,
    float64 and float32."""
    rng = np.random.default_rng(seed)
    out = []
    specs = [(5, 3, 4, 0.1, "float64"), (16, 8, 8, 0.01, "float64"), (1, 6, 2, 0.3, "float64"),
             (7, 4, 5, 0.0, "float64"), (6, 3, 3, 1.0, "float64"), (8, 5, 4, 3.0, "float64"),
             (10, 6, 6, 0.2, "float32"), (4, 3, 5, 0.05, "float32")]
    hints = {0.0: "gamma = 0 is ReLU: no gradient flows where z <= 0",
             1.0: "gamma = 1: the layer is affine, dL/dz = G",
             3.0: "a slope > 1 is allowed: f'(z) = 1 for z > 0 and gamma for z <= 0"}
    for n, d_in, d_out, g, dt in specs:
        x = rng.normal(0.0, 1.5, size=(n, d_in)).astype(dt)
        W = rng.normal(0.0, 1.0 / np.sqrt(d_in), size=(d_out, d_in)).astype(dt)
        b = rng.normal(0.0, 0.5, size=d_out).astype(dt)
        G = rng.normal(size=(n, d_out)).astype(dt)
        rows = "one row" if n == 1 else f"{n} rows"
        out.append(Case(f"{rows}, {d_in} -> {d_out} units, gamma = {g} ({dt}, seed {seed})", (x, W, b, G, g),
                        hint=hints.get(g, "")))
    x0, b0 = np.zeros((3, 4)), np.zeros(2)
    W0, G0 = rng.normal(size=(2, 4)), rng.normal(size=(3, 2))
    out.append(Case("x = 0 and b = 0: every pre-activation is exactly 0, gamma = 0.2 (float64)", (x0, W0, b0, G0, 0.2),
                    hint="z = 0 is on the negative branch: f'(0) = gamma, as in torch"))
    return out


def leaky_layer_grads(x, W, b, G, gamma):
    """``(dL/dx, dL/dW, dL/db)`` of ``h = leaky_relu(x W^T + b)`` for ``dL/dh = G`` (computed in float64,
    returned in x's dtype): ``dz = G * f'(z)`` with ``f'(z) = 1`` for ``z > 0``, ``gamma`` for ``z <= 0``;
    ``dx = dz W``, ``dW = dz^T x``, ``db = sum_rows dz``."""
    dtype = np.asarray(x).dtype
    x, W, b, G = (np.asarray(a, dtype=np.float64) for a in (x, W, b, G))
    z = x @ W.T + b
    dz = G * np.where(z > 0, 1.0, gamma)
    return tuple(a.astype(dtype) for a in (dz @ W, dz.T @ x, dz.sum(axis=0)))


def leaky_forward(layers, x: np.ndarray, gamma: float) -> np.ndarray:
    """Run rows ``x`` through the stack ``[(W1, b1), ...]`` with Leaky ReLU (slope ``gamma``) between layers
    (none after the last), in float64."""
    h = np.asarray(x, dtype=np.float64)
    for i, (W, b) in enumerate(layers):
        h = h @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        if i < len(layers) - 1:
            h = np.where(h > 0, h, gamma * h)
    return h


# --------------------------------------------------------------------------- ex2: invert a leaky layer
def _well_conditioned(rng, d: int) -> np.ndarray:
    """A random d x d matrix with singular values in [0.7, 1.4] (condition number <= 2)."""
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q1 @ np.diag(rng.uniform(0.7, 1.4, size=d)) @ q2


@case_generator
def leaky_layers(*, seed: int = 0) -> list:
    """``(W, b, y, gamma)`` with ``y = leaky_relu(x W^T + b)`` for a hidden ``x`` (the expected answer): one
    input ``(d,)`` or a batch ``(n, d)``, slopes from 0.01 to 2.5, float64 and float32, d = 1 to 16."""
    rng = np.random.default_rng(seed)
    out = []
    specs = [(3, None, 0.1, "float64"), (8, 5, 0.01, "float64"), (16, 20, 0.2, "float64"), (1, None, 0.5, "float64"),
             (4, 6, 1.0, "float64"), (5, 7, 2.5, "float64"), (6, 4, 0.1, "float32"), (3, None, 0.01, "float32")]
    for d, n, g, dt in specs:
        W, b = _well_conditioned(rng, d), rng.normal(0.0, 0.5, size=d)
        x = rng.standard_normal(d if n is None else (n, d))
        z = x @ W.T + b
        y = np.where(z > 0, z, g * z)
        cast = lambda a: a.astype(dt)  # noqa: E731
        shape = f"y of shape ({d},)" if n is None else f"a batch y of shape ({n}, {d})"
        hint = ""
        if g == 1.0:
            hint = "gamma = 1: the layer is affine, x = W^-1 (y - b)"
        elif n is not None:
            hint = "each row of y is one output: solve for all rows at once (np.linalg.solve(W, (u - b).T).T)"
        out.append(Case(f"{shape}, d = {d}, gamma = {g} ({dt}, seed {seed})",
                        (cast(W), cast(b), cast(y), g), expected=cast(x), hint=hint))
    return out


# --------------------------------------------------------------------------- ex3: the mirrored network
@case_generator
def mirror_stacks(*, seed: int = 0) -> list:
    """``(layers, gamma)``: random stacks with 1 to 5 layers and slopes 0.01 to 4 (1 included)."""
    rng = np.random.default_rng(seed)
    out = []
    specs = [([2, 8, 1], 0.1), ([3, 6, 6, 2], 0.01), ([4, 5, 7, 3, 2], 0.3), ([2, 3, 3, 3, 3, 1], 4.0),
             ([3, 4, 2], 1.0), ([5, 5], 0.2), ([1, 16, 1], 0.5), ([2, 1, 1, 2], 0.05)]
    for widths, g in specs:
        layers = [(rng.standard_normal((o, i)), rng.standard_normal(o)) for i, o in zip(widths[:-1], widths[1:])]
        arrow = "→".join(map(str, widths))
        hint = ""
        if len(widths) == 2:
            hint = "a single layer has no activation: it is its own mirror"
        elif g == 1.0:
            hint = "gamma = 1 is its own mirror (1/gamma = 1), but the construction must work for it too"
        out.append(Case(f"widths {arrow}, gamma = {g} (seed {seed})", (layers, g), hint=hint))
    return out


def mirror_points(layers, gamma: float) -> np.ndarray:
    """The 64 fixed inputs (rows) at which the networks are compared (seeded by the input width)."""
    d = np.asarray(layers[0][0]).shape[1]
    return np.random.default_rng(1000 + d).normal(0.0, 2.0, size=(64, d))


def mirror_reference(layers, gamma: float) -> np.ndarray:
    """The original network (slope ``gamma``) at :func:`mirror_points`."""
    return leaky_forward(layers, mirror_points(layers, gamma), gamma)


def eval_mirror(params, layers, gamma: float) -> np.ndarray:
    """The student's network ``params`` run with slope ``1 / gamma`` at :func:`mirror_points`, after checking
    that it is a list of ``(W, b)`` with the original's shapes."""
    if not isinstance(params, (list, tuple)) or len(params) != len(layers):
        n = len(params) if isinstance(params, (list, tuple)) else None
        raise AssertionError(f"return a list of {len(layers)} layers (W, b); got "
                             f"{type(params).__name__}" + (f" of length {n}" if n is not None else ""))
    checked = []
    for i, (item, (W0, b0)) in enumerate(zip(params, layers), 1):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise AssertionError(f"layer {i} must be a pair (W, b); got {type(item).__name__}")
        W, b = (np.asarray(a, dtype=np.float64) for a in item)
        if W.shape != np.shape(W0) or b.shape != np.shape(b0):
            raise AssertionError(f"layer {i}: W must have shape {np.shape(W0)} and b {np.shape(b0)} (as the "
                                 f"original); got {W.shape} and {b.shape}")
        checked.append((W, b))
    return leaky_forward(checked, mirror_points(layers, gamma), 1.0 / gamma)


eval_mirror.inputs = mirror_points  # messages then name the failing input row


# --------------------------------------------------------------------------- ex4: PReLU
@case_generator
def prelu_cases(*, seed: int = 0, dtypes=("float64", "float32")) -> list:
    """``(x, a, grad_output)``: a slope per channel (axis 1) for 2-, 3- and 4-D inputs, one shared slope for
    1- to 3-D inputs, negative slopes and slopes > 1, zeros in x; float64 and float32."""
    rng = np.random.default_rng(seed)
    out = []
    specs = [((5, 3), 3, "a batch of 5, 3 channels"), ((2, 4, 5), 4, "(batch, channels, length) = (2, 4, 5)"),
             ((2, 3, 4, 4), 3, "images (2, 3, 4, 4)"), ((6,), 1, "a 1-D input, one shared slope"),
             ((3, 4, 2), 1, "one shared slope for a (3, 4, 2) input"), ((4, 6), 6, "slopes in [-1, 2]")]
    for dt in dtypes:
        d = np.dtype(dt)
        for shape, c, what in specs:
            x = rng.normal(0.0, 2.0, size=shape)
            a = rng.uniform(-1.0, 2.0, size=c) if "[-1, 2]" in what else rng.uniform(0.05, 0.5, size=c)
            g = rng.normal(size=shape)
            hint = ("sum dL/da over every axis except axis 1" if c > 1 and len(shape) > 2 else
                    "with one shared slope, dL/da sums over every entry" if c == 1 else "")
            out.append(Case(f"{what}, x {shape}, a ({c},) ({dt}, seed {seed})",
                            (x.astype(d), a.astype(d), g.astype(d)), hint=hint))
        x0 = np.array([[0.0, -0.0, 1.5], [-2.0, 0.0, 3.0]], dtype=d)
        out.append(Case(f"zeros in x, a = [0.1, 0.2, 0.3] ({dt})", (x0, np.array([0.1, 0.2, 0.3], dtype=d),
                                                                     np.ones((2, 3), dtype=d)),
                        hint="x = 0 is on the negative branch, as in torch: dy/dx = a there, and dy/da = x = 0"))
    return out


def prelu_reference(x: np.ndarray, a: np.ndarray, g: np.ndarray) -> tuple:
    """``(y, dL/dx, dL/da)`` of PReLU for ``L = sum(g * y)``: ``y = x`` where ``x > 0``, ``a_c x`` elsewhere,
    with the slope of channel ``c`` along axis 1 (one shared slope when ``a`` has one entry)."""
    x, a, g = (np.asarray(v) for v in (x, a, g))
    dtype = x.dtype
    x64, a64, g64 = (v.astype(np.float64) for v in (x, a, g))
    if a64.size == 1:
        ab = a64.reshape(())
    else:
        ab = a64.reshape((1, -1) + (1,) * (x64.ndim - 2))
    pos = x64 > 0
    y = np.where(pos, x64, ab * x64)
    dx = g64 * np.where(pos, 1.0, ab)
    contrib = g64 * np.where(pos, 0.0, x64)
    da = np.array([contrib.sum()]) if a64.size == 1 else contrib.sum(axis=tuple(i for i in range(x64.ndim) if i != 1))
    return y.astype(dtype), dx.astype(dtype), da.astype(dtype)


def prelu_probe(module_class):
    """A function ``(x, a, g) -> (y, dL/dx, dL/da)`` that runs the student's ``PReLU`` module class: it builds
    ``module_class(num_parameters=len(a), init=0.25)`` in x's dtype, checks its parameter ``weight`` (shape
    ``(len(a),)``, all 0.25, registered), sets it to ``a``, computes ``y`` and backpropagates ``L = sum(g*y)``.
    The output must come from a ``torch.autograd.Function`` (a hand-written backward)."""
    import torch

    def run(x, a, g):
        x_t = torch.tensor(np.asarray(x), requires_grad=True)
        m = module_class(num_parameters=int(np.size(a)), init=0.25)
        w = getattr(m, "weight", None)
        if not isinstance(w, torch.nn.Parameter):
            raise AssertionError("the module needs a parameter self.weight = nn.Parameter(...)")
        if not any(p is w for p in m.parameters()):
            raise AssertionError("self.weight is not registered: assign it in __init__ after super().__init__()")
        if tuple(w.shape) != (int(np.size(a)),):
            raise AssertionError(f"PReLU(num_parameters={np.size(a)}) needs weight of shape ({np.size(a)},); "
                                 f"got {tuple(w.shape)}")
        if not torch.all(w.detach() == torch.tensor(0.25, dtype=w.dtype)):
            raise AssertionError(f"PReLU(init=0.25) must start with every slope at 0.25; got {w.detach().tolist()}")
        m = m.to(x_t.dtype)
        with torch.no_grad():
            m.weight.copy_(torch.as_tensor(np.asarray(a)))
        y = m(x_t)
        if not isinstance(y, torch.Tensor):
            raise AssertionError(f"forward must return a tensor; got {type(y).__name__}")
        if not isinstance(y.grad_fn, torch.autograd.function.BackwardCFunction):
            raise AssertionError("the output was not computed by a torch.autograd.Function: forward must return "
                                 "PReLUFunction.apply(x, self.weight), whose backward you write by hand")
        (y * torch.as_tensor(np.asarray(g))).sum().backward()
        if x_t.grad is None or m.weight.grad is None:
            raise AssertionError("backward must return two gradients: (dL/dx, dL/da)")
        return y.detach(), x_t.grad, m.weight.grad

    return run
