"""The feed-forward blocks of open-source language models, read from real model code (chapter 12).

For every architecture that the ``transformers`` package implements, :func:`build` constructs a *tiny*,
randomly initialised model directly from its configuration class (hidden size 32, one layer: no weights are
downloaded, no hub is contacted), and :func:`analyze` reads its first feed-forward block:

* **structure** from the modules themselves: the projections into and out of the hidden layer are the linear
  maps (``nn.Linear`` or GPT-2's transposed ``Conv1D``) whose sizes are ``d -> d_ff`` (or ``d -> 2 d_ff``, a
  fused gate/up projection) and ``d_ff -> d``; two input projections (or one fused) mean a gated block;
* **activation** numerically: every parameter-free module of the block is evaluated on a grid in float64 and
  compared with the candidate formulas of :data:`FORMS` (exact GELU, its tanh and sigmoid forms, SiLU, ReLU,
  ...) by :func:`identify_activation`; exact and tanh GELU differ by up to 4.7e-4, far above float64 noise;
* **the formula itself**: forward hooks record, during a forward pass of the whole model, the input of the
  block and the input of its output projection ``h``; the block is verified when ``h`` equals
  ``act(x W)`` (plain) or ``act(x W) * (x V)`` (gated) to rounding error, and the other assignment of gate and
  up (or the other half of a fused projection) is shown to be wrong, which identifies the gate.

Architectures that ``transformers`` does not implement (GPT-3, PaLM, Baichuan, ChatGLM-6B, ChatGLM2-6B) carry
the citation of their published code or paper instead (:data:`ZOO`, ``verified_by``).

Sizes of the real checkpoints (``real``: hidden size, feed-forward size, layers) are the published
configuration values; the ratio and the parameter counts are computed from them with the structure found in
the tiny model (:func:`ffn_parameters`, checked against the tiny model's own parameter count).

Reference: Wolf et al., *Transformers: State-of-the-Art Natural Language Processing*, EMNLP 2020.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from actlab import functional as AF

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # never contact the hub: configs are built in code
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

__all__ = ["FORMS", "Arch", "ZOO", "FFN", "identify_activation", "activation_distances", "build", "analyze",
           "find_ffn", "ffn_parameters", "mlp_module", "describe_mlp", "table_rows"]

D_MODEL, D_FF, HEADS = 32, 88, 4      # tiny sizes: d_ff is no multiple of d, so no attention map is d -> d_ff

# ------------------------------------------------------------------------------------------- activations
#: Candidate activations by name: a torch function of a float64 tensor.
FORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": AF.relu,
    "gelu": AF.gelu,                                            # exact: x Phi(x)
    "gelu_tanh": functools.partial(AF.gelu, approximate="tanh"),
    "gelu_sigmoid": functools.partial(AF.gelu, approximate="sigmoid"),   # "quick_gelu": x sigma(1.702 x)
    "silu": AF.silu,
    "sigmoid": AF.sigmoid,
    "tanh": AF.tanh,
    "identity": lambda x: x,
}
PROBE = torch.linspace(-6.0, 6.0, 2401, dtype=torch.float64)


def activation_distances(fn: Callable) -> dict[str, float]:
    """``max |fn(x) - form(x)|`` on :data:`PROBE` (float64, [-6, 6]) for every form of :data:`FORMS`."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = fn(PROBE.clone())
        if not isinstance(y, torch.Tensor) or y.shape != PROBE.shape:
            raise ValueError(f"{fn!r} is not an elementwise activation (output {type(y).__name__})")
        y = y.to(torch.float64)
        return {name: float((y - form(PROBE)).abs().max()) for name, form in FORMS.items()}


def identify_activation(fn: Callable, tol: float = 1e-7) -> str:
    """The name in :data:`FORMS` of the elementwise function ``fn`` (a module or a callable), found
    numerically: the form within ``tol`` (max abs difference on [-6, 6] in float64), else ``"unknown"``.
    ``tol`` is far below the smallest gap between two forms (exact vs tanh GELU, 4.7e-4)."""
    dist = activation_distances(fn)
    name = min(dist, key=dist.get)
    return name if dist[name] <= tol else "unknown"


