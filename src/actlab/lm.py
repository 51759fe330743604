"""Tiny character-level transformer language models trained on the Python standard library's own source.

Chapter 10 compares feed-forward blocks (ReLU, GELU and the GLU family) inside one small decoder-only
transformer at equal parameter count. Everything here is deterministic and needs no download:

- :func:`stdlib_corpus`: a fixed, seeded selection of the standard library's top-level ``.py`` files, split by
  file into training and validation text (which files depends on the Python version; the result records it).
- :class:`CharTokenizer`: a fixed alphabet (printable ASCII, newline and tab, one id for everything else), so
  that the vocabulary does not depend on the corpus.
- :class:`TinyLM`: token and position embeddings, ``n_layers`` pre-norm blocks (causal self-attention, then a
  feed-forward block chosen by :func:`make_ffn`), a final LayerNorm and an output head tied to the embedding.
- :func:`train_lm`: AdamW with warm-up and cosine decay on random windows, single-threaded; the validation loss
  (nats per character) on fixed windows of the held-out files; a tqdm bar when run interactively.

The feed-forward variants (:data:`FFN_VARIANTS`): ``"relu"``, ``"gelu"``, ``"swish"`` are the plain block
``f(xW1)W2`` with hidden size ``4d``; ``"glu"``, ``"bilinear"``, ``"reglu"``, ``"geglu"``, ``"swiglu"`` are the
gated block ``(f(xW) * xV)W2`` with hidden size ``8d/3`` (no biases anywhere, as in T5 and Llama). With
``d_model`` a multiple of 3 both have exactly ``8 d^2`` parameters: ``2 * d * 4d = 3 * d * (8d/3)``.

Reference: N. Shazeer, *GLU Variants Improve Transformer*, 2020, https://arxiv.org/abs/2002.05202 (the same
comparison in a T5 model on C4).
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from actlab.experiments import single_thread
from actlab.modules import FeedForward, GLUFeedForward

__all__ = ["STDLIB", "SHAZEER2020_TABLE1", "Corpus", "stdlib_corpus", "CharTokenizer", "FFN_VARIANTS", "GATED",
           "make_ffn", "ffn_hidden_size", "TinyLM", "LMConfig", "LMResult", "train_lm", "evaluate", "batches",
           "count_parameters", "sweep", "RESULTS", "load_results"]

STDLIB = Path(sysconfig.get_paths()["stdlib"])
"""The standard library directory of the running interpreter (its ``.py`` files are the corpus)."""

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "glu_lm.json"
"""The committed results of ``benchmarks/glu_lm.py`` (the full-size run chapter 10 loads)."""

GATED = ("glu", "bilinear", "reglu", "geglu", "swiglu")
FFN_VARIANTS = ("relu", "gelu", "swish") + GATED

#: Shazeer (2020), Table 1, as reported: held-out log-perplexity of a T5-base-sized encoder-decoder
#: (d_model 768, 12 + 12 layers, d_ff 3072, or 2048 for the gated variants) on C4 span filling.
#: Per variant: (after 65,536 steps, the spread the paper gives in parentheses for those runs, after 524,288 steps).
SHAZEER2020_TABLE1 = {
    "relu": (1.997, 0.005, 1.677), "gelu": (1.983, 0.005, 1.679), "swish": (1.994, 0.003, 1.683),
    "glu": (1.982, 0.006, 1.663), "bilinear": (1.960, 0.005, 1.648), "geglu": (1.942, 0.004, 1.633),
    "swiglu": (1.944, 0.010, 1.636), "reglu": (1.953, 0.003, 1.645),
}


# --------------------------------------------------------------------------------------------- the corpus
@dataclasses.dataclass(frozen=True)
class Corpus:
    """Training and validation text and the files they came from (names relative to :data:`STDLIB`)."""
    train: str
    val: str
    train_files: tuple
    val_files: tuple
    python: str

    def describe(self) -> str:
        return (f"{len(self.train_files)} training files ({len(self.train):,} characters), "
                f"{len(self.val_files)} validation files ({len(self.val):,} characters), Python {self.python}")


def stdlib_corpus(n_train: int = 40, n_val: int = 8, seed: int = 0, max_chars: int | None = None,
                  directory: Path | str | None = None) -> Corpus:
    """A seeded selection of the standard library's top-level ``.py`` files as a text corpus.

    The files of ``directory`` (default :data:`STDLIB`) are sorted by name and shuffled by
    ``numpy.random.default_rng(seed)``; the first ``n_train`` become the training text, the next ``n_val`` the
    validation text (whole files: the model is evaluated on modules it never saw). ``max_chars`` truncates each
    text. Files are read as UTF-8 (undecodable bytes replaced).
    """
    directory = Path(directory) if directory is not None else STDLIB
    files = sorted(p for p in directory.glob("*.py") if p.is_file())
    if len(files) < n_train + n_val:
        raise ValueError(f"{directory} has {len(files)} .py files; asked for {n_train} + {n_val}")
    order = np.random.default_rng(seed).permutation(len(files))
    chosen = [files[i] for i in order[: n_train + n_val]]

    def read(paths):
        text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in paths)
        return text if max_chars is None else text[:max_chars]

    return Corpus(read(chosen[:n_train]), read(chosen[n_train:]), tuple(p.name for p in chosen[:n_train]),
                  tuple(p.name for p in chosen[n_train:]), sys.version.split()[0])


class CharTokenizer:
    """Characters to ids over a fixed alphabet: tab, newline, the 95 printable ASCII characters, and one id
    (the last) for any other character. ``decode`` writes that id as ``"\\ufffd"``."""

    UNKNOWN = "\ufffd"

    def __init__(self):
        self.alphabet = "\t\n" + "".join(chr(c) for c in range(32, 127))
        self.index = {c: i for i, c in enumerate(self.alphabet)}
        self.vocab_size = len(self.alphabet) + 1

    def encode(self, text: str) -> torch.Tensor:
        """A 1-D int64 tensor of ids."""
        unk = len(self.alphabet)
        return torch.tensor([self.index.get(c, unk) for c in text], dtype=torch.int64)

    def decode(self, ids) -> str:
        return "".join(self.alphabet[i] if i < len(self.alphabet) else self.UNKNOWN for i in np.asarray(ids).ravel())


# --------------------------------------------------------------------------------------------- the model
def ffn_hidden_size(variant: str, d_model: int) -> int:
    """``4 d`` for a plain block, ``8 d / 3`` (rounded) for a gated one: equal parameters when 3 divides d."""
    if variant not in FFN_VARIANTS:
        raise ValueError(f"unknown feed-forward variant {variant!r}; choose one of {FFN_VARIANTS}")
    return round(8 * d_model / 3) if variant in GATED else 4 * d_model


def make_ffn(variant: str, d_model: int) -> nn.Module:
    """The feed-forward block ``variant`` for width ``d_model``, without biases (see the module docstring)."""
    hidden = ffn_hidden_size(variant, d_model)
    if variant in GATED:
        return GLUFeedForward(d_model, hidden, variant=variant)
    return FeedForward(d_model, hidden, activation="silu" if variant == "swish" else variant, bias=False)


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model = {d_model} must be divisible by n_heads = {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, ffn: nn.Module):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn, self.ffn = _Attention(d_model, n_heads), ffn

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class TinyLM(nn.Module):
    """A decoder-only transformer over characters with a pluggable feed-forward block.

    Args:
        vocab_size: number of token ids.
        d_model: width :math:`d`.
        n_layers: number of blocks.
        n_heads: attention heads (must divide ``d_model``).
        context: the longest sequence (learned position embeddings).
        ffn: a variant name of :data:`FFN_VARIANTS`, or a factory ``d_model -> nn.Module`` (called once per
            block) mapping ``(*, d)`` to ``(*, d)``.

    ``forward(ids)`` maps ``(batch, t)`` int64 ids (``t <= context``) to ``(batch, t, vocab_size)`` logits; the
    logits at position ``i`` depend only on ``ids[:, :i + 1]``.
    """

    def __init__(self, vocab_size: int, d_model: int = 48, n_layers: int = 2, n_heads: int = 4,
                 context: int = 64, ffn: str | Callable[[int], nn.Module] = "swiglu"):
        super().__init__()
        factory = (lambda d: make_ffn(ffn, d)) if isinstance(ffn, str) else ffn
        if isinstance(ffn, str):
            ffn_hidden_size(ffn, d_model)  # raises for an unknown name
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, factory(d_model)) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[-1]
        if t > self.context:
            raise ValueError(f"sequence of length {t} is longer than the context {self.context}")
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.tok.weight.T        # output head tied to the embedding


def count_parameters(module: nn.Module, ffn_only: bool = False) -> int:
    """Number of parameters (of the feed-forward blocks only, with ``ffn_only``)."""
    if ffn_only:
        return sum(p.numel() for b in module.blocks for p in b.ffn.parameters())
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------- training
@dataclasses.dataclass(frozen=True)
class LMConfig:
    """Model and training sizes. The defaults are the chapter's reduced, in-page size."""
    d_model: int = 48
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64
    batch: int = 32
    steps: int = 300
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.01
    eval_windows: int = 128
    eval_every: int = 0          # 0: evaluate only at the end

    def __post_init__(self):
        if self.d_model % 3:
            raise ValueError(f"d_model = {self.d_model} must be a multiple of 3 so that the gated blocks "
                             "(hidden 8d/3) have exactly the parameters of the plain ones (hidden 4d)")


