"""Chapter 01 (vanishing gradients): case generators and hints for its exercises. The references are the
numpy functions of :mod:`actlab.gradflow`.

==========================  ==================================  ===========================================
exercise                    cases                               reference
==========================  ==================================  ===========================================
``ex1-dense-backward``      :func:`dense_layers`                ``actlab.gradflow.dense_backward``
``ex2-grad-norms``          :func:`deep_nets`                   ``actlab.gradflow.backprop_grad_norms``
``ex3-saturation``          :func:`saturation_nets`             ``actlab.gradflow.saturation_per_layer``
``ex4-bound``               :func:`sigmoid_nets`                ``actlab.gradflow.jacobian_and_bound``
==========================  ==================================  ===========================================
"""
from __future__ import annotations

import numpy as np

from actlab.checks import Case, case_generator

__all__ = ["HINTS", "random_layers", "dense_layers", "deep_nets", "saturation_nets", "sigmoid_nets"]

ACTS = ("sigmoid", "tanh", "relu")

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source).
HINTS = {
    "ex1-dense-backward": "z = x W^T + b, delta = grad_out * f'(z) (elementwise); then grad_x = delta W, "
                          "grad_W = delta^T x (shape like W), grad_b = delta summed over the batch; "
                          "compute f'(z) without overflow (sigmoid'(z) = s(1 - s) with a stable s) and "
                          "use relu'(0) = 0",
    "ex2-grad-norms": "store every z_l and h_l on the way up; on the way down start from "
                      "delta_L = (z_L - y) / n, take ||delta_l^T h_(l-1)|| (Frobenius), then "
                      "delta_(l-1) = (delta_l W_l) * f'(z_(l-1)); return the norms in layer order 1..L",
    "ex3-saturation": "a unit is saturated on an input when f'(z) < eps * max f' (max f' is 1/4 for "
                      "sigmoid, 1 for tanh and relu, and relu'(0) = 0); average over inputs and units of "
                      "each hidden layer, and leave out the output layer",
    "ex4-bound": "multiply the layer Jacobians diag(sigma'(z_l)) W_l from the first layer up "
                 "(J = D_L W_L ... D_1 W_1), take spectral norms (np.linalg.norm(A, 2)), and "
                 "multiply (1/4)^L by the spectral norms of all W_l",
}


def random_layers(rng: np.random.Generator, widths, scale: float = 1.0, bias: float = 0.1,
                  dtype=np.float64) -> list:
    """Layers ``[(W, b), ...]`` for ``widths[0] -> widths[1] -> ...`` with ``W ~ N(0, scale^2 / fan_in)``
    and ``b ~ N(0, bias^2)``."""
    return [((scale / np.sqrt(i) * rng.standard_normal((o, i))).astype(dtype),
             (bias * rng.standard_normal(o)).astype(dtype)) for i, o in zip(widths[:-1], widths[1:])]


def _arrow(widths) -> str:
    return "→".join(str(int(w)) for w in widths)


# --------------------------------------------------------------------------- ex1: one layer's backward
@case_generator
def dense_layers(*, seed: int = 0) -> list:
    """``(x, W, b, grad_out, activation)`` for one dense layer: random shapes for every activation in
    float64 and float32, a batch of one, one output unit, huge pre-activations (|z| in the thousands), and
    exact zeros for ReLU."""
    rng = np.random.default_rng(seed)
    out = []

    def layer(n, n_in, n_out, act, dtype=np.float64, scale=1.0):
        x = rng.standard_normal((n, n_in))
        W = scale * rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        b = 0.3 * rng.standard_normal(n_out)
        g = rng.standard_normal((n, n_out))
        return tuple(a.astype(dtype) for a in (x, W, b, g)) + (act,)

    for act in ACTS:
        out.append(Case(f"{act}: random 5 inputs, 3 → 4 units (float64, seed {seed})", layer(5, 3, 4, act)))
        out.append(Case(f"{act}: random 7 inputs, 6 → 2 units (float32)", layer(7, 6, 2, act, np.float32),
                        hint="keep the input's dtype: float32 in, float32 out"))
    out.append(Case("tanh: a batch of one input, 4 → 3", layer(1, 4, 3, "tanh")))
    out.append(Case("sigmoid: one output unit, 3 → 1", layer(6, 3, 1, "sigmoid"),
                    hint="grad_b has shape (n_out,) = (1,), grad_W shape (1, 3)"))
    for act, dtype in (("sigmoid", np.float64), ("sigmoid", np.float32), ("tanh", np.float64)):
        x, W, b, g, _ = layer(4, 3, 5, act, dtype, scale=800.0)
        out.append(Case(f"{act}: huge pre-activations (|z| in the hundreds and thousands, "
                        f"{np.dtype(dtype).name})", (x, W, b, g, act),
                        hint="f'(z) must be 0 (not NaN) where the unit is saturated: exp(-z) / (1 + exp(-z))**2 "
                             "is inf / inf = NaN at z = -1000; use s (1 - s) with a stable s"))
    x = np.zeros((3, 2))
    out.append(Case("relu: z = 0 exactly (x = 0, b = 0)", (x, rng.standard_normal((4, 2)), np.zeros(4),
                                                         rng.standard_normal((3, 4)), "relu"),
                    hint="use relu'(0) = 0, as PyTorch does"))
    out.append(Case("relu: a wide layer, 32 inputs, 64 → 48", layer(32, 64, 48, "relu")))
    return out