# ------------------------------------------------------------------------------------------- architectures
@dataclasses.dataclass(frozen=True)
class Arch:
    """One row of the chapter's table.

    ``config``: the ``transformers`` configuration class (None: not implemented there); ``keys``: its names
    for (hidden size, feed-forward size, layers, heads); ``extra``: settings that pick the feed-forward block;
    ``real``: (hidden size, feed-forward size, layers) of the named checkpoint, from its published
    configuration; ``source``: what the source's table says (None: a row the book adds); ``cite``: bib keys.
    """
    name: str
    checkpoint: str
    config: str | None
    keys: tuple = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    extra: dict = dataclasses.field(default_factory=dict)
    real: tuple = ()
    source: str | None = None
    cite: tuple = ()
    note: str = ""
    cited_structure: dict = dataclasses.field(default_factory=dict)   # for rows not built from a config


_GPT2 = ("n_embd", "n_inner", "n_layer", "n_head")
ZOO: tuple[Arch, ...] = (
    # ---------------------------------------------------------------- the source's table
    Arch("GPT-3", "GPT-3 175B", "GPT2Config", _GPT2, real=(12288, 49152, 96), source="GeLU",
         cite=("brown2020gpt3", "radford2019gpt2"),
         note="no code released; the paper uses 'the same model and architecture as GPT-2' with d_ff = 4 d: "
              "built here as GPT-2 code at GPT-3 sizes"),
    Arch("Llama", "LLaMA-7B", "LlamaConfig", real=(4096, 11008, 32), source="SwiGLU", cite=("touvron2023llama",)),
    Arch("Llama 2", "Llama-2-70B", "LlamaConfig", real=(8192, 28672, 80), source="SwiGLU",
         cite=("touvron2023llama2",)),
    Arch("Baichuan", "Baichuan-7B", None, real=(4096, 11008, 32), source="SwiGLU",
         cite=("baichuan2023baichuan7b", "yang2023baichuan2"),
         note="not in transformers (its own modeling code, loaded with trust_remote_code); its MLP "
              "(gate_proj, up_proj, down_proj, silu) is Llama's, so LlamaConfig builds the same block; "
              "the attention differs (one fused W_pack projection)",
         cited_structure=dict(gated=True, fused=False, activation="silu", bias=False,
                              projections="gate_proj, up_proj → down_proj")),
    Arch("ChatGLM-6B", "ChatGLM-6B", None, real=(4096, 16384, 28), source="GeLU",
         cite=("thudm2023chatglm6b", "zeng2023glm130b", "du2022glm"),
         note="not in transformers; its modeling code applies OpenAI's tanh-form gelu between "
              "dense_h_to_4h and dense_4h_to_h (not gated). transformers' Glm is GLM-4, a different, "
              "gated architecture (row GLM-4)",
         cited_structure=dict(gated=False, fused=False, activation="gelu_tanh", bias=True,
                              projections="dense_h_to_4h → dense_4h_to_h")),
    Arch("ChatGLM2-6B", "ChatGLM2-6B", None, real=(4096, 13696, 28), source="SwiGLU",
         cite=("thudm2023chatglm2", "glm2024chatglm"),
         note="not in transformers; one fused dense_h_to_4h (4096 → 2·13696), chunked in two, silu on the "
              "first half: the layout of transformers' GlmMLP (row GLM-4)",
         cited_structure=dict(gated=True, fused=True, activation="silu", bias=False,
                              projections="dense_h_to_4h (fused gate|up) → dense_4h_to_h")),
    # ---------------------------------------------------------------- added by the book
    Arch("BERT", "bert-base", "BertConfig", real=(768, 3072, 12), cite=("devlin2019bert",)),
    Arch("GPT-2", "gpt2 (124M)", "GPT2Config", _GPT2, real=(768, 3072, 12), cite=("radford2019gpt2",)),
    Arch("T5", "t5-base", "T5Config", ("d_model", "d_ff", "num_layers", "num_heads"),
         extra=dict(feed_forward_proj="relu"), real=(768, 3072, 12), cite=("raffel2020t5",)),
    Arch("T5 v1.1", "t5-v1_1-base", "T5Config", ("d_model", "d_ff", "num_layers", "num_heads"),
         extra=dict(feed_forward_proj="gated-gelu"), real=(768, 2048, 12), cite=("shazeer2020glu", "raffel2020t5")),
    Arch("PaLM", "PaLM 540B", None, real=(18432, 73728, 118), cite=("chowdhery2022palm",),
         note="not released; the paper: SwiGLU, d_ff = 4 d, no biases",
         cited_structure=dict(gated=True, fused=False, activation="silu", bias=False,
                              projections="W, V → W2")),
    Arch("GPT-J", "gpt-j-6b", "GPTJConfig", _GPT2, extra=dict(rotary_dim=4), real=(4096, 16384, 28)),
    Arch("GPT-NeoX", "gpt-neox-20b", "GPTNeoXConfig", real=(6144, 24576, 44)),
    Arch("OPT", "opt-6.7b", "OPTConfig", ("hidden_size", "ffn_dim", "num_hidden_layers", "num_attention_heads"),
         real=(4096, 16384, 32)),
    Arch("BLOOM", "bloom-7b1", "BloomConfig", ("hidden_size", None, "n_layer", "n_head"), real=(4096, 16384, 30)),
    Arch("Falcon", "falcon-7b", "FalconConfig",
         ("hidden_size", "ffn_hidden_size", "num_hidden_layers", "num_attention_heads"), real=(4544, 18176, 32)),
    Arch("Mistral", "Mistral-7B", "MistralConfig", real=(4096, 14336, 32), cite=("jiang2023mistral",)),
    Arch("Qwen2", "Qwen2-7B", "Qwen2Config", real=(3584, 18944, 28), cite=("yang2024qwen2",)),
    Arch("Gemma", "gemma-7b", "GemmaConfig", extra=dict(head_dim=8), real=(3072, 24576, 28),
         cite=("gemma2024gemma",)),
    Arch("Phi-2", "phi-2", "PhiConfig", real=(2560, 10240, 32), cite=("gunasekar2023textbooks",)),
    Arch("Phi-3", "Phi-3-mini", "Phi3Config", real=(3072, 8192, 32), cite=("abdin2024phi3",)),
    Arch("GLM-4", "glm-4-9b", "GlmConfig", extra=dict(head_dim=8), real=(4096, 13696, 40),
         cite=("glm2024chatglm",)),
)
BY_NAME = {a.name: a for a in ZOO}


