"""Maximum error in ULP of every activation, actlab against torch, side by side, against 40-digit mpmath references.

Inputs are the standard sweep of actlab.numerics (a dense grid of [-100, 100] plus subnormal, tiny and extreme
values; rows of them for the softmax family); the GELU rows also show [-10, 10], the range of the issue's
target, and the left tail [-10, -5] where torch's float32 gelu cancels. The underflow rule of
``actlab.numerics.ulp_error`` applies (a true value below the smallest normal number is judged by absolute error).

The last column is actlab's opt-in compiled path (``actlab.functional.compiled``, float32), whose formulas
differ in places (see its docstring).

    python benchmarks/bench_accuracy.py                  # float32, bfloat16 and float16, and compiled float32
    python benchmarks/bench_accuracy.py --dtypes float32 --dense 200001 --no-compile
    python benchmarks/bench_accuracy.py --device cuda    # the same table on a GPU (CUDA's exp, log1p, erfc)
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import actlab
from actlab import functional as AF
from actlab import numerics as N
from actlab.timing import cpu_model


def functions():
    """name -> (reference name, actlab, torch or None, input range or None for the standard sweep)."""
    sig = torch.sigmoid
    return {
        "sigmoid": ("sigmoid", actlab.sigmoid, sig, None),
        "tanh": ("tanh", actlab.tanh, torch.tanh, None),
        "relu": ("relu", actlab.relu, F.relu, None),
        "leaky_relu": ("leaky_relu", actlab.leaky_relu, F.leaky_relu, None),
        "elu": ("elu", actlab.elu, F.elu, None),
        "selu": ("selu", actlab.selu, F.selu, None),
        "softplus": ("softplus", actlab.softplus, F.softplus, None),
        "softmax": ("softmax", lambda x: actlab.softmax(x, -1), lambda x: F.softmax(x, -1), None),
        "log_softmax": ("log_softmax", lambda x: actlab.log_softmax(x, -1), lambda x: F.log_softmax(x, -1), None),
        "silu": ("silu", actlab.silu, F.silu, None),
        "swish (beta=1.5)": ("swish", lambda x: actlab.swish(x, 1.5), lambda x: x * sig(1.5 * x), None),
        "glu": ("glu", lambda x: actlab.glu(x, -1), lambda x: F.glu(x, -1), None),
        "gelu": ("gelu", actlab.gelu, F.gelu, None),
        "gelu on [-10, 10]": ("gelu", actlab.gelu, F.gelu, (-10, 10)),
        "gelu on [-10, -5]": ("gelu", actlab.gelu, F.gelu, (-10, -5)),
        "gelu tanh": ("gelu_tanh", lambda x: actlab.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh"), None),
        "gelu tanh on [-10, 10]": ("gelu_tanh", lambda x: actlab.gelu(x, "tanh"),
                                   lambda x: F.gelu(x, approximate="tanh"), (-10, 10)),
        "gelu sigmoid on [-10, 10]": ("gelu_sigmoid", lambda x: actlab.gelu(x, "sigmoid"),
                                      lambda x: x * sig(1.702 * x), (-10, 10)),
    }


def inputs(ref_name, dtype, dense, span):
    if ref_name in N.ROWWISE:
        return N.softmax_rows(dtype, n_dense=max(dense // 5, 1001))
    if span is None:
        return N.sweep(dtype, n_dense=dense)
    x = N.sweep(dtype, n_dense=dense, lo=span[0], hi=span[1])
    return x[(x >= span[0]) & (x <= span[1])]


def compiled_path(fn):
    """fn (a call of actlab's public functions) with its formulas run through torch.compile, as
    actlab.functional.compiled does for one function."""
    def run(*args):
        token = AF._COMPILE.set({})
        try:
            return fn(*args)
        finally:
            AF._COMPILE.reset(token)
    return run


def on(device, fn):
    """fn computing on ``device``: the inputs are moved there, the result back to the CPU."""
    if device == "cpu":
        return fn
    return lambda *xs: fn(*(x.to(device) for x in xs)).cpu()


def fmt(err):
    return "inf" if not np.isfinite(err) else (f"{err:.3g}" if err >= 1e4 else f"{err:.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16", "float16"],
                   choices=["float32", "bfloat16", "float16"], help="dtypes (default: all three)")
    p.add_argument("--dense", type=int, default=40001, help="points of the dense grid (default: 40001)")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled path's column")
    p.add_argument("--device", default="cpu", help="where actlab and torch compute (default: cpu; e.g. cuda)")
    p.add_argument("--quick", action="store_true", help="float32 only, a 10001-point grid, no compile")
    args = p.parse_args(argv)
    if args.quick:
        args.dtypes, args.dense, args.no_compile = ["float32"], 10001, True
    dtypes = [getattr(torch, d) for d in args.dtypes]

    if args.device != "cpu" and (torch.device(args.device).type != "cuda" or not torch.cuda.is_available()):
        p.error(f"--device {args.device}: no such device here (torch.cuda.is_available() is "
                f"{torch.cuda.is_available()})")
    where = f" on {cpu_model()}" if args.device == "cpu" else f" on {torch.cuda.get_device_name(args.device)}"
    print(f"torch {torch.__version__}{where}; max ULP error over the sweep (dense grid of {args.dense} points on "
          "[-100, 100] + extremes, or the range named); references: mpmath at 40 digits\n")
    head = "| function | " + " | ".join(f"actlab {d} | torch {d}" for d in args.dtypes)
    print(head + ("" if args.no_compile else " | actlab compiled float32") + " |")
    print("|---|" + "---:|---:|" * len(dtypes) + ("" if args.no_compile else "---:|"))
    table = functions()
    jobs = tqdm(table.items(), desc="references", file=sys.stderr, leave=False)
    for label, (ref_name, ours, theirs, span) in jobs:
        ours, theirs = on(args.device, ours), on(args.device, theirs)
        cells = []
        for dtype in dtypes:
            x = inputs(ref_name, dtype, args.dense, span)
            params = {"beta": 1.5} if ref_name == "swish" else {}
            err_ours, _ = N.max_ulp(ref_name, ours, dtype, x=x, **params)
            err_torch, _ = N.max_ulp(ref_name, theirs, dtype, x=x, **params)
            cells += [fmt(err_ours), fmt(err_torch)]
        if not args.no_compile:
            x = inputs(ref_name, torch.float32, args.dense, span)
            cells.append(fmt(N.max_ulp(ref_name, compiled_path(ours), torch.float32, x=x, **params)[0]))
        tqdm.write("| " + label + " | " + " | ".join(cells) + " |", file=sys.stdout)


if __name__ == "__main__":
    main()