# --------------------------------------------------------------------------- ex2: per-layer gradient norms
@case_generator
def deep_nets(*, seed: int = 0) -> list:
    """``(layers, x, y, activation)``: random deep nets (1 to 20 layers) for every activation; one layer
    (no hidden layer), a batch of one, a 20-layer sigmoid net whose first-layer gradient is ~1e-9 of the
    last one, saturated tanh, and a ReLU net with dead units."""
    rng = np.random.default_rng(seed)
    out = []

    def case(widths, act, n=8, scale=1.0, bias=0.1, note=""):
        layers = random_layers(rng, widths, scale, bias)
        x = rng.standard_normal((n, widths[0]))
        y = rng.standard_normal((n, widths[-1]))
        return Case(f"{act}: widths {_arrow(widths)}, batch {n}{note} (seed {seed})", (layers, x, y, act))

    for act in ACTS:
        out.append(case([3, 5, 4, 2], act))
        out.append(case([4] + [6] * 5 + [3], act, n=16))
    out.append(case([5, 3], "tanh", note=", a single linear layer (no hidden layer)"))
    out.append(case([2, 4, 1], "sigmoid", n=1, note=" (one input)"))
    out.append(case([8] + [8] * 20 + [2], "sigmoid", n=32, note=", 20 hidden layers (gradients ~1e-9)"))
    out.append(case([6, 8, 8, 8, 3], "tanh", scale=4.0, note=", large weights (many saturated units)"))
    out.append(case([6, 8, 8, 8, 3], "relu", bias=2.0, note=", biases ~N(0, 4) (some dead units)"))
    out.append(case([10, 1, 10, 4], "relu", note=", a 1-unit bottleneck"))
    return out


# --------------------------------------------------------------------------- ex3: saturation fractions
@case_generator
def saturation_nets(*, seed: int = 0) -> list:
    """``(layers, x, activation)`` and optionally ``eps``: random nets at several weight scales for every
    activation, a single hidden layer, exact zeros for ReLU, and ``eps = 0.1``."""
    rng = np.random.default_rng(seed)
    out = []
    for act in ACTS:
        for scale in (1.0, 6.0):
            widths = [5, 16, 16, 16, 2]
            out.append(Case(f"{act}: widths {_arrow(widths)}, weight scale {scale:g}, 64 inputs (seed {seed})",
                            (random_layers(rng, widths, scale, 0.5), rng.standard_normal((64, 5)), act)))
    out.append(Case("sigmoid: one hidden layer 3→40→1, large inputs",
                    (random_layers(rng, [3, 40, 1]), 8 * rng.standard_normal((50, 3)), "sigmoid")))
    out.append(Case("tanh: eps = 0.1", (random_layers(rng, [4, 20, 20, 1], 3.0), rng.standard_normal((30, 4)),
                                        "tanh"), {"eps": 0.1}, hint="use the eps you are given"))
    layers = random_layers(rng, [3, 6, 6, 2])
    layers[0] = (layers[0][0], np.zeros(6))
    x0 = np.vstack([np.zeros((4, 3)), rng.standard_normal((4, 3))])
    out.append(Case("relu: z = 0 exactly on half the inputs (x = 0, b_1 = 0)", (layers, x0, "relu"),
                    hint="relu'(0) = 0, so a unit with z = 0 counts as saturated"))
    return out


# --------------------------------------------------------------------------- ex4: Jacobian norm and bound
@case_generator
def sigmoid_nets(*, seed: int = 0) -> list:
    """``(layers, x)`` of all-sigmoid nets: random depths 1-10 and widths 1-8 at several scales, a chain
    of scalar layers, a rank-one layer, saturated units."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(6):
        widths = rng.integers(1, 9, size=int(rng.integers(2, 12)))
        scale = float(rng.choice([0.5, 2.0, 4.0]))
        out.append(Case(f"random net {i}: widths {_arrow(widths)}, scale {scale:g} (seed {seed})",
                        (random_layers(rng, widths, scale, 0.5), rng.standard_normal(widths[0]))))
    out.append(Case("a chain of scalar layers 1→1→1→1", (random_layers(rng, [1, 1, 1, 1], 2.0), np.array([0.3]))))
    out.append(Case("one layer 4→3", (random_layers(rng, [4, 3]), rng.standard_normal(4)),
                    hint="with L = 1 the Jacobian is diag(sigma'(z)) W and the bound is ||W||_2 / 4"))
    u, v = rng.standard_normal((5, 1)), rng.standard_normal((1, 5))
    out.append(Case("a rank-one layer 5→5→2", ([(u @ v, np.zeros(5)), (rng.standard_normal((2, 5)), np.zeros(2))],
                                               rng.standard_normal(5)),
                    hint="spectral norms, not Frobenius norms (they differ unless the matrix has rank one)"))
    out.append(Case("saturated: large weights 3→6→6→2", (random_layers(rng, [3, 6, 6, 2], 20.0),
                                                         rng.standard_normal(3))))
    out.append(Case("wide 16→32→32→4", (random_layers(rng, [16, 32, 32, 4]), rng.standard_normal(16))))
    return out
