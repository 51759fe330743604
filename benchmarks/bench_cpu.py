"""Forward+backward time of every actlab activation against torch's native one, on the CPU.

For each function and size the script times ``y = f(x); y.backward(g)`` for torch's implementation, actlab's
default (eager) path and, unless ``--no-compile``, actlab's opt-in compiled path (``actlab.functional.compiled``),
interleaved in the same loop so that they see the same machine, and reports medians, the ratios to torch and
the effective bandwidth: the bytes a fused forward+backward has to move (read x, write y; read g and one saved
tensor, write the gradient; twice that for the two-input gates) divided by the time. ``passes`` counts the
elementwise kernels actlab's eager path runs on each chunk, or on the whole input up to 1M elements (forward +
backward; torch runs 1 + 1), and ``min ratio``
is the ratio of the fastest repeats, less sensitive than the medians to other programs sharing the CPU (the
header prints the load average).

    python benchmarks/bench_cpu.py                 # 1M and 16M float32 elements, eager and compiled
    python benchmarks/bench_cpu.py --quick         # 1M only, fewer repeats, no compile
    python benchmarks/bench_cpu.py --functions gelu silu --sizes 1M
"""
from __future__ import annotations

import argparse
import os
import time
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

import actlab
from actlab import functional as AF
from actlab.timing import cpu_model

ROW = 1024  # row length for the softmax family and glu


