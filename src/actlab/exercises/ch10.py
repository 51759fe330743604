"""Chapter 10 (SwiGLU and the GLU family): case generators, references and runners for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / runner
========================  ==========================================  =========================================
``ex1-swiglu``            :func:`gate_inputs`                         :func:`swiglu_reference`
``ex2-llama-hidden``      :func:`llama_sizes`                         ``actlab.modules.llama_hidden_size``
``ex3-gated-ffn``         :func:`ffn_cases`                           :func:`gated_ffn_reference`, run by
                                                                      :func:`run_gated_ffn`
``ex4-ffn-backward``      :func:`backward_cases`                      :func:`ffn_backward_reference`
========================  ==========================================  =========================================
"""
from __future__ import annotations

import functools

import numpy as np

from actlab import numpy_ref
from actlab.checks import Case, case_generator

__all__ = ["HINTS", "gate_inputs", "swiglu_reference", "llama_sizes", "GATES", "ffn_cases", "gated_ffn_reference",
           "run_gated_ffn", "gated_ffn_runner", "ffn_backward_reference", "backward_cases"]

HINTS = {
    "ex1-swiglu": "silu(a) = a sigma(a) with sigma from exp(-|a|) (never exp of a positive number); "
                  "d/da = silu'(a) b with silu'(a) = sigma(a) + a sigma(a) sigma(-a); d/db = silu(a); keep the dtype",
    "ex2-llama-hidden": "hidden = int(2 * 4 * d_model / 3); if ffn_dim_multiplier is given, hidden = "
                        "int(ffn_dim_multiplier * hidden); then round UP to a multiple of multiple_of; return an int",
    "ex3-gated-ffn": "three bias-free nn.Linear layers w: d -> h, v: d -> h, w2: h -> d with h = 2 * d_ff // 3; "
                     "forward returns w2(gate(w(x)) * v(x)); the gate acts on w's output; exact GELU (erf) for geglu",
    "ex4-ffn-backward": "with a = xW, b = xV, h = silu(a) b and H = g W2^T: dW2 = h^T g, da = H b silu'(a), "
                        "db = H silu(a), dW = x^T da, dV = x^T db, dx = da W^T + db V^T",
}


# --------------------------------------------------------------------------- ex1: the gate and its partials
def swiglu_reference(a, b):
    """``(silu(a) b, silu'(a) b, silu(a))`` elementwise, in a's dtype."""
    return numpy_ref.swiglu(a, b), *numpy_ref.swiglu_grad(a, b)


@case_generator
def gate_inputs(*, seed: int = 0, dtypes=("float32", "float64")) -> list:
    """``(a, b)`` pairs: random arrays of several shapes, log-uniform magnitudes, zeros, and extreme gate inputs
    (±1000, ±(exp overflow + 1), ±30) with ordinary values."""
    rng = np.random.default_rng(seed)
    out = []
    for dt in dtypes:
        dtype = np.dtype(dt)
        for shape in ((), (16,), (3, 7), (2, 3, 4)):
            a, b = (rng.normal(0, 3, shape).astype(dtype) for _ in range(2))
            out.append(Case(f"random a and b, shape {shape} ({dt}, seed {seed})", (a, b)))
        mags = (10.0 ** rng.uniform(-3, 3, 20) * rng.choice([-1.0, 1.0], 20)).astype(dtype)
        out.append(Case(f"a with magnitudes 1e-3..1e3, b random ({dt})", (mags, rng.normal(size=20).astype(dtype))))
        out.append(Case(f"a = [0, -0, 0], b = [1, 2, -3] ({dt})",
                        (np.array([0.0, -0.0, 0.0], dtype), np.array([1.0, 2.0, -3.0], dtype))))
        edge = 90.0 if dtype.itemsize <= 4 else 710.0
        ext = np.array([-1000.0, -edge, -30.0, 30.0, edge, 1000.0], dtype)
        out.append(Case(f"a = ±1000, ±{edge:g}, ±30, b = 0.5 ({dt})", (ext, np.full(6, 0.5, dtype)),
                        hint="an extreme gate input: exp(-a) overflows for a < -88.7 (float32); only exponentiate "
                             "numbers <= 0"))
    return out


# --------------------------------------------------------------------------- ex2: Llama's hidden size
@case_generator
def llama_sizes() -> list:
    """``(d_model, multiple_of, ffn_dim_multiplier)``: the Llama family's published configurations and edge
    cases (an exact multiple, multiple_of = 1, a multiplier below 1, tiny models)."""
    rows = [
        ("Llama 7B: d = 4096", 4096, 256, None), ("Llama 13B: d = 5120", 5120, 256, None),
        ("Llama 33B: d = 6656", 6656, 256, None), ("Llama 65B: d = 8192", 8192, 256, None),
        ("Llama 2 70B: d = 8192, multiplier 1.3, multiple of 4096", 8192, 4096, 1.3),
        ("Llama 3 8B: d = 4096, multiplier 1.3, multiple of 1024", 4096, 1024, 1.3),
        ("d = 384 (8d/3 = 1024 is already a multiple of 256)", 384, 256, None),
        ("d = 48, multiple_of = 1 (no rounding)", 48, 1, None),
        ("d = 100, multiple_of = 1 (8d/3 = 266.67 is truncated)", 100, 1, None),
        ("d = 64, multiple_of = 64", 64, 64, None),
        ("d = 1, multiple_of = 8", 1, 8, None),
        ("d = 768, multiplier 0.5, multiple of 32", 768, 32, 0.5),
        ("d = 4096, multiplier 1.0 (the same as none)", 4096, 256, 1.0),
    ]
    return [Case(label, (d, m), {} if mult is None else {"ffn_dim_multiplier": mult},
                 hint="round up, not to the nearest: -(-n // k) * k" if d == 4096 and mult is None else "")
            for label, d, m, mult in rows]


