"""Chapter 10's language-model experiment at full size: feed-forward variants in a tiny character-level
transformer trained on the Python standard library's source, at equal parameter count, over several seeds.

Every variant (ReLU, GELU, Swish: the plain block with hidden 4d; GLU, bilinear, ReGLU, GEGLU, SwiGLU: the
gated block with hidden 8d/3) is trained with the same data, schedule and seeds by ``actlab.lm.train_lm``;
the validation loss (nats per character, held-out standard-library files) is written with the command, the
seeds, the versions, the date and the corpus to a JSON file that the chapter loads and plots.

    python benchmarks/glu_lm.py                         # the committed results (1-3 hours on 2 busy cores)
    python benchmarks/glu_lm.py --quick --out /tmp/q.json   # a 20-second smoke run
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
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
from actlab import lm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = lm.RESULTS  # benchmarks/results/glu_lm.json
FULL = lm.LMConfig(d_model=48, n_layers=2, n_heads=4, context=128, batch=16, steps=1500, lr=3e-3,
                   warmup=100, eval_windows=512, eval_every=250)
QUICK = lm.LMConfig(d_model=24, n_layers=1, n_heads=2, context=32, batch=8, steps=20, warmup=5,
                    eval_windows=32, eval_every=10)
CORPUS = {"n_train": 60, "n_val": 10, "seed": 0}
EVERY = 20  # training losses are stored as means over blocks of this many steps


def run_one(variant: str, seed: int, config: dict, corpus: dict) -> dict:
    """One training run in a worker process; returns a JSON-ready dict."""
    torch.set_num_threads(1)
    result = lm.train_lm(lm.stdlib_corpus(**corpus), variant, seed, lm.LMConfig(**config), progress=False)
    n = len(result.train_losses) // EVERY * EVERY
    return {"variant": variant, "seed": seed, "val_loss": result.val_loss,
            "val_bits_per_char": result.val_bits_per_char, "val_curve": [list(p) for p in result.val_curve],
            "train_loss_every": EVERY,
            "train_loss": result.train_losses[:n].reshape(-1, EVERY).mean(1).round(5).tolist(),
            "parameters": result.parameters, "ffn_parameters": result.ffn_parameters,
            "seconds": round(result.seconds, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=list(lm.FFN_VARIANTS), choices=lm.FFN_VARIANTS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--quick", action="store_true", help="a tiny configuration, for testing the script")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.steps:
        config = dataclasses.replace(config, steps=args.steps)
    corpus = lm.stdlib_corpus(**CORPUS)
    jobs = [(v, s) for s in args.seeds for v in args.variants]
    print(f"{len(jobs)} runs, {args.jobs} at a time; corpus: {corpus.describe()}", flush=True)
    t0 = time.perf_counter()
    runs = []
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_one, v, s, dataclasses.asdict(config), CORPUS) for v, s in jobs]
        from tqdm import tqdm
        for fut in tqdm(cf.as_completed(futures), total=len(futures), desc="runs", file=sys.stderr,
                        disable=not sys.stderr.isatty()):
            r = fut.result()
            runs.append(r)
            print(f"{r['variant']:>8} seed {r['seed']}: validation {r['val_loss']:.4f} nats/char "
                  f"({r['seconds']:.0f} s)", flush=True)
    runs.sort(key=lambda r: (args.variants.index(r["variant"]), r["seed"]))
    summary = {}
    for v in args.variants:
        vals = np.array([r["val_loss"] for r in runs if r["variant"] == v])
        summary[v] = {"val_loss_mean": float(vals.mean()), "val_loss_std": float(vals.std(ddof=1)) if len(vals) > 1
                      else 0.0, "val_loss_min": float(vals.min()), "val_loss_max": float(vals.max())}
    out = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT),
                                                                  *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "actlab": actlab.__version__},
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "jobs": args.jobs, "threads_per_run": 1},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "seeds": args.seeds, "variants": args.variants, "config": dataclasses.asdict(config),
        "corpus": {**CORPUS, "train_chars": len(corpus.train), "val_chars": len(corpus.val),
                   "train_files": list(corpus.train_files), "val_files": list(corpus.val_files),
                   "python": corpus.python},
        "metric": "validation cross-entropy, nats per character (held-out standard-library files)",
        "summary": summary, "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({out['wall_seconds']:.0f} s)")
    print("| variant | validation loss (mean ± std over seeds) |\n|---|---|")
    for v, s in summary.items():
        print(f"| {v} | {s['val_loss_mean']:.4f} ± {s['val_loss_std']:.4f} |")


if __name__ == "__main__":
    main()
