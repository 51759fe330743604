"""Chapter 03 (tanh): case generators, evaluators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-tanh``              ``checks.cases.elementwise``,               ``actlab.numpy_ref.tanh``
                          :func:`extreme_inputs`
``ex2-tanh-grad``         ``checks.cases.elementwise``,               ``actlab.numpy_ref.tanh_grad``
                          :func:`extreme_inputs`
``ex3-scaled-tanh``       :func:`vjp_inputs`                          :func:`scaled_tanh_vjp`
``ex4-sigmoid-to-tanh``   :func:`sigmoid_nets`                        :func:`sigmoid_net_outputs` /
                                                                      :func:`eval_tanh_net`
========================  ==========================================  =========================================

:func:`sigmoid_to_tanh` (the theorem of the chapter: every sigmoid network is a tanh network with rescaled
weights and shifted biases) is the reference of ``ex4-sigmoid-to-tanh`` and is used by the chapter's
experiment.
"""
from __future__ import annotations

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator
from actlab.experiments import affine_forward

__all__ = ["HINTS", "LECUN_A", "LECUN_B", "extreme_inputs", "vjp_inputs", "scaled_tanh_vjp",
           "sigmoid_to_tanh", "sigmoid_nets", "net_points", "sigmoid_net_outputs", "eval_tanh_net"]

#: The hint each exercise's hidden check adds to a failure message (kept here, not in the hidden-test source,
#: so the grader's redaction of hidden-test lines leaves it readable in the feedback).
HINTS = {
    "ex1-tanh": "exponentiate only numbers <= 0: with t = exp(-2|x|) in (0, 1], tanh x = sign(x) (1 - t) / "
                "(1 + t); compute in the input's dtype",
    "ex1-tanh-extremes": "exp(x) overflows beyond x = 88.7 in float32 (709.8 in float64) and inf / inf is NaN; "
                         "a formula that only computes exp(-2|x|) never overflows and needs no np.errstate",
    "ex2-tanh-grad": "tanh'(x) = 1 - tanh(x)^2: square the value of tanh, not its derivative; keep the dtype",
    "ex3-scaled-tanh": "write backward yourself (autograd must not differentiate torch.tanh): save "
                       "t = tanh(B x) in forward, return grad_output * A * B * (1 - t * t)",
    "ex4-sigmoid-to-tanh": "σ(z) = (1 + tanh(z/2)) / 2: a hidden tanh unit must receive z/2, and the next layer "
                           "must undo h = t/2 + 1/2 (halve its weights, add W·(1/2) to its bias); the first layer "
                           "sees x itself and the last layer has no activation",
}


# --------------------------------------------------------------------------- ex1, ex2: elementwise extremes
@case_generator
def extreme_inputs(*, dtypes=("float32", "float64")) -> list:
    """Extreme inputs, each its own case per dtype: ±1000, ±89 and ±90 (where float32's exp overflows), ±710
    (float64's), ±inf, and one array mixing them with ordinary values."""
    out = []
    for dt in dtypes:
        dtype = np.dtype(dt)
        for v in (-1000.0, -710.0, -90.0, -89.0, 89.0, 90.0, 710.0, 1000.0, -np.inf, np.inf):
            out.append(Case(f"x = {v:g} ({dt})", (np.array(v, dtype=dtype),)))
        mixed = np.array([-1000.0, -89.5, -20.0, -1.0, 0.0, 0.5, 20.0, 89.5, 1000.0], dtype=dtype)
        out.append(Case(f"x = [-1000, -89.5, ..., 89.5, 1000] ({dt})", (mixed,)))
    return out


# --------------------------------------------------------------------------- ex3: LeCun's scaled tanh
#: LeCun, Bottou, Orr & Müller (1998), *Efficient BackProp*: f(x) = A tanh(B x), f(±1) = ±1
LECUN_A, LECUN_B = 1.7159, 2.0 / 3.0