# --------------------------------------------------------------------------- ex3: a parameter-matched gated FFN
GATES = {
    "glu": numpy_ref.sigmoid,
    "bilinear": lambda a: a,
    "reglu": numpy_ref.relu,
    "geglu": numpy_ref.gelu,
    "swiglu": numpy_ref.silu,
}


def _ffn_weights(d_model: int, d_ff: int, seed: int):
    h = 2 * d_ff // 3
    rng = np.random.default_rng(seed)
    W, V = rng.normal(0, 1 / np.sqrt(d_model), (2, d_model, h))
    W2 = rng.normal(0, 1 / np.sqrt(h), (h, d_model))
    x = rng.normal(0, 2, (5, d_model))
    return x, W, V, W2


def gated_ffn_reference(d_model, d_ff, variant, seed):
    """``(parameter count 3 d h, output (f(xW) * xV) W2)`` for ``h = 2 d_ff // 3`` and the seeded weights and
    input of :func:`run_gated_ffn`."""
    x, W, V, W2 = _ffn_weights(d_model, d_ff, seed)
    return 3 * d_model * (2 * d_ff // 3), (GATES[variant](x @ W) * (x @ V)) @ W2


def run_gated_ffn(cls, d_model, d_ff, variant, seed):
    """Build ``cls(d_model, d_ff, variant)``, count its parameters, load seeded weights into its ``w``, ``v``,
    ``w2`` (``nn.Linear`` layers) and run it in float64 on a seeded ``(5, d_model)`` input. Returns
    ``(parameter count, output)``."""
    import torch
    from torch import nn
    module = cls(d_model, d_ff, variant)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{cls.__name__}(...) must be an nn.Module, got {type(module).__name__}")
    n_params = int(sum(p.numel() for p in module.parameters()))
    x, W, V, W2 = _ffn_weights(d_model, d_ff, seed)
    module = module.double()
    expected = {"w": (W.T.shape), "v": (W.T.shape), "w2": (W2.T.shape)}
    with torch.no_grad():
        for name, M in (("w", W), ("v", V), ("w2", W2)):
            layer = getattr(module, name, None)
            if not isinstance(layer, nn.Linear):
                raise AttributeError(f"the module needs an nn.Linear attribute {name!r} (got "
                                     f"{type(layer).__name__})")
            if tuple(layer.weight.shape) != expected[name]:
                raise ValueError(f"{name}.weight has shape {tuple(layer.weight.shape)}; expected "
                                 f"{expected[name]} (nn.Linear stores (out_features, in_features))")
            layer.weight.copy_(torch.from_numpy(M.T))
        y = module(torch.from_numpy(x))
    return n_params, y.numpy()


def gated_ffn_runner(cls):
    """``functools.partial(run_gated_ffn, cls)``: the callable a test cell checks."""
    return functools.partial(run_gated_ffn, cls)


@case_generator
def ffn_cases(*, seed: int = 0) -> list:
    """``(d_model, d_ff, variant, seed)``: every variant at a few sizes, d_ff divisible by 3 or not."""
    out = []
    for i, variant in enumerate(GATES):
        for d_model, d_ff in ((8, 32), (6, 16), (12, 50)):
            out.append(Case(f"{variant}: d_model = {d_model}, d_ff = {d_ff}", (d_model, d_ff, variant, seed + i),
                            hint="h = 2 * d_ff // 3 (floor): the largest gated block with no more weights than "
                                 "the plain one" if d_ff % 3 else ""))
    return out


# --------------------------------------------------------------------------- ex4: the backward of the SwiGLU FFN
def ffn_backward_reference(x, W, V, W2, g):
    """Gradients ``(dx, dW, dV, dW2)`` of ``sum(g * y)`` for ``y = (silu(xW) * xV) W2`` (chapter 10's theorem)."""
    a, b = x @ W, x @ V
    s = numpy_ref.silu(a)
    h = s * b
    H = g @ W2.T
    da = H * b * numpy_ref.silu_grad(a)
    db = H * s
    return da @ W.T + db @ V.T, x.T @ da, x.T @ db, h.T @ g


@case_generator
def backward_cases(*, seed: int = 0) -> list:
    """``(x, W, V, W2, g)``: random float64 blocks of several sizes (n, d, h), a float32 one, one token, a
    hidden size of 1, and gate inputs up to ±60."""
    rng = np.random.default_rng(seed)

    def block(n, d, h, scale=1.0, dtype=np.float64):
        arrs = (rng.normal(0, 1, (n, d)), rng.normal(0, scale / np.sqrt(d), (d, h)),
                rng.normal(0, 1 / np.sqrt(d), (d, h)), rng.normal(0, 1 / np.sqrt(h), (h, d)), rng.normal(0, 1, (n, d)))
        return tuple(a.astype(dtype) for a in arrs)

    out = [Case(f"random: n = {n}, d = {d}, h = {h} (seed {seed})", block(n, d, h))
           for n, d, h in ((4, 6, 16), (7, 3, 8), (2, 12, 32))]
    out.append(Case("one token: n = 1, d = 5, h = 8", block(1, 5, 8)))
    out.append(Case("a hidden size of 1: n = 3, d = 4, h = 1", block(3, 4, 1),
                    hint="keep the shapes: dW is (d, h), dW2 is (h, d), even when h = 1"))
    out.append(Case("large gate inputs (|xW| up to ~60): n = 4, d = 6, h = 10", block(4, 6, 10, scale=20.0)))
    out.append(Case("float32: n = 3, d = 4, h = 8 (keep float32)", block(3, 4, 8, dtype=np.float32)))
    return out
