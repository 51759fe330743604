"""Chapters 03 and 04 at full size: small MLPs on scikit-learn's handwritten digits, every activation at every
learning rate, over five seeds.

Experiments (``--experiments``), each a grid of (variant, learning rate, seed); a seed sets the train/test
split, the initial weights and the batch order (``actlab.digits``):

- ``tanh-vs-sigmoid`` (chapter 03): 4 hidden layers of 64, Xavier init, plain SGD, batch 32: sigmoid, tanh,
  and "tanh-from-sigmoid" (the tanh network that computes exactly the sigmoid network's function at
  initialization: ``actlab.exercises.ch03.sigmoid_to_tanh``).
- ``depth`` (chapter 04): 8 hidden layers of 64, plain SGD: sigmoid and tanh with Xavier init, ReLU with
  Kaiming init.
- ``bias-shift`` (chapter 04): 4 hidden layers of 64, Kaiming init, plain SGD: ReLU, and ReLU moved down by ½
  (``actlab.units.ShiftedReLU``), whose outputs then have mean about 0 at initialization.
- ``dying-relu`` (chapter 04): 4 hidden layers of 64, ReLU, PyTorch's default init, Adam (and plain SGD):
  the fraction of dead units of every hidden layer over the training data, at initialization and after
  every epoch.

Every run records its training loss per epoch and its test accuracy. The results, with the command, seeds,
versions and date, go to ``benchmarks/results/digits_activations.json``, which the chapters load and plot.

    python benchmarks/digits_activations.py                 # the committed results (a few minutes, 2 cores)
    python benchmarks/digits_activations.py --quick --out /tmp/q.json   # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import multiprocessing
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

import actlab

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "digits_activations.json"

#: experiment -> settings (variants, learning rates, network, optimizer, epochs)
EXPERIMENTS = {
    "tanh-vs-sigmoid": {"variants": ["sigmoid", "tanh", "tanh-from-sigmoid"],
                        "lrs": [0.03, 0.1, 0.3, 1.0, 3.0, 10.0], "hidden": [64] * 4, "optimizer": "sgd",
                        "epochs": 20, "init": {"sigmoid": "xavier", "tanh": "xavier"}},
    "depth": {"variants": ["sigmoid", "tanh", "relu"], "lrs": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
              "hidden": [64] * 8, "optimizer": "sgd", "epochs": 20,
              "init": {"sigmoid": "xavier", "tanh": "xavier", "relu": "kaiming"}},
    "bias-shift": {"variants": ["relu", "relu-minus-half"], "lrs": [0.03, 0.1, 0.3], "hidden": [64] * 4,
                   "optimizer": "sgd", "epochs": 20, "init": {"relu": "kaiming", "relu-minus-half": "kaiming"}},
    "dying-relu": {"variants": ["adam", "sgd"], "lrs": {"adam": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                                                        "sgd": [0.01, 0.03, 0.1, 0.3, 0.6]},
                   "hidden": [64] * 4, "epochs": 20, "init": "default"},
}
QUICK_EPOCHS = 2


def _model(exp: str, variant: str, seed: int):
    from actlab import digits, experiments
    from actlab.exercises import ch03
    cfg = EXPERIMENTS[exp]
    if exp == "dying-relu":
        return digits.network(cfg["hidden"], "relu", seed, cfg["init"]), "relu"
    if variant == "relu-minus-half":
        from actlab.units import ShiftedReLU
        return digits.network(cfg["hidden"], lambda: ShiftedReLU(0.5), seed, "kaiming"), variant
    if variant == "tanh-from-sigmoid":
        sig = digits.network(cfg["hidden"], "sigmoid", seed, cfg["init"]["sigmoid"])
        layers = ch03.sigmoid_to_tanh(experiments.linear_layers(sig))
        return digits.set_linear_layers(digits.network(cfg["hidden"], "tanh", seed), layers), "tanh"
    return digits.network(cfg["hidden"], variant, seed, cfg["init"][variant]), variant


def run_one(exp: str, variant: str, lr: float, seed: int, epochs: int) -> dict:
    """One training run in a worker process; returns a JSON-ready dict."""
    torch.set_num_threads(1)
    from actlab import digits, units
    data = digits.load(seed)
    model, act = _model(exp, variant, seed)
    optimizer = variant if exp == "dying-relu" else EXPERIMENTS[exp]["optimizer"]
    watch = (lambda m: units.dead_fractions(m, data.X_train)) if exp == "dying-relu" else None
    t0 = time.perf_counter()
    run = digits.train(data, act, model=model, optimizer=optimizer, lr=lr, epochs=epochs, seed=seed,
                       watch=watch)
    out = {"experiment": exp, "variant": variant, "lr": lr, "seed": seed,
           "train_loss": [None if not np.isfinite(v) else round(float(v), 6) for v in run.train_loss],
           "test_accuracy": round(run.test_accuracy, 6), "diverged": run.diverged,
           "seconds": round(time.perf_counter() - t0, 2)}
    if watch:
        out["dead_fraction"] = [[round(v, 6) for v in layer] for layer in run.watched]  # [epoch][layer]
    return out


def jobs_of(experiments: list[str], seeds: list[int]) -> list[tuple[str, str, float, int]]:
    jobs = []
    for exp in experiments:
        cfg = EXPERIMENTS[exp]
        for variant in cfg["variants"]:
            lrs = cfg["lrs"][variant] if isinstance(cfg["lrs"], dict) else cfg["lrs"]
            jobs += [(exp, variant, lr, s) for lr in lrs for s in seeds]
    return jobs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs, for testing the script")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    jobs = jobs_of(args.experiments, args.seeds)
    epochs = {exp: QUICK_EPOCHS if args.quick else EXPERIMENTS[exp]["epochs"] for exp in args.experiments}
    print(f"{len(jobs)} runs, {args.jobs} at a time", flush=True)
    t0 = time.perf_counter()
    runs = []
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_one, e, v, lr, s, epochs[e]) for e, v, lr, s in jobs]
        from tqdm import tqdm
        for fut in tqdm(cf.as_completed(futures), total=len(futures), desc="runs", file=sys.stderr,
                        disable=not sys.stderr.isatty()):
            runs.append(fut.result())
    order = {job: i for i, job in enumerate(jobs)}
    runs.sort(key=lambda r: order[(r["experiment"], r["variant"], r["lr"], r["seed"])])
    out = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT),
                                                                  *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "actlab": actlab.__version__},
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "jobs": args.jobs, "threads_per_run": 1},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "seeds": args.seeds, "epochs": epochs, "batch_size": 32, "data": "sklearn.datasets.load_digits, "
        "75/25 stratified split by seed, standardized with the training statistics (actlab.digits.load)",
        "experiments": {e: EXPERIMENTS[e] for e in args.experiments},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({out['wall_seconds']:.0f} s)")
    for exp in args.experiments:
        print(f"\n{exp}: final training loss / test accuracy, mean over seeds")
        print("| variant | lr | train loss | test accuracy | diverged |\n|---|---|---|---|---|")
        for key in dict.fromkeys((r["variant"], r["lr"]) for r in runs if r["experiment"] == exp):
            rs = [r for r in runs if r["experiment"] == exp and (r["variant"], r["lr"]) == key]
            loss = [r["train_loss"][-1] for r in rs if r["train_loss"][-1] is not None]
            print(f"| {key[0]} | {key[1]:g} | {np.mean(loss) if loss else float('nan'):.4f} | "
                  f"{np.mean([r['test_accuracy'] for r in rs]):.3f} | {sum(r['diverged'] for r in rs)} |")


if __name__ == "__main__":
    main()