def scaled_tanh_vjp(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g · A tanh(Bx), g · AB (1 - tanh²(Bx)))`` with LeCun's A = 1.7159, B = 2/3: the elementwise value of
    ``ScaledTanhFunction.apply(x) * g`` and the gradient of its sum with respect to ``x``, in ``x``'s dtype.
    Computed in float64 and rounded once."""
    x = np.asarray(x)
    x64, g64 = x.astype(np.float64), np.asarray(g, dtype=np.float64)
    t = numpy_ref.tanh(LECUN_B * x64)
    return ((g64 * LECUN_A * t).astype(x.dtype),
            (g64 * (LECUN_A * LECUN_B) * numpy_ref.tanh_grad(LECUN_B * x64)).astype(x.dtype))


@case_generator
def vjp_inputs(*, seed: int = 0) -> list:
    """``(x, g)`` pairs: random x of several shapes and dtypes with random upstream gradients g, g = 0,
    and extreme x (±30, ±1000) where the gradient must be exactly 0, not NaN."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in ("float32", "float64"):
        for shape in ((), (7,), (3, 5)):
            x = (2.5 * rng.standard_normal(shape)).astype(dt)
            g = rng.standard_normal(shape).astype(dt)
            out.append(Case(f"random x and g, shape {shape} ({dt}, seed {seed})", (x, g)))
        ext = np.array([-1000.0, -30.0, -1e-7, 0.0, 1e-7, 30.0, 1000.0], dtype=dt)
        out.append(Case(f"x = ±1000, ±30, ±1e-7, 0 with g = 1 ({dt})", (ext, np.ones_like(ext)),
                        hint="1 - t * t is exactly 0 where t = tanh(Bx) = ±1; the gradient must not be NaN"))
        xs = np.linspace(-3, 3, 9).astype(dt)
        out.append(Case(f"g = 0 everywhere ({dt})", (xs, np.zeros_like(xs))))
        out.append(Case(f"g = 3 (multiply by grad_output) ({dt})", (xs, np.full_like(xs, 3.0)),
                        hint="backward must multiply by grad_output: the chain rule"))
    return out


# --------------------------------------------------------------------------- ex4: sigmoid net -> tanh net
def _as_layers(layers):
    return [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in layers]


def sigmoid_to_tanh(layers):
    """The tanh network equal to a sigmoid network (σ after every layer but the last).

    With σ(z) = (1 + tanh(z/2))/2, hidden unit l of the tanh net computes t_l = tanh(z_l/2) = 2h_l − 1 of the
    sigmoid net's h_l. Layer l (of L) becomes

    .. math:: W'_l = c_l a_l W_l, \\qquad b'_l = c_l (b_l + o_l W_l \\mathbf{1})

    with a_1 = 1, o_1 = 0 (the first layer sees x), a_l = o_l = 1/2 for l ≥ 2 (it sees h = t/2 + 1/2), and
    c_l = 1/2 for l < L (tanh needs z/2), c_L = 1. Returns ``[(W'_1, b'_1), ...]`` in the layers' dtype.
    Reference for exercise ``ex4-sigmoid-to-tanh``."""
    out = []
    n = len(layers)
    for i, (W, b) in enumerate(layers):
        dtype = np.result_type(np.asarray(W).dtype, np.asarray(b).dtype)
        W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        a, o = (1.0, 0.0) if i == 0 else (0.5, 0.5)
        c = 0.5 if i < n - 1 else 1.0
        out.append(((c * a * W).astype(dtype), (c * (b + o * W.sum(axis=1))).astype(dtype)))
    return out


def _stack(rng, widths, scale=1.0):
    return [(scale * rng.standard_normal((o, i)), scale * rng.standard_normal(o))
            for i, o in zip(widths[:-1], widths[1:])]