def cases():
    """name -> (actlab function, torch function, number of inputs, streams moved per element)."""
    return {
        "sigmoid": (actlab.sigmoid, torch.sigmoid, 1, 5),
        "tanh": (actlab.tanh, torch.tanh, 1, 5),
        "relu": (actlab.relu, F.relu, 1, 5),
        "leaky_relu": (actlab.leaky_relu, F.leaky_relu, 1, 5),
        "elu": (actlab.elu, F.elu, 1, 5),
        "selu": (actlab.selu, F.selu, 1, 5),
        "softplus": (actlab.softplus, F.softplus, 1, 5),
        "softmax": (lambda x: actlab.softmax(x, -1), lambda x: F.softmax(x, -1), 1, 5),
        "log_softmax": (lambda x: actlab.log_softmax(x, -1), lambda x: F.log_softmax(x, -1), 1, 5),
        "gelu": (actlab.gelu, F.gelu, 1, 5),
        "gelu_tanh": (lambda x: actlab.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh"), 1, 5),
        "silu": (actlab.silu, F.silu, 1, 5),
        "swish": (lambda x: actlab.swish(x, 1.5), lambda x: x * torch.sigmoid(1.5 * x), 1, 5),
        "glu": (actlab.glu, F.glu, 1, 4),  # read x, write x/2; read g (x/2) and x, write x
        "swiglu": (actlab.swiglu, lambda a, b: F.silu(a) * b, 2, 8),
        "geglu": (actlab.geglu, lambda a, b: F.gelu(a) * b, 2, 8),
    }


def compiled_case(name):
    """The compiled counterpart of a case (the same call through actlab.functional.compiled)."""
    fn = {"gelu_tanh": "gelu"}.get(name, name)
    f = AF.compiled(fn, dynamic=False)            # recompiled per shape: each size gets its best kernel
    return {
        "softmax": lambda x: f(x, -1), "log_softmax": lambda x: f(x, -1),
        "gelu_tanh": lambda x: f(x, "tanh"), "swish": lambda x: f(x, 1.5),
    }.get(name, f)


_NOT_KERNELS = {"promote_types", "view", "_unsafe_view", "slice", "select", "as_strided", "detach", "t",
                "transpose", "expand", "split", "split_with_sizes", "alias", "empty", "empty_like", "new_empty",
                "empty_strided", "full", "lift_fresh", "_to_copy", "unsqueeze", "squeeze", "reshape", "clone",
                "_local_scalar_dense", "new_ones"}   # (new_ones: the 0-d tensors of a clamp or an addcmul)


def passes(name):
    """Elementwise/reduction kernels dispatched by actlab's eager forward and backward on one chunk."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += func.overloadpacket.__name__ not in _NOT_KERNELS
            return func(*args, **(kwargs or {}))

    a_fn, _, n_in, _ = cases()[name]
    xs = [x.requires_grad_() for x in make_inputs(n_in, AF.CHUNK)]
    with Count() as fwd:
        y = a_fn(*xs)
    g = torch.ones_like(y)
    with Count() as bwd:
        torch.autograd.grad(y, xs, g)
    return f"{fwd.n}+{bwd.n}"


def make_inputs(n_inputs, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n // ROW, ROW, generator=g) * 3 for _ in range(n_inputs)]


def step(fn, inputs, grad):
    xs = [x.detach().requires_grad_() for x in inputs]
    t0 = time.perf_counter()
    y = fn(*xs)
    y.backward(grad)
    return time.perf_counter() - t0


def measure(name, n, repeats, with_compile):
    a_fn, t_fn, n_in, streams = cases()[name]
    inputs = make_inputs(n_in, n)
    with torch.no_grad():
        grad = torch.randn_like(t_fn(*inputs))
    variants = {"torch": t_fn, "actlab": a_fn}
    compile_s = None
    if with_compile:
        variants["compiled"] = compiled_case(name)
        compile_s = step(variants["compiled"], inputs, grad)   # first call: trace + compile fwd and bwd
    times = {k: [] for k in variants}
    for v in variants.values():                                # warm-up
        step(v, inputs, grad)
    for _ in range(repeats):
        for k, v in variants.items():
            times[k].append(step(v, inputs, grad))
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    gbytes = streams * n * 4 / 1e9
    return med, best, gbytes, compile_s


def parse_size(s):
    s = s.upper()
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
    return int(s[:-1] if s[-1] in "KM" else s) * mult


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["1M", "16M"], help="element counts (default: 1M 16M)")
    p.add_argument("--functions", nargs="+", default=list(cases()), choices=list(cases()), metavar="NAME",
                   help="functions to time (default: all): " + " ".join(cases()))
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per size (default: 101 at 1M, 9 at 16M)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile path")
    p.add_argument("--quick", action="store_true", help="1M only, 9 repeats, no compile")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.no_compile = ["1M"], True
        args.repeats = args.repeats or 9
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [parse_size(s) for s in args.sizes]
    with_compile = not args.no_compile

    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, python {platform.python_version()}; float32; median of the timed repeats; "
          f"actlab.functional.CHUNK = {AF.CHUNK}, ONE_PIECE = {AF.ONE_PIECE} (chunked above {AF.CHUNK * AF.ONE_PIECE} "
          f"elements); actlab's outputs of 32 MB and more in transparent huge pages: "
          f"{'yes' if AF._libc_madvise() else 'no'} (ACTLAB_HUGE_PAGES; torch's own outputs: plain pages); "
          f"load average at start {load}; {time.strftime('%Y-%m-%d %H:%M')}\n")
    head = "| function | elements | torch ms | actlab ms | ratio | min ratio | torch GB/s | actlab GB/s | passes |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if with_compile:
        head += " compiled ms | ratio | min ratio | compile s |"
        rule += "---:|---:|---:|---:|"
    rows = []
    jobs = [(n, f) for n in sizes for f in args.functions]
    for n, name in tqdm(jobs, desc="timing", file=sys.stderr, leave=False):
        repeats = args.repeats or (101 if n <= (1 << 22) else 9)
        med, best, gb, compile_s = measure(name, n, repeats, with_compile)
        label = f"{n / (1 << 20):g}M"
        row = (f"| {name} | {label} | {med['torch'] * 1e3:.2f} | {med['actlab'] * 1e3:.2f} | "
               f"{med['actlab'] / med['torch']:.2f} | {best['actlab'] / best['torch']:.2f} | "
               f"{gb / med['torch']:.1f} | {gb / med['actlab']:.1f} | {passes(name)} |")
        if with_compile:
            row += (f" {med['compiled'] * 1e3:.2f} | {med['compiled'] / med['torch']:.2f} | "
                    f"{best['compiled'] / best['torch']:.2f} | {compile_s:.1f} |")
        rows.append(row)
        tqdm.write(row, file=sys.stderr)
    print(head)
    print(rule)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
