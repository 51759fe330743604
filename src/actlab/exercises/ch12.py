"""Chapter 12 (activations in open-source LLMs): case generators, evaluators and references for its exercises.

========================  ==========================================  =========================================
exercise                  cases                                       reference / evaluator
========================  ==========================================  =========================================
``ex1-identify``          :func:`activation_modules`                  expected ``True`` / :func:`eval_activation_name`
``ex2-describe``          :func:`simple_mlps`, :func:`zoo_mlps`       ``actlab.model_zoo.describe_mlp``
``ex3-llama-params``      :func:`llama_sizes`                         :func:`llama_ffn_params`
========================  ==========================================  =========================================

Cases hold modules (built here, deterministically, from seeds and tiny configurations), so the grader rebuilds
them by calling the generator again; their ``repr`` enters the digest that proves both sides saw the same ones.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from actlab import model_zoo
from actlab.checks import Case, case_generator
from actlab.modules import FeedForward, GLUFeedForward, llama_hidden_size

__all__ = ["HINTS", "NAMES", "TOL", "activation_modules", "eval_activation_name", "simple_mlps", "zoo_mlps",
           "llama_sizes", "llama_ffn_params"]

#: The names ``identify_activation`` may return.
NAMES = tuple(model_zoo.FORMS) + ("unknown",)
#: Agreement required on [-6, 6] (max absolute difference, float64).
TOL = 1e-6

HINTS = {
    "ex1-identify": "evaluate f on a grid of [-6, 6] in float64 and compare with each formula; exact and tanh "
                    "GELU differ by at most 4.7e-4, so a loose tolerance mixes them up, and a function within "
                    "1e-6 of none of them (LeakyReLU, ELU, Mish, ...) is 'unknown'",
    "ex2-describe": "find the projection back to d_model (its input size is d_ff), then add up the output sizes "
                    "of the projections out of d_model: d_ff (plain) or 2 d_ff (gated, two matrices or one "
                    "fused); GPT-2's Conv1D stores its weight as (in, out), the transpose of nn.Linear",
    "ex3-llama-params": "hidden = int(2 * 4 * d / 3); then int(ffn_dim_multiplier * hidden) if a multiplier is "
                        "given; then round UP to a multiple of multiple_of; each layer has three d x hidden "
                        "matrices and no biases",
}


# --------------------------------------------------------------------------- ex1: identify an activation
def _act2fn(name: str):
    from transformers.activations import ACT2FN
    return ACT2FN[name]


@case_generator
def activation_modules(*, include_transformers: bool = True) -> list:
    """Activation modules and functions: PyTorch's, the ``transformers`` registry's (``ACT2FN``), and near
    misses (LeakyReLU is within 0.06 of ReLU on [-6, 6], ELU, Mish, a scaled SiLU)."""
    F = torch.nn.functional
    out = [
        Case("torch.nn.GELU()", (nn.GELU(),), expected=True),
        Case("torch.nn.GELU(approximate='tanh')", (nn.GELU(approximate="tanh"),), expected=True,
             hint="exact GELU and its tanh form differ by at most 4.7e-4 (at |x| ≈ 2.7)"),
        Case("torch.nn.SiLU()", (nn.SiLU(),), expected=True),
        Case("torch.nn.ReLU()", (nn.ReLU(),), expected=True),
        Case("torch.nn.Sigmoid()", (nn.Sigmoid(),), expected=True),
        Case("torch.nn.Tanh()", (nn.Tanh(),), expected=True),
        Case("torch.nn.Identity()", (nn.Identity(),), expected=True),
        Case("functools.partial(F.gelu, approximate='tanh')", (functools.partial(F.gelu, approximate="tanh"),),
             expected=True),
        Case("torch.nn.LeakyReLU(0.01) (no form: not ReLU)", (nn.LeakyReLU(0.01),), expected=True,
             hint="LeakyReLU(0.01) differs from ReLU by 0.06 at x = -6: 'unknown'"),
        Case("torch.nn.ELU() (no form)", (nn.ELU(),), expected=True),
        Case("torch.nn.Mish() (no form)", (nn.Mish(),), expected=True),
        Case("torch.nn.Softplus() (no form)", (nn.Softplus(),), expected=True),
    ]
    if include_transformers:
        for name in ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_python", "quick_gelu",
                     "silu", "swish", "relu", "sigmoid", "tanh", "linear", "relu2", "mish"):
            out.append(Case(f"transformers ACT2FN[{name!r}]", (_act2fn(name),), expected=True,
                            hint="quick_gelu is x·σ(1.702x)" if name == "quick_gelu" else ""))
    return out


def eval_activation_name(name, f) -> bool:
    """Checks the name returned for ``f`` against the numerical identification (tolerance :data:`TOL`) and
    raises ``AssertionError`` saying what the right name is and how far ``f`` is from both forms."""
    if not isinstance(name, str):
        raise AssertionError(f"return one of the names {NAMES} as a str; got {type(name).__name__} ({name!r})")
    if name not in NAMES:
        raise AssertionError(f"{name!r} is not one of the names {NAMES}")
    dist = model_zoo.activation_distances(f)
    truth = model_zoo.identify_activation(f, tol=TOL)
    if name != truth:
        near = min(dist, key=dist.get)
        said = f"; f is {dist[name]:.2g} away from {name!r}" if name in dist else ""
        raise AssertionError(f"expected {truth!r}, got {name!r}: the nearest form is {near!r} "
                             f"(max |f - {near}| = {dist[near]:.2g} on [-6, 6]){said}")
    return True



# --------------------------------------------------------------------------- ex2: describe an MLP module
@case_generator
def simple_mlps(*, seed: int = 0) -> list:
    """Small feed-forward modules from ``torch`` and ``actlab`` (no ``transformers``): plain and gated,
    with and without biases, built on ``seed``."""
    torch.manual_seed(seed)
    out = [
        Case("FeedForward(8, 32) (plain, 4d)", (FeedForward(8, 32), 8)),
        Case("GLUFeedForward(8, 24) (gated)", (GLUFeedForward(8, 24, variant="swiglu"), 8)),
        Case("nn.Sequential(Linear(6, 10), GELU(), Linear(10, 6))",
             (nn.Sequential(nn.Linear(6, 10), nn.GELU(), nn.Linear(10, 6)), 6)),
    ]
    return out


ZOO_MLPS = ("Llama", "GPT-2", "T5", "T5 v1.1", "GPT-J", "GPT-NeoX", "Falcon", "Qwen2", "Gemma", "Phi-2", "Phi-3",
            "GLM-4")   # BLOOM's MLP is left out: its forward needs the residual as a second argument


@functools.lru_cache(maxsize=4)
def _zoo_mlps(seed: int) -> tuple:
    """The modules of :func:`zoo_mlps`, built once per process and seed (building takes a second or two)."""
    out = []
    for name in ZOO_MLPS:
        model = model_zoo.build(name, seed=seed)
        out.append((name, model_zoo.mlp_module(model, model_zoo.analyze(model))))
    return tuple(out)


@case_generator
def zoo_mlps(*, seed: int = 0) -> list:
    """The first feed-forward module of tiny ``transformers`` models (d = 32), GPT-2's ``Conv1D`` and fused
    gate/up projections included, plus ``actlab`` blocks of other sizes."""
    out = []
    for name, mlp in _zoo_mlps(seed):
        hint = {"GPT-2": "Conv1D's weight is (in, out), the transpose of nn.Linear's (out, in)",
                "Phi-3": "one fused projection of width 2·d_ff: the block is gated and d_ff is half of it",
                "GLM-4": "one fused projection of width 2·d_ff: the block is gated and d_ff is half of it",
                }.get(name, "")
        out.append(Case(f"{name}: {type(mlp).__name__} (d = 32)", (mlp, model_zoo.D_MODEL), hint=hint))
    torch.manual_seed(seed)
    out += [
        Case("GLUFeedForward(48) (Llama's rounding: d_ff = 128)", (GLUFeedForward(48, multiple_of=64), 48)),
        Case("GLUFeedForward(10, 12, variant='geglu', bias=True)",
             (GLUFeedForward(10, 12, variant="geglu", bias=True), 10)),
        Case("FeedForward(16, 16): d_ff = d", (FeedForward(16, 16), 16),
             hint="d_ff may equal d_model: the output projection is the one applied last"),
        Case("FeedForward(12, 100, activation='relu', bias=False)",
             (FeedForward(12, 100, activation="relu", bias=False), 12)),
    ]
    return out


# --------------------------------------------------------------------------- ex3: Llama FFN parameters
@case_generator
def llama_sizes(*, seed: int = 0, n_random: int = 6) -> list:
    """Llama, Llama 2 and Llama 3 sizes (d_model, layers, multiple_of, ffn_dim_multiplier), from their papers'
    and code's settings, plus random small sizes."""
    rng = np.random.default_rng(seed)
    out = [
        Case("LLaMA-13B: d = 5120, 40 layers", (5120, 40)),
        Case("LLaMA-33B: d = 6656, 60 layers", (6656, 60)),
        Case("LLaMA-65B: d = 8192, 80 layers", (8192, 80)),
        Case("Llama-2-70B: d = 8192, 80 layers, multiple_of 4096, multiplier 1.3", (8192, 80, 4096, 1.3),
             hint="apply the multiplier before rounding up: int(1.3 * 21845) = 28398, rounded up to 28672"),
        Case("Llama-3-8B: d = 4096, 32 layers, multiple_of 1024, multiplier 1.3", (4096, 32, 1024, 1.3)),
        Case("Llama-3-70B: d = 8192, 80 layers, multiple_of 4096, multiplier 1.3", (8192, 80, 4096, 1.3)),
        Case("d = 3 (2·4·3/3 = 8 exactly), 1 layer, multiple_of 1", (3, 1, 1)),
        Case("d = 100, 2 layers, multiple_of 7 (round up, not down)", (100, 2, 7),
             hint="round up: multiple_of * ceil(hidden / multiple_of)"),
    ]
    for i in range(n_random):
        d = int(rng.integers(8, 2049))
        layers = int(rng.integers(1, 49))
        mult_of = int(rng.choice([1, 16, 64, 256]))
        mult = None if i % 2 == 0 else float(np.round(rng.uniform(0.5, 2.0), 2))
        args = (d, layers, mult_of) if mult is None else (d, layers, mult_of, mult)
        out.append(Case(f"random #{i} (seed {seed}): d = {d}, {layers} layers, multiple_of {mult_of}"
                        + (f", multiplier {mult}" if mult is not None else ""), args))
    return out


def llama_ffn_params(d_model: int, n_layers: int, multiple_of: int = 256, ffn_dim_multiplier=None) -> int:
    """All feed-forward parameters of a Llama model: ``n_layers * 3 * d_model * hidden`` with Llama's hidden
    size (:func:`actlab.modules.llama_hidden_size`; no biases). Reference for ``ex3-llama-params``."""
    return int(n_layers) * 3 * int(d_model) * llama_hidden_size(d_model, multiple_of, ffn_dim_multiplier)
