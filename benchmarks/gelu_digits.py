"""Chapter 08 at full size: is GELU "better than ReLU and ELU" (the source's claim) on a small problem?

MLPs with three hidden layers of 64 units on scikit-learn's handwritten digits (``actlab.digits``), PyTorch's
default initialization, minibatches of 32, with ReLU, ELU, GELU (exact) and GELU (tanh form), trained by plain
SGD (lr 0.1) and by Adam (lr 1e-3) for 20 epochs, over ten seeds; a seed sets the train/test split, the initial
weights and the batch order. Every run records its test accuracy, its training loss per epoch and, per hidden
layer, the fraction of *practically dead* units: units whose derivative is below 1e-3 in absolute value on
every training example (for ReLU that is exactly the dead units, z <= 0 everywhere).

The results, with the command, seeds, versions and date, go to ``benchmarks/results/gelu_digits.json``, which
chapter 08 loads and plots.

    python benchmarks/gelu_digits.py                      # the committed results (a few minutes, one core)
    python benchmarks/gelu_digits.py --quick --out /tmp/q.json     # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gelu_digits.json"
ACTIVATIONS = ("relu", "elu", "gelu", "gelu_tanh")
OPTIMIZERS = {"sgd": 0.1, "adam": 1e-3}
HIDDEN = (64, 64, 64)
DEAD_SLOPE = 1e-3


def gelu_tanh() -> nn.Module:
    """GELU in its tanh form, as a module factory."""
    return nn.GELU(approximate="tanh")


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """f'(z) of the activation ``name`` (float64)."""
    from actlab import numpy_ref
    z = np.asarray(z, dtype=np.float64)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "elu":
        return numpy_ref.elu_grad(z)
    if name == "gelu":
        return numpy_ref.gelu_grad(z)
    if name == "gelu_tanh":
        return numpy_ref.gelu_grad(z, approximate="tanh")
    raise ValueError(name)


def practically_dead(name: str, model, X) -> list[float]:
    """Per hidden layer, the fraction of units with |f'(z)| < DEAD_SLOPE on every row of X."""
    from actlab import digits
    return [float(np.mean(np.all(np.abs(derivative(name, z)) < DEAD_SLOPE, axis=0)))
            for z, _ in digits.hidden_layers(model, X)]


def run_one(activation: str, optimizer: str, seed: int, epochs: int) -> dict:
    from actlab import digits
    data = digits.load(seed=seed)
    act = gelu_tanh if activation == "gelu_tanh" else activation
    run = digits.train(data, act, hidden=HIDDEN, optimizer=optimizer, lr=OPTIMIZERS[optimizer], epochs=epochs,
                       seed=seed)
    return {"activation": activation, "optimizer": optimizer, "lr": OPTIMIZERS[optimizer], "seed": seed,
            "test_accuracy": run.test_accuracy, "train_loss": [round(float(v), 6) for v in run.train_loss],
            "diverged": run.diverged, "practically_dead": practically_dead(activation, run.model, data.X_train)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs: a smoke run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    seeds = range(2 if args.quick else args.seeds)
    epochs = 2 if args.quick else args.epochs
    from tqdm.auto import tqdm

    import actlab
    jobs = [(a, o, s) for o in OPTIMIZERS for a in ACTIVATIONS for s in seeds]
    start = time.time()
    torch.set_num_threads(1)
    runs = [run_one(a, o, s, epochs) for a, o, s in tqdm(jobs, desc="runs")]
    import sklearn
    result = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT),
                                                                  *(argv or sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - start, 1),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "actlab": actlab.__version__},
        "machine": platform.platform(),
        "settings": {"hidden": list(HIDDEN), "epochs": epochs, "batch_size": 32, "init": "PyTorch default",
                     "optimizers": OPTIMIZERS, "activations": list(ACTIVATIONS), "seeds": list(seeds),
                     "dead_slope": DEAD_SLOPE},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(runs)} runs in {result['seconds']} s -> {args.out}")
    for o in OPTIMIZERS:
        for a in ACTIVATIONS:
            acc = [r["test_accuracy"] for r in runs if r["activation"] == a and r["optimizer"] == o]
            print(f"{o:5s} {a:10s} test accuracy {np.mean(acc):.4f} ± {np.std(acc, ddof=1):.4f}")


if __name__ == "__main__":
    main()