@case_generator
def sigmoid_nets(*, seed: int = 0, n_random: int = 5) -> list:
    """Sigmoid networks ``[(W1, b1), ..., (WL, bL)]`` (σ between the layers, none after the last): random
    depths 2–5 and widths 1–6, and the edge cases (one layer, two layers, a scalar chain, large weights that
    saturate the units, ten layers deep, 32 wide, zero weights)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_random):
        widths = [int(w) for w in rng.integers(1, 7, size=int(rng.integers(3, 7)))]
        out.append(Case(f"random net {i} (seed {seed}): widths {'→'.join(map(str, widths))}",
                        (_stack(rng, widths),)))
    out += [
        Case("one layer 3→2 (no hidden activation: nothing changes)", (_stack(rng, [3, 2]),),
             hint="with a single layer there is no σ to convert: return the layer unchanged"),
        Case("two layers 2→3→1 (one hidden layer)", (_stack(rng, [2, 3, 1]),),
             hint="the first layer sees x itself: W1/2, b1/2; the last layer has no activation"),
        Case("a scalar chain 1→1→1→1→1", (_stack(rng, [1, 1, 1, 1, 1]),)),
        Case("large weights (×6): saturated units, widths 4→5→5→2", (_stack(rng, [4, 5, 5, 2], 6.0),)),
        Case("ten hidden layers 3→4→...→4→2", (_stack(rng, [3] + [4] * 10 + [2]),),
             hint="every middle layer sees h = t/2 + 1/2 and must hand tanh the value z/2"),
        Case("wide layers 32→32→32→10", (_stack(rng, [32, 32, 32, 10], 0.3),)),
    ]
    zero = _stack(rng, [3, 4, 4, 2])
    zero[1] = (np.zeros_like(zero[1][0]), zero[1][1])
    out.append(Case("layer 2 has all-zero weights 3→4→4→2", (zero,)))
    return out


def net_points(layers) -> np.ndarray:
    """Where two networks are compared: 24 random inputs (normal, std 2), x = 0, and two inputs of ±20 in
    every coordinate; fixed by the input width and the depth."""
    n_in = np.asarray(layers[0][0]).shape[1]
    rng = np.random.default_rng(7919 * n_in + len(layers))
    X = 2.0 * rng.standard_normal((24, n_in))
    return np.vstack([X, np.zeros((1, n_in)), np.full((1, n_in), 20.0), np.full((1, n_in), -20.0)])


def _entry_inputs(layers) -> np.ndarray:
    """The input row behind every entry of the flattened outputs (for messages)."""
    X = net_points(layers)
    n_out = np.asarray(layers[-1][0]).shape[0]
    return np.repeat(X, n_out, axis=0)


def sigmoid_net_outputs(layers) -> np.ndarray:
    """The sigmoid network's outputs at :func:`net_points`, flattened (float64)."""
    return affine_forward(_as_layers(layers), net_points(layers), numpy_ref.sigmoid).ravel()


def eval_tanh_net(params, layers) -> np.ndarray:
    """Run the returned layers as a tanh network at :func:`net_points` (flattened outputs), after checking
    that they form a stack of the same shapes as ``layers``; raises ``AssertionError`` saying what is
    wrong."""
    if not isinstance(params, (list, tuple)):
        raise AssertionError(f"return a list of (W, b) pairs; got {type(params).__name__}")
    if len(params) != len(layers):
        raise AssertionError(f"return one (W, b) per layer: {len(layers)} layer(s) in, {len(params)} out")
    conv = []
    for i, (item, (W, b)) in enumerate(zip(params, layers), 1):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise AssertionError(f"layer {i}: expected a pair (W, b), got {type(item).__name__}")
        Wt, bt = (np.asarray(a, dtype=np.float64) for a in item)
        if Wt.shape != np.shape(W) or bt.shape != np.shape(b):
            raise AssertionError(f"layer {i}: W and b must keep their shapes {np.shape(W)} and {np.shape(b)}; "
                                 f"got {Wt.shape} and {bt.shape}")
        conv.append((Wt, bt))
    return affine_forward(conv, net_points(layers), np.tanh).ravel()


eval_tanh_net.inputs = _entry_inputs  # messages then name the input row
