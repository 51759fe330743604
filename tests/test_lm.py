"""actlab.lm: the corpus, the tokenizer, the tiny transformer with pluggable feed-forward blocks, training, and the
committed results of benchmarks/glu_lm.py."""
from pathlib import Path

import numpy as np
import pytest
import torch

from actlab import lm

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "glu_lm.json"


def test_tokenizer_round_trip_and_unknown_characters():
    tok = lm.CharTokenizer()
    assert tok.vocab_size == 98                      # tab, newline, 95 printable, unknown
    text = "def f(x):\n\treturn x ** 2  # ok ~"
    ids = tok.encode(text)
    assert ids.dtype == torch.int64 and tok.decode(ids) == text
    assert tok.encode("é")[0] == tok.vocab_size - 1 and tok.decode(tok.encode("aéb")) == "a\ufffdb"


def test_corpus_is_a_seeded_selection_of_whole_files(tmp_path):
    for i in range(6):
        (tmp_path / f"m{i}.py").write_text(f"x = {i}\n" * (i + 1))
    (tmp_path / "notes.txt").write_text("not python")
    a = lm.stdlib_corpus(n_train=3, n_val=2, seed=1, directory=tmp_path)
    assert a == lm.stdlib_corpus(n_train=3, n_val=2, seed=1, directory=tmp_path)
    assert not set(a.train_files) & set(a.val_files) and len(a.train_files) == 3 and len(a.val_files) == 2
    assert all(f.endswith(".py") for f in a.train_files + a.val_files)
    assert a.train == "\n".join((tmp_path / f).read_text() for f in a.train_files)
    assert lm.stdlib_corpus(n_train=3, n_val=2, seed=2, directory=tmp_path).train_files != a.train_files
    assert len(lm.stdlib_corpus(n_train=3, n_val=2, seed=1, max_chars=5, directory=tmp_path).train) == 5
    with pytest.raises(ValueError, match="has 6 .py files"):
        lm.stdlib_corpus(n_train=5, n_val=2, directory=tmp_path)


def test_the_default_corpus_is_the_standard_library():
    c = lm.stdlib_corpus(n_train=4, n_val=2, seed=0, max_chars=10_000)
    assert all((lm.STDLIB / f).is_file() for f in c.train_files + c.val_files)
    assert "def " in c.train and len(c.val) > 0


@pytest.mark.parametrize("d", [24, 48, 96])
def test_every_feed_forward_variant_has_the_same_parameters(d):
    counts = {v: sum(p.numel() for p in lm.make_ffn(v, d).parameters()) for v in lm.FFN_VARIANTS}
    assert set(counts.values()) == {8 * d * d}, counts
    assert lm.ffn_hidden_size("swiglu", d) == 8 * d // 3 and lm.ffn_hidden_size("relu", d) == 4 * d


def test_unknown_variant_and_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="unknown feed-forward variant"):
        lm.make_ffn("mish", 24)
    with pytest.raises(ValueError, match="multiple of 3"):
        lm.LMConfig(d_model=32)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        lm.TinyLM(98, d_model=24, n_heads=5)


def test_the_model_is_causal_and_checks_the_context():
    torch.manual_seed(0)
    model = lm.TinyLM(98, d_model=24, n_layers=2, n_heads=2, context=16, ffn="geglu").double()
    ids = torch.randint(0, 98, (2, 16))
    out = model(ids)
    assert out.shape == (2, 16, 98)
    changed = ids.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 98
    out2 = model(changed)
    assert torch.allclose(out[:, :10], out2[:, :10]) and not torch.allclose(out[:, 10:], out2[:, 10:])
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, 17, dtype=torch.int64))


def test_a_custom_feed_forward_factory():
    model = lm.TinyLM(98, d_model=24, n_layers=1, n_heads=2, context=8, ffn=lambda d: torch.nn.Identity())
    assert lm.count_parameters(model, ffn_only=True) == 0
    assert model(torch.zeros(1, 8, dtype=torch.int64)).shape == (1, 8, 98)


def test_training_lowers_the_loss_and_is_deterministic():
    corpus = lm.stdlib_corpus(n_train=3, n_val=1, seed=0, max_chars=30_000)
    cfg = lm.LMConfig(d_model=24, n_layers=1, n_heads=2, context=32, batch=8, steps=30, warmup=3,
                      eval_windows=16, eval_every=10)
    a = lm.train_lm(corpus, "swiglu", seed=0, config=cfg, progress=False)
    b = lm.train_lm(corpus, "swiglu", seed=0, config=cfg, progress=False)
    assert a.train_losses[-5:].mean() < a.train_losses[:5].mean() - 0.5
    assert a.val_loss == b.val_loss and np.array_equal(a.train_losses, b.train_losses)
    assert [s for s, _ in a.val_curve] == [10, 20, 30] and a.val_curve[-1][1] == a.val_loss
    assert a.val_bits_per_char == pytest.approx(a.val_loss / np.log(2))
    relu = lm.train_lm(corpus, "relu", seed=0, config=cfg, progress=False)
    assert relu.parameters == a.parameters and relu.ffn_parameters == a.ffn_parameters == 8 * 24 * 24


def test_batches_need_enough_text():
    with pytest.raises(ValueError, match="need more than context"):
        lm.batches(torch.zeros(10, dtype=torch.int64), 2, 16, torch.Generator())


def test_the_committed_results_are_complete_and_consistent():
    res = lm.load_results()
    assert lm.RESULTS == RESULTS
    for key in ("command", "date", "versions", "seeds", "variants", "config", "corpus", "summary", "runs"):
        assert key in res, key
    assert res["command"].startswith("python benchmarks/glu_lm.py")
    assert {"relu", "gelu", "glu", "bilinear", "reglu", "geglu", "swiglu"} <= set(res["variants"])
    assert len(res["seeds"]) >= 3
    assert sorted((r["variant"], r["seed"]) for r in res["runs"]) == sorted(
        (v, s) for v in res["variants"] for s in res["seeds"])
    assert len({r["parameters"] for r in res["runs"]}) == 1 and len({r["ffn_parameters"] for r in res["runs"]}) == 1
    for v, s in res["summary"].items():
        vals = [r["val_loss"] for r in res["runs"] if r["variant"] == v]
        assert s["val_loss_mean"] == pytest.approx(np.mean(vals))
    lm.LMConfig(**res["config"])  # the recorded configuration is a valid one
    with pytest.raises(FileNotFoundError, match="regenerate it"):
        lm.load_results(RESULTS.with_name("missing.json"))