@dataclasses.dataclass
class LMResult:
    variant: str
    seed: int
    train_losses: np.ndarray     # training loss per step (nats per character)
    val_loss: float              # final validation loss (nats per character)
    val_curve: list              # [(step, validation loss), ...] when eval_every > 0, plus the final one
    parameters: int              # all parameters of the model
    ffn_parameters: int          # those of the feed-forward blocks
    seconds: float               # training time

    @property
    def val_bits_per_char(self) -> float:
        return self.val_loss / math.log(2)


def batches(ids: torch.Tensor, batch: int, context: int, generator: torch.Generator):
    """A random batch of windows: inputs ``(batch, context)`` and the next-character targets."""
    if len(ids) <= context + 1:
        raise ValueError(f"the text has {len(ids)} characters; need more than context + 1 = {context + 1}")
    start = torch.randint(0, len(ids) - context - 1, (batch,), generator=generator)
    idx = start[:, None] + torch.arange(context + 1)
    w = ids[idx]
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def evaluate(model: TinyLM, ids: torch.Tensor, windows: int = 128, context: int | None = None,
             seed: int = 12345) -> float:
    """Mean cross-entropy (nats per character) over ``windows`` fixed, seeded windows of ``ids``."""
    context = context or model.context
    g = torch.Generator().manual_seed(seed)
    x, y = batches(ids, windows, context, g)
    was = model.training
    model.eval()
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    model.train(was)
    return loss


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def train_lm(corpus: Corpus, variant: str, seed: int = 0, config: LMConfig = LMConfig(),
             progress: bool | None = None, tokenizer: CharTokenizer | None = None) -> LMResult:
    """Train a :class:`TinyLM` with feed-forward ``variant`` on ``corpus.train``; evaluate on ``corpus.val``.

    AdamW (betas 0.9, 0.95; weight decay on matrices only), linear warm-up over ``config.warmup`` steps and a
    cosine decay to 10 % of ``config.lr``, gradient norm clipped at 1. The seed fixes the initial weights and
    the order of the batches; the validation windows are the same for every run. Runs on one thread.
    ``progress``: a tqdm bar (default: when stderr is a terminal).
    """
    tok = tokenizer or CharTokenizer()
    train_ids, val_ids = tok.encode(corpus.train), tok.encode(corpus.val)
    progress = _interactive() if progress is None else progress
    with single_thread():
        torch.manual_seed(seed)
        model = TinyLM(tok.vocab_size, config.d_model, config.n_layers, config.n_heads, config.context, variant)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.95))

        def lr_at(step):
            if step < config.warmup:
                return (step + 1) / config.warmup
            t = (step - config.warmup) / max(1, config.steps - config.warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        g = torch.Generator().manual_seed(10_000 + seed)
        losses, curve = np.empty(config.steps), []
        steps = range(config.steps)
        if progress:
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc=f"{variant} seed {seed}", leave=False)
        t0 = time.perf_counter()
        for step in steps:
            x, y = batches(train_ids, config.batch, config.context, g)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses[step] = loss.item()
            if config.eval_every and (step + 1) % config.eval_every == 0 and step + 1 < config.steps:
                curve.append((step + 1, evaluate(model, val_ids, config.eval_windows)))
        seconds = time.perf_counter() - t0
        val = evaluate(model, val_ids, config.eval_windows)
    curve.append((config.steps, val))
    return LMResult(variant, seed, losses, val, curve, count_parameters(model),
                    count_parameters(model, ffn_only=True), seconds)


def sweep(corpus: Corpus, variants: Sequence[str], seeds: Sequence[int], config: LMConfig = LMConfig(),
          progress: bool | None = None) -> dict[str, list[LMResult]]:
    """:func:`train_lm` for every variant and seed: ``{variant: [result per seed]}``."""
    progress = _interactive() if progress is None else progress
    jobs = [(v, s) for v in variants for s in seeds]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="runs")
    out: dict[str, list[LMResult]] = {v: [] for v in variants}
    for v, s in jobs:
        out[v].append(train_lm(corpus, v, s, config, progress=False))
    return out


def load_results(path: Path | str = RESULTS) -> dict:
    """The results file written by ``benchmarks/glu_lm.py`` (default: the committed :data:`RESULTS`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: it is committed in the book's repository (a pip-installed actlab "
                                "does not carry it); regenerate it with `python benchmarks/glu_lm.py`")
    return json.loads(path.read_text(encoding="utf-8"))
