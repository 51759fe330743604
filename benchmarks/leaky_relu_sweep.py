"""Chapter 05 at full size: Leaky ReLU slopes x learning rates x seeds on scikit-learn's handwritten digits.

Every run trains a 64 -> 64 -> 64 -> 10 MLP (PyTorch's default init, float32) with Adam, minibatches of 64,
for 600 steps, on the training images of ``actlab.digits.load(seed=0)`` (a stratified 75/25 split). The
slopes, learning rates and seeds form a grid; all its networks train side by side as one stacked model
(``actlab.batched_mlp``, one learning rate per network), and networks with the same seed share their initial
weights and their batch order, so the slopes are compared in pairs.

Recorded per run: the fraction of dead hidden units after training (pre-activation <= 0 on every training
image), train and test accuracy, the loss roughness over the second half of training (RMS of the minibatch
loss around its 25-step moving average, nats), the coefficient of variation of the gradient norm over the
same steps, and the median minibatch loss of the last 50 steps; per slope and learning rate, the mean loss
curve over seeds (every 5th step). Results, with the command, seeds, versions and date, go to
``benchmarks/results/leaky_relu_sweep.json``, which chapter 05 loads and plots.

    python benchmarks/leaky_relu_sweep.py                       # the committed results (minutes, 2 cores)
    python benchmarks/leaky_relu_sweep.py --quick --out /tmp/q.json   # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import actlab
from actlab import batched_mlp as B

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "leaky_relu_sweep.json"
LRS = [0.003, 0.01, 0.02, 0.03, 0.05, 0.1]
GAMMAS = [0.0, 0.01, 0.03, 0.1, 0.3]
SIZES = [64, 64, 64, 10]
BATCH, STEPS, CURVE_EVERY = 64, 600, 5


def run_all(lrs, gammas, seeds, steps: int, data) -> dict:
    """Every (learning rate, slope, seed) network, trained side by side (one learning rate per network)."""
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    grid = [(lr, g, s) for lr in lrs for g in gammas for s in seeds]
    model = B.BatchedMLP(SIZES, seeds=[s for _, _, s in grid],
                         activation=B.PerNetLeakyReLU([g for _, g, _ in grid]), dtype=torch.float32)
    hist = B.train(model, X, y, steps=steps, lr=[lr for lr, _, _ in grid], optimizer="adam",
                   batch_size=BATCH, progress=True)
    half = hist.grad_norms[steps // 2:]
    shape = (len(lrs), len(gammas), len(seeds))
    per_run = {
        "dead": B.dead_fraction(model, X),
        "test_acc": B.accuracy(model, Xt, yt),
        "train_acc": B.accuracy(model, X, y),
        "roughness": B.roughness(hist.losses),
        "grad_cv": half.std(0) / half.mean(0),
        "final_loss": np.median(hist.losses[-50:], axis=0),
    }
    per_run = {k: v.reshape(shape) for k, v in per_run.items()}
    curves = hist.losses[::CURVE_EVERY].reshape(-1, *shape).mean(axis=3)   # (points, lrs, gammas)
    out = {}
    for i, lr in enumerate(lrs):
        out[str(lr)] = {k: v[i].round(6).tolist() for k, v in per_run.items()}
        out[str(lr)]["loss_curve"] = curves[:, i].T.round(6).tolist()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 (default 8)")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 2 learning rates, 60 steps")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    seeds = list(range(2 if args.quick else args.seeds))
    lrs = LRS[1::3] if args.quick else LRS
    steps = 60 if args.quick else args.steps
    from actlab import digits
    data = digits.load(seed=0)
    t0 = time.perf_counter()
    results = run_all(lrs, GAMMAS, seeds, steps, data)
    record = {
        "command": "python benchmarks/leaky_relu_sweep.py" + (" " + shlex.join(argv if argv is not None
                                                                             else sys.argv[1:])).rstrip(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "actlab": actlab.__version__},
        "machine": {"processor": platform.machine(), "threads": 1},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "seeds": seeds, "gammas": GAMMAS, "lrs": lrs, "sizes": SIZES, "optimizer": "adam",
        "batch_size": BATCH, "steps": steps, "curve_every": CURVE_EVERY, "dtype": "float32",
        "data": "sklearn.datasets.load_digits, 75/25 stratified split with seed 0, standardized with the "
                "training statistics (actlab.digits.load)",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out} in {record['wall_seconds']} s")
    print(f"{'lr':>6} {'gamma':>6} {'dead':>6} {'test acc':>9} {'roughness':>9} {'grad cv':>8}")
    for lr in lrs:
        r = results[str(lr)]
        for i, g in enumerate(GAMMAS):
            m = {k: float(np.mean(r[k][i])) for k in ("dead", "test_acc", "roughness", "grad_cv")}
            print(f"{lr:6g} {g:6g} {m['dead']:6.3f} {m['test_acc']:9.3f} {m['roughness']:9.3f} "
                  f"{m['grad_cv']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
