"""The committed results files of the heavy experiments (CURRICULUM.md's results-file rule) are complete and
consistent: every combination the file says it ran is there exactly once, every curve has its stated length, every
number is finite where it must be, and the command that made the file names a script that exists.
(``glu_lm.json`` has its own test in test_lm.py.) A failure means the file was edited by hand or written by an
interrupted run: regenerate it with the command it records."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["capstone_activations", "digits_activations", "gelu_digits", "leaky_relu_sweep"])
def test_the_recorded_command_names_an_existing_script(name):
    res = load(name)
    script = res["command"].split()[1]
    assert res["command"].startswith("python benchmarks/") and (ROOT / script).is_file(), res["command"]
    assert Path(script).stem == name


def test_capstone_has_every_activation_and_seed_once():
    res = load("capstone_activations")
    runs = Counter((r["activation"], r["seed"]) for r in res["results"])
    activations = sorted({a for a, _ in runs})
    assert len(activations) >= 8 and max(runs.values()) == 1
    assert set(runs) == {(a, s) for a in activations for s in res["seeds"]}
    for r in res["results"]:
        gated = r["activation"].endswith("glu")   # no saturation for a gated unit: nan by design (actlab.shootout)
        units = (r["saturated"], r["dead"])
        assert 0 <= r["accuracy"] <= 1 and (all(map(math.isnan, units)) if gated else
                                            all(0 <= v <= 1 for v in units)), r
        assert r["seconds"] > 0 and len(r["grad_norms"]) == res["depth"] + 1, r
        assert all(math.isfinite(g) and g >= 0 for g in r["grad_norms"]), r
    for a in activations:   # one architecture per activation: the seeds change the weights, not the size
        assert len({r["parameters"] for r in res["results"] if r["activation"] == a}) == 1, a


def test_digits_has_every_variant_rate_and_seed_once():
    res = load("digits_activations")
    runs = Counter((r["experiment"], r["variant"], r["lr"], r["seed"]) for r in res["runs"])
    assert max(runs.values()) == 1
    expected = set()
    for exp, spec in res["experiments"].items():
        for variant in spec["variants"]:
            lrs = spec["lrs"][variant] if isinstance(spec["lrs"], dict) else spec["lrs"]
            expected |= {(exp, variant, lr, seed) for lr in lrs for seed in res["seeds"]}
    assert set(runs) == expected
    for r in res["runs"]:
        assert len(r["train_loss"]) == res["epochs"][r["experiment"]], (r["experiment"], r["variant"], r["lr"])
        assert r["diverged"] or (0 <= r["test_accuracy"] <= 1 and all(map(math.isfinite, r["train_loss"])))


def test_gelu_digits_has_every_activation_optimizer_and_seed_once():
    res = load("gelu_digits")
    s = res["settings"]
    runs = Counter((r["activation"], r["optimizer"], r["seed"]) for r in res["runs"])
    assert max(runs.values()) == 1
    assert set(runs) == {(a, o, seed) for a in s["activations"] for o in s["optimizers"] for seed in s["seeds"]}
    for r in res["runs"]:
        assert r["lr"] == s["optimizers"][r["optimizer"]]
        assert len(r["train_loss"]) == s["epochs"] and (r["diverged"] or 0 <= r["test_accuracy"] <= 1), r["seed"]


def test_leaky_relu_sweep_is_a_full_grid():
    res = load("leaky_relu_sweep")
    assert sorted(map(float, res["results"])) == sorted(res["lrs"])
    for lr, metrics in res["results"].items():
        for metric, table in metrics.items():
            assert len(table) == len(res["gammas"]), (lr, metric)
            if metric == "loss_curve":   # the mean curve per slope, sampled every curve_every steps
                assert all(len(row) == res["steps"] // res["curve_every"] for row in table), (lr, metric)
            else:                        # one value per slope and seed
                assert all(len(row) == len(res["seeds"]) for row in table), (lr, metric)
        assert all(0 <= v <= 1 for row in metrics["dead"] + metrics["test_acc"] for v in row), lr