def _config(arch: Arch, d_model: int = D_MODEL, d_ff: int = D_FF, layers: int = 1, heads: int = HEADS):
    import transformers

    hidden, inner, n_layers, n_heads = arch.keys
    kw = {hidden: d_model, n_layers: layers, n_heads: heads, **arch.extra,
          "vocab_size": 64, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    if inner is not None:
        kw[inner] = d_ff
    if arch.config == "T5Config":
        kw.update(d_kv=d_model // heads, decoder_start_token_id=0)
    if arch.config == "OPTConfig":
        kw.update(word_embed_proj_dim=d_model)
    config = getattr(transformers, arch.config)(**kw)
    if (getattr(config, "num_key_value_heads", None) or 0) > heads:     # Mistral's default is 8 key-value heads
        config.num_key_value_heads = heads
    return config


def build(arch: Arch | str, seed: int = 0) -> nn.Module:
    """A tiny random model of ``arch`` (hidden size 32, one layer, float64), built from its configuration
    class with ``AutoModel.from_config``: nothing is downloaded."""
    from transformers import AutoModel

    arch = BY_NAME[arch] if isinstance(arch, str) else arch
    if arch.config is None:
        raise ValueError(f"{arch.name} is not implemented in transformers; see its citation")
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_config(_config(arch))
    return model.to(torch.float64).eval()


# ------------------------------------------------------------------------------------------- reading the FFN
def _io(m: nn.Module) -> tuple[int, int] | None:
    """(in, out) sizes of a linear map: ``nn.Linear`` (weight out x in) or GPT-2's ``Conv1D`` (in x out)."""
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    if type(m).__name__ == "Conv1D" and getattr(m, "weight", None) is not None:
        return tuple(m.weight.shape)
    return None


@dataclasses.dataclass
class FFN:
    """What :func:`analyze` found in the first feed-forward block of a model."""
    d_model: int
    d_ff: int
    gated: bool
    fused: bool
    inputs: list            # names of the input projections (gate first when gated)
    output: str             # name of the output projection
    activation: str         # a name of FORMS
    activation_class: str   # the module's class in transformers
    bias: bool
    parameters: int         # of the tiny block, counted from its modules
    error: float = float("nan")         # max |h - formula| / max |h| in the forward pass
    swapped_error: float = float("nan")  # the same with gate and up exchanged (gated blocks)

    @property
    def projections(self) -> str:
        """The projections' names inside the block (the first layer's prefix removed)."""
        names = self.inputs + [self.output]
        cut = os.path.commonprefix([n.rsplit(".", 1)[0] + "." for n in names])
        short = [n[len(cut):] if n.startswith(cut) else n for n in names]
        if len(set(short)) < len(short) or any("." in n for n in short):
            short = [".".join(n.split(".")[-2:]) for n in names]
        ins = ", ".join(short[:-1]) + (" (fused gate|up)" if self.fused else "")
        return f"{ins} → {short[-1]}"


def _first_layer(names: list[str]) -> str:
    """The prefix of the first block: everything up to the first '.0.'-style index."""
    parts = names[0].split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[:i + 1]) + "."
    return ""


def find_ffn(model: nn.Module, d_model: int, d_ff: int | None = None) -> tuple[dict, str, str | None, bool]:
    """The first block's input projections ``{name: module}``, output projection name, activation module name
    and whether the input projection is fused. ``d_ff`` defaults to the first size != d seen."""
    lin = {n: m for n, m in model.named_modules() if _io(m) is not None}
    if d_ff is None:
        d_ff = next(io[0] for io in map(_io, lin.values()) if io[1] == d_model and io[0] not in (d_model,))
    outs = [n for n, m in lin.items() if _io(m) == (d_ff, d_model)]
    if not outs:
        raise ValueError(f"no projection {d_ff} -> {d_model} found")
    prefix = _first_layer(outs)
    out = outs[0]
    ins = {n: m for n, m in lin.items() if n.startswith(prefix) and _io(m) in ((d_model, d_ff), (d_model, 2 * d_ff))}
    fused = len(ins) == 1 and _io(next(iter(ins.values())))[1] == 2 * d_ff
    act = None
    parent = out.rsplit(".", 1)[0]
    candidates = [n for n, m in model.named_modules()
                  if n.startswith(prefix) and not list(m.children()) and not list(m.parameters(recurse=False))
                  and not isinstance(m, (nn.Dropout, nn.Identity))]
    candidates.sort(key=lambda n: (not n.startswith(parent), n))      # the block's own first
    for n in candidates:
        try:
            if identify_activation(model.get_submodule(n)) != "unknown":
                act = n
                break
        except Exception:  # noqa: BLE001 - not an elementwise function (rotary embeddings, ...)
            continue
    return ins, out, act, fused


def _forward(model: nn.Module, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 64, (2, 7), generator=g)
    kw = {"decoder_input_ids": ids} if model.config.is_encoder_decoder else {}
    with torch.no_grad():
        model(input_ids=ids, **kw)


def analyze(model: nn.Module, d_model: int = D_MODEL, d_ff: int | None = None) -> FFN:
    """Read and verify the first feed-forward block of ``model`` (see the module docstring)."""
    ins, out, act_name, fused = find_ffn(model, d_model, d_ff)
    if act_name is None:
        raise ValueError("no activation module found in the first block")
    act_mod = model.get_submodule(act_name)
    act = identify_activation(act_mod)
    seen: dict = {}

    def keep(key, value):          # a forward hook must return None, or it replaces the module's output
        seen.setdefault(key, value.detach())

    hooks = [model.get_submodule(n).register_forward_hook(lambda m, a, y, n=n: keep(n, y)) for n in ins]
    hooks.append(model.get_submodule(out).register_forward_hook(lambda m, a, y: keep("h", a[0])))
    try:
        _forward(model)
    finally:
        for h in hooks:
            h.remove()
    h, f = seen["h"], FORMS[act]
    rel = lambda z: float((h - z).abs().max() / h.abs().max())      # noqa: E731
    names = list(ins)
    if fused:
        a, b = seen[names[0]].chunk(2, dim=-1)
        err, swapped = rel(f(a) * b), rel(f(b) * a)
        gated = True
    elif len(names) == 2:
        a, b = seen[names[0]], seen[names[1]]
        e1, e2 = rel(f(a) * b), rel(f(b) * a)
        if e2 < e1:
            names, e1, e2 = names[::-1], e2, e1
        err, swapped, gated = e1, e2, True
    elif len(names) == 1:
        err, swapped, gated = rel(f(seen[names[0]])), float("nan"), False
    else:
        raise ValueError(f"expected one or two input projections, found {names}")
    mods = [model.get_submodule(n) for n in names + [out]]
    params = sum(p.numel() for m in mods for p in m.parameters())
    bias = any(getattr(m, "bias", None) is not None for m in mods)
    d_ff_found = _io(mods[-1])[0]
    return FFN(d_model, d_ff_found, gated, fused, names, out, act, type(act_mod).__name__, bias, params, err,
               swapped)


def ffn_parameters(d_model: int, d_ff: int, gated: bool, bias: bool) -> int:
    """Parameters of one feed-forward block: ``(2 or 3) d d_ff`` weights, plus ``(1 or 2) d_ff + d`` biases."""
    k = 2 if gated else 1
    return (k + 1) * d_model * d_ff + ((k * d_ff + d_model) if bias else 0)


# ------------------------------------------------------------------------------------------- MLP modules alone
def mlp_module(model: nn.Module, ffn: FFN) -> nn.Module | None:
    """The module holding the whole block (the parent of its projections), or None when the block is spread
    over several modules (BERT's intermediate/output, OPT's fc1/fc2 on the layer itself)."""
    parents = {n.rsplit(".", 1)[0] for n in ffn.inputs + [ffn.output]}
    if len(parents) != 1:
        return None
    mod = model.get_submodule(parents.pop())
    names = {n for n, _ in mod.named_children()}
    return mod if not any(k in names for k in ("self_attn", "attention", "self_attention", "attn")) else None


def describe_mlp(mlp: nn.Module, d_model: int) -> tuple[bool, int]:
    """``(gated, d_ff)`` of a stand-alone feed-forward module (reference for chapter 12's ``ex2``), read from
    the sizes of its linear maps (``nn.Linear`` or ``Conv1D``): the last one registered is the projection back
    to ``d_model`` (its input size is ``d_ff``); the others read ``d_model`` and their output sizes add up to
    ``d_ff`` (plain) or ``2 d_ff`` (gated: two matrices, or one fused)."""
    ios = [io for m in mlp.modules() if (io := _io(m)) is not None]
    if len(ios) < 2 or ios[-1][1] != d_model or any(i != d_model for i, _ in ios[:-1]):
        raise ValueError(f"expected projections out of d_model = {d_model} and one back; found sizes {ios}")
    d_ff = ios[-1][0]
    width_in = sum(o for _, o in ios[:-1])
    if width_in not in (d_ff, 2 * d_ff):
        raise ValueError(f"input projections of total width {width_in} do not fit d_ff = {d_ff}")
    return width_in == 2 * d_ff, d_ff


# ------------------------------------------------------------------------------------------- the table
def table_rows(progress: bool = False) -> list[dict]:
    """One dict per :data:`ZOO` entry: the structure read from the tiny model (or cited), the real sizes'
    ratio and FFN parameters per layer and in total, and how the row was verified."""
    rows = []
    for arch in ZOO:
        d, dff, layers = arch.real
        row = {"model": arch.name, "checkpoint": arch.checkpoint, "source": arch.source, "cite": arch.cite,
               "note": arch.note, "d_model": d, "d_ff": dff, "layers": layers, "ratio": dff / d}
        if arch.config is not None:
            model = build(arch)
            f = analyze(model)
            tiny_formula = ffn_parameters(f.d_model, f.d_ff, f.gated, f.bias)
            if tiny_formula != f.parameters:
                raise AssertionError(f"{arch.name}: counted {f.parameters} parameters, formula {tiny_formula}")
            row.update(gated=f.gated, fused=f.fused, activation=f.activation, act_class=f.activation_class,
                       bias=f.bias, projections=f.projections, error=f.error, swapped_error=f.swapped_error,
                       verified_by=f"built from {arch.config}")
        else:
            s = arch.cited_structure
            row.update(gated=s["gated"], fused=s["fused"], activation=s["activation"], act_class=None,
                       bias=s["bias"], projections=s["projections"], error=None, swapped_error=None,
                       verified_by="cited: " + ", ".join(arch.cite))
        row["ffn_params_layer"] = ffn_parameters(d, dff, row["gated"], row["bias"])
        row["ffn_params_total"] = layers * row["ffn_params_layer"]
        rows.append(row)
    return rows
