"""The capstone's comparison at full size: every activation of the book on load_digits over several seeds
(actlab.shootout): accuracy, training time, saturated and dead units after training, and the weight-gradient
norm of every layer at initialization. Writes the results file the capstone page loads.

    python benchmarks/capstone_activations.py                      # the committed results (a few minutes)
    python benchmarks/capstone_activations.py --seeds 0 --out /tmp/q.json
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
import sklearn
import torch
from tqdm import tqdm

import actlab
from actlab import digits, shootout

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "capstone_activations.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    data = digits.load(seed=0)
    results = []
    jobs = [(a, s) for a in shootout.ACTIVATIONS for s in args.seeds]
    for a, s in tqdm(jobs, desc="activation x seed"):
        results.append(dataclasses.asdict(shootout.run_one(a, s, depth=args.depth, epochs=args.epochs,
                                                           lr=args.lr, data=data)))
    out = {"command": "python " + " ".join(shlex.quote(x) for x in [Path(__file__).relative_to(ROOT).as_posix(),
                                                                    *(argv or sys.argv[1:])]),
           "seeds": args.seeds, "depth": args.depth, "epochs": args.epochs, "lr": args.lr,
           "optimizer": "adam", "batch_size": 32, "data": "sklearn load_digits, actlab.digits.load(seed=0)",
           "versions": {"python": platform.python_version(), "torch": torch.__version__,
                        "numpy": np.__version__, "scikit-learn": sklearn.__version__, "actlab": actlab.__version__},
           "machine": platform.machine(), "threads": 1,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
