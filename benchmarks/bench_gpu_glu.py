"""Benchmark 6c: the fused Triton GLU gates against torch eager and torch.compile on a CUDA GPU.

For SwiGLU, GeGLU (exact) and GeGLU (tanh), at a few sizes in bfloat16 and float32, it measures

* forward and forward+backward time (median of ``triton.testing.do_bench``, L2 flushed between runs) for
  the fused kernels (``actlab.triton_glu``), torch eager (``F.silu(a) * b``, ``F.gelu(a) * b``) and
  ``torch.compile`` of that same eager expression;
* effective bandwidth: the minimal traffic (forward: read a, b, write out = 3 N elements; forward+backward:
  that plus read g, a, b, write da, db = 8 N) over the time, in GB/s and as % of the card's peak HBM
  bandwidth (by device name, or ``--peak-gbps``), next to a measured device-to-device copy and, per size,
  torch's ``a + b``, which moves the forward's bytes with no arithmetic (what any kernel can reach there);
* memory: what autograd holds from forward to backward (output + saved tensors) and the peak above the
  inputs during forward+backward (``torch.cuda.max_memory_allocated``);
* host time per call: eager, fused and ``actlab.swiglu`` on small tensors, the floor of any autograd.Function
  (one that launches nothing), and each piece of the fused path (checks, device context, allocation, the two
  Triton launches), timed on the CPU's clock;
* float32 accuracy on [-10, 10] (max ulp against float64), and a sweep of the fused kernels' BLOCK and num_warps
  (each kernel alone, all three gates).

Targets (issue 2): fused forward >= 85 % of peak HBM bandwidth; fused forward+backward >= 1.6x torch eager.

    PYTHONPATH=src python3 benchmarks/bench_gpu_glu.py            # about 1-2 minutes on an H100
    PYTHONPATH=src python3 benchmarks/bench_gpu_glu.py --sizes 24 --dtypes bf16 --no-compile   # quick look
"""

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

PEAK_GBPS = [  # (substring of torch.cuda.get_device_name, peak HBM GB/s from the vendor's data sheet)
    ("H200", 4800), ("H100 NVL", 3900), ("H100 PCIe", 2000), ("H100", 3350),  # H100 SXM 80GB HBM3
    ("A100-SXM4-80GB", 2039), ("A100 80GB PCIe", 1935), ("A100", 1555),
]
DEVICE = "cuda"
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
TARGET_FWD_PEAK, TARGET_SPEEDUP = 0.85, 1.6


def eager_ops():
    return {
        "swiglu": lambda a, b: F.silu(a) * b,
        "geglu": lambda a, b: F.gelu(a) * b,
        "geglu_tanh": lambda a, b: F.gelu(a, approximate="tanh") * b,
    }


def triton_glu():
    """actlab.triton_glu; or, on a bare GPU machine where actlab's other modules cannot import (no numpy),
    the file on its own: the kernels need only torch and triton."""
    try:
        import actlab.triton_glu as tg
    except ImportError as err:
        import importlib.util

        spec = importlib.util.spec_from_file_location("actlab_triton_glu", SRC / "actlab" / "triton_glu.py")
        if spec.name not in sys.modules:
            print(f"note: `import actlab` failed ({err}); using src/actlab/triton_glu.py on its own")
            sys.modules[spec.name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[spec.name])
        tg = sys.modules[spec.name]
    return tg


def fused_ops():
    tg = triton_glu()
    return {
        "swiglu": tg.swiglu,
        "geglu": lambda a, b: tg.geglu(a, b, approximate="none"),
        "geglu_tanh": lambda a, b: tg.geglu(a, b, approximate="tanh"),
    }


def peak_for(name, override):
    if override:
        return override, "--peak-gbps"
    for key, gbps in PEAK_GBPS:
        if key in name:
            return gbps, f"data sheet ({key})"
    return None, "unknown card: pass --peak-gbps"


def bench_ms(fn, rep_ms, grad_to_none=None):
    from triton.testing import do_bench

    return do_bench(fn, warmup=max(5, rep_ms // 4), rep=rep_ms, grad_to_none=grad_to_none, return_mode="median")


_GRAPH_FAILED = []


def graph_ms(fn, reps=10, replays=5):
    """GPU time per call of ``fn`` with no host overhead: ``reps`` calls, each after an L2 flush, captured in one
    CUDA graph and replayed; minus a graph of the flushes alone; median of ``replays``. do_bench's times also
    hold the host's time to launch, which dominates at 2^24 elements: Python, autograd and the launches of the
    fused path take longer than its kernels there. None (and a note) where capture fails, and from then on."""
    if _GRAPH_FAILED:
        return None
    try:
        flush = torch.empty(256 << 20, dtype=torch.int8, device=DEVICE)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):           # warm-up on a side stream, as capture requires
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        graphs = []
        for body in (fn, lambda: None):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(reps):
                    flush.zero_()
                    body()
            graphs.append(graph)
        times = []
        for graph in graphs:
            graph.replay()
            ms = []
            for _ in range(replays):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                graph.replay()
                end.record()
                torch.cuda.synchronize()
                ms.append(start.elapsed_time(end))
            times.append(sorted(ms)[len(ms) // 2])
        del graphs
        return (times[0] - times[1]) / reps
    except Exception as err:  # keep the rest of a one-shot run
        print(f"note: CUDA-graph timing failed, its columns are left empty: {err!r}"[:400], file=sys.stderr)
        _GRAPH_FAILED.append(err)
        return None


def copy_gbps(rep_ms):
    src = torch.empty(2**28, dtype=torch.float32, device=DEVICE)  # 1 GiB
    dst = torch.empty_like(src)
    ms = bench_ms(lambda: dst.copy_(src), rep_ms)
    return 2 * src.numel() * 4 / ms / 1e6


def memory(op, a, b, g):
    """(MiB held from forward to backward, MiB peak above the inputs during forward+backward)."""
    a.grad = b.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = op(a, b)
    held = torch.cuda.memory_allocated() - base
    out.backward(g)
    del out
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    a.grad = b.grad = None
    return held / 2**20, peak / 2**20


def measure(impls, name, dtype, log2n, rep_ms, graph=True):
    n = 2**log2n
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    a = (3 * torch.randn(n, device=DEVICE, generator=gen)).to(dtype).requires_grad_(True)
    b = torch.randn(n, device=DEVICE, generator=gen).to(dtype).requires_grad_(True)
    g = torch.randn(n, device=DEVICE, generator=gen).to(dtype)
    rows = {}
    for impl, op in impls.items():
        # one untimed forward+backward first, so that no kernel compiles (each gate and dtype has its own) inside
        # the five calls from which do_bench sizes its repetitions
        op(a, b).backward(g)
        a.grad = b.grad = None
        torch.cuda.synchronize()
        fwd = bench_ms(lambda: op(a, b), rep_ms)
        fwdbwd = bench_ms(lambda: op(a, b).backward(g), rep_ms, grad_to_none=[a, b])
        held, peak = memory(op, a, b, g)
        rows[impl] = dict(fwd=fwd, fwdbwd=fwdbwd, held=held, peak=peak)
        if graph and impl != "compile":   # (the targets compare the fused kernels with eager)
            rows[impl]["fwd_graph"] = graph_ms(lambda: op(a, b))
            rows[impl]["fwdbwd_graph"] = graph_ms(lambda: fwd_bwd(op, a, b, g))
    # the ceiling at this size: torch's a + b moves the forward's bytes (read 2 N, write N) with no arithmetic
    out = torch.empty_like(g)
    rows["fused"]["add"] = bench_ms(lambda: torch.add(a.detach(), b.detach(), out=out), rep_ms)
    if graph:
        rows["fused"]["add_graph"] = graph_ms(lambda: torch.add(a.detach(), b.detach(), out=out))
    del a, b, g, out
    torch.cuda.empty_cache()
    return rows


def fwd_bwd(op, a, b, g):
    a.grad = b.grad = None      # (so that a captured backward writes the gradients, with no accumulation)
    op(a, b).backward(g)


def host_us(fn, calls):
    """Host time per call of ``fn``, in microseconds: ``calls`` calls timed on the CPU's clock with no
    synchronization between them (on tensors small enough that the GPU keeps up, this is what Python, autograd,
    the checks and the launches cost the host); median of 5 such loops."""
    fn()
    torch.cuda.synchronize()
    loops = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        loops.append((time.perf_counter() - t0) / calls * 1e6)
        torch.cuda.synchronize()
    return sorted(loops)[len(loops) // 2]


def host_overhead(dtype, calls, log2n=12):
    """(label, µs) rows: the host time of each way to call SwiGLU, then of each piece of the fused path, on
    2^log2n elements (``calls`` per timed loop, see host_us). At 2^24 the fused kernels take about 0.1 ms on an
    H100, and timed as Python calls the fused path missed the speedup target there (host-bound): these rows say
    where the host's time goes."""
    tg = triton_glu()
    n = 2**log2n
    a = torch.randn(n, device=DEVICE).to(dtype).requires_grad_(True)
    b = torch.randn(n, device=DEVICE).to(dtype).requires_grad_(True)
    g = torch.randn(n, device=DEVICE).to(dtype)
    out, da, db = torch.empty_like(g), torch.empty_like(g), torch.empty_like(g)
    ad, bd = a.detach(), b.detach()

    def fwd_bwd(op):
        def run():
            a.grad = b.grad = None
            op(a, b).backward(g)
        return run

    calls_of = {
        "eager F.silu(a) * b: forward": lambda: F.silu(a) * b,
        "eager: forward+backward": fwd_bwd(lambda x, y: F.silu(x) * y),
        "fused tg.swiglu: forward": lambda: tg.swiglu(a, b),
        "fused: forward+backward": fwd_bwd(tg.swiglu),
    }
    try:
        import actlab
    except ImportError:
        pass
    else:
        calls_of["actlab.swiglu (its checks, then the fused path): forward+backward"] = fwd_bwd(actlab.swiglu)
    calls_of["floor: an autograd.Function that launches nothing, forward+backward"] = fwd_bwd(_NoKernels.apply)
    dev = a.device
    calls_of.update({
        "piece: tg._check": lambda: tg._check("swiglu", a, b),
        "piece: tg.is_available()": tg.is_available,
        "piece: torch.cuda.device(dev), entered and left": lambda: _enter_exit(dev),
        "piece: torch.empty of the output": lambda: torch.empty(a.shape, dtype=a.dtype, device=dev),
        "piece: tg._launch of the forward kernel": lambda: tg._launch(tg._glu_fwd_kernel, n, ad, bd, out,
                                                                      kind=tg.SILU),
        "piece: tg._launch of the backward kernel": lambda: tg._launch(tg._glu_bwd_kernel, n, g, ad, bd, da, db,
                                                                       kind=tg.SILU),
        "piece: torch.add(a, b, out=...), one ATen launch": lambda: torch.add(ad, bd, out=out),
    })
    return [(label, host_us(fn, calls)) for label, fn in calls_of.items()]


class _NoKernels(torch.autograd.Function):
    """The host floor of any autograd.Function: saves both inputs, returns an uninitialized output, and its
    backward hands the incoming gradient back twice (no kernel launched)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.empty(a.shape, dtype=a.dtype, device=a.device)

    @staticmethod
    def backward(ctx, grad):
        ctx.saved_tensors               # unpacked, as a real backward does
        return grad, grad


def _enter_exit(dev):
    with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():   # (tg._launch: on another device)
        pass


def ulp32(ref):
    _, e = torch.frexp(ref.abs().clamp_min(torch.finfo(torch.float32).tiny))
    return torch.ldexp(torch.ones_like(ref), e - 24)


def reference(name, x):
    """act(x), act'(x) in float64 with stable formulas."""
    x = x.double()
    if name == "swiglu":
        s = torch.sigmoid(x)
        return x * s, s * (1 + x * torch.sigmoid(-x))
    if name == "geglu":
        cdf = 0.5 * torch.special.erfc(-x / math.sqrt(2))
        return x * cdf, cdf + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    k = math.sqrt(2 / math.pi)
    v = 2 * k * (x + 0.044715 * x**3)
    s = torch.sigmoid(v)
    return x * s, s + x * 2 * k * (1 + 3 * 0.044715 * x * x) * s * torch.sigmoid(-v)


def accuracy(impls, name, points):
    """Max ulp error of act(a) and d/da on a float32 sweep of [-10, 10] (b = g = 1), and on the tail [-10, -5]."""
    a0 = torch.linspace(-10, 10, points, device=DEVICE, dtype=torch.float32)
    r_out, r_da = reference(name, a0)
    tail = a0 <= -5
    res = {}
    for impl, op in impls.items():
        a = a0.clone().requires_grad_(True)
        b = torch.ones_like(a0, requires_grad=True)
        out = op(a, b)
        out.backward(torch.ones_like(out))
        e_out = (out.detach().double() - r_out).abs() / ulp32(r_out)
        e_da = (a.grad.double() - r_da).abs() / ulp32(r_da)
        res[impl] = (e_out.max().item(), e_out[tail].max().item(), e_da[tail].max().item())
    return res


SWEEP_CONFIGS = [(1024, 4), (512, 4), (1024, 8), (2048, 4), (2048, 8), (4096, 8), (4096, 16)]  # first: the default


def sweep(dtype, log2n, rep_ms, use_graph):
    """(kernel, gate, [GB/s per (BLOCK, num_warps)], a + b GB/s) rows: each fused kernel launched directly with
    each configuration, timed as the kernel alone (graph_ms; do_bench with --no-graph or where CUDA graphs fail),
    next to torch's a + b for the forward's bytes. The forward moves 3 N elements, the backward 5 N (it reads g,
    a and b and writes da and db)."""
    tg = triton_glu()
    n = 2**log2n
    a, b, g = (torch.randn(n, device=DEVICE).to(dtype) for _ in range(3))
    out, da, db = torch.empty_like(a), torch.empty_like(a), torch.empty_like(a)
    size = a.element_size()

    def timed(fn):
        fn()                            # compile this configuration untimed
        torch.cuda.synchronize()
        return (use_graph and graph_ms(fn)) or bench_ms(fn, rep_ms)

    add_gbps = 3 * n * size / timed(lambda: torch.add(a, b, out=out)) / 1e6
    rows = []
    for kernel, tensors, nbytes in ((tg._glu_fwd_kernel, (a, b, out), 3 * n * size),
                                    (tg._glu_bwd_kernel, (g, a, b, da, db), 5 * n * size)):
        for gate, kind in (("swiglu", tg.SILU), ("geglu", tg.GELU), ("geglu_tanh", tg.GELU_TANH)):
            def launch(block, warps):
                return lambda: kernel[(-(-n // block),)](*tensors, n, KIND=kind, WIDE=dtype == torch.float32,
                                                         BLOCK=block, num_warps=warps, enable_fp_fusion=True)
            gbps = [nbytes / timed(launch(block, warps)) / 1e6 for block, warps in SWEEP_CONFIGS]
            rows.append(("forward" if kernel is tg._glu_fwd_kernel else "backward", gate, gbps,
                         add_gbps if kernel is tg._glu_fwd_kernel else None))
    return rows


def print_tables(dname, results, peak):
    """The time / bandwidth / memory table of one dtype, and its rows of the targets table."""
    size = torch.finfo(DTYPES[dname]).bits // 8
    print(f"## {dname}: time, effective bandwidth (% of {peak:.0f} GB/s), memory\n")
    print("| gate | N | impl | fwd ms | fwd GB/s | fwd % peak | fwd+bwd ms | fwd+bwd GB/s | fwd+bwd % peak "
          "| fwd+bwd vs eager | held fwd→bwd MiB (×N) | peak fwd+bwd MiB (×N) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (log2n, name), rows in results.items():
        nbytes = 2**log2n * size
        mib = nbytes / 2**20
        for impl, r in rows.items():
            bw_f, bw_fb = 3 * nbytes / r["fwd"] / 1e6, 8 * nbytes / r["fwdbwd"] / 1e6
            print(f"| {name} | 2^{log2n} | {impl} | {r['fwd']:.3f} | {bw_f:.0f} | {100 * bw_f / peak:.1f} "
                  f"| {r['fwdbwd']:.3f} | {bw_fb:.0f} | {100 * bw_fb / peak:.1f} "
                  f"| {rows['eager']['fwdbwd'] / r['fwdbwd']:.2f}× "
                  f"| {r['held']:.0f} ({r['held'] / mib:.1f}) | {r['peak']:.0f} ({r['peak'] / mib:.1f}) |")
    print(f"\n## {dname} targets: fused forward ≥ {100 * TARGET_FWD_PEAK:.0f} % of peak, fused fwd+bwd ≥ "
          f"{TARGET_SPEEDUP}× eager\n")
    print("do_bench: median time of Python calls (host launch included); graph: the kernels alone, replayed from a "
          "CUDA graph (see graph_ms). a + b moves the forward's bytes with no arithmetic.\n")
    print("| gate | N | fused fwd % peak: do_bench | graph | a + b % peak: do_bench | graph | fwd target "
          "| fwd+bwd vs eager: do_bench | graph | speedup target | compile fwd+bwd time / fused |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|")
    verdict = lambda ok: "-" if ok is None else ("met" if ok else "MISSED")
    for (log2n, name), rows in results.items():
        fused, eager = rows["fused"], rows["eager"]
        pct = lambda ms: None if ms is None else 3 * 2**log2n * size / ms / 1e6 / peak
        ratio = lambda num, den: None if num is None or den is None else num / den
        cells = [pct(fused["fwd"]), pct(fused.get("fwd_graph")), pct(fused["add"]), pct(fused.get("add_graph"))]
        speeds = [ratio(eager["fwdbwd"], fused["fwdbwd"]),
                  ratio(eager.get("fwdbwd_graph"), fused.get("fwdbwd_graph"))]
        fwd_ok = " / ".join(verdict(None if c is None else c >= TARGET_FWD_PEAK) for c in cells[:2])
        speed_ok = " / ".join(verdict(None if v is None else v >= TARGET_SPEEDUP) for v in speeds)
        vs_c = f"{rows['compile']['fwdbwd'] / fused['fwdbwd']:.2f}" if "compile" in rows else "-"
        fmt_pct = lambda c: "-" if c is None else f"{100 * c:.1f}"
        fmt_x = lambda v: "-" if v is None else f"{v:.2f}×"
        print(f"| {name} | 2^{log2n} | {' | '.join(fmt_pct(c) for c in cells)} | {fwd_ok} "
              f"| {' | '.join(fmt_x(v) for v in speeds)} | {speed_ok} | {vs_c} |")
    print(flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 26, 28], help="log2 of the element counts")
    p.add_argument("--dtypes", nargs="+", default=["bf16", "fp32"], choices=list(DTYPES))
    p.add_argument("--peak-gbps", type=float, default=None, help="peak HBM bandwidth of the card, GB/s")
    p.add_argument("--rep-ms", type=int, default=40, help="do_bench repetition time per measurement, ms")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    p.add_argument("--acc-points", type=int, default=2**20 + 1, help="points of the accuracy sweep of [-10, 10]")
    p.add_argument("--no-sweep", action="store_true", help="skip the block-size sweep")
    p.add_argument("--no-graph", action="store_true", help="skip the CUDA-graph timings (the kernels alone)")
    p.add_argument("--host-calls", type=int, default=200, help="calls per timed loop of the host-time table")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu_glu: no CUDA device here, nothing to measure (run it on a GPU machine).")
        return 0
    return run(args)


def run(args):
    """Measure and print every table (on DEVICE)."""
    import triton

    tg = triton_glu()
    dev = torch.cuda.get_device_name()
    peak, peak_src = peak_for(dev, args.peak_gbps)
    t_start = time.perf_counter()
    copy = copy_gbps(args.rep_ms)
    print(f"# Fused GLU gates on {dev}\n")
    print(f"torch {torch.__version__}, triton {triton.__version__}; fused kernels BLOCK={tg.BLOCK}, "
          f"num_warps={tg.NUM_WARPS}")
    if peak is None:
        peak, peak_src = copy, "measured copy (no data-sheet peak known for this card)"
    print(f"peak HBM bandwidth {peak:.0f} GB/s ({peak_src}); measured device-to-device copy {copy:.0f} GB/s "
          f"= {100 * copy / peak:.1f} % of peak\n")

    names = list(eager_ops())
    compile_s, compiled_fns = {}, {}  # one torch.compile wrapper per gate, shared by the dtypes
    if not args.no_compile:
        for attr in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, attr):
                setattr(torch._dynamo.config, attr, 64)
    for dname in args.dtypes:  # measure one dtype, then print its tables (partial results survive a timeout)
        dtype = DTYPES[dname]
        results = {}  # (log2n, name) -> impl -> row
        for name in names:
            impls = {"fused": fused_ops()[name], "eager": eager_ops()[name]}
            if not args.no_compile and compiled_fns.get(name, True) is not None:
                compiled = compiled_fns.setdefault(name, torch.compile(eager_ops()[name], dynamic=True))
                x = torch.randn(4096, device=DEVICE, dtype=dtype, requires_grad=True)
                y = torch.randn(4096, device=DEVICE, dtype=dtype, requires_grad=True)
                t0 = time.perf_counter()
                try:
                    compiled(x, y).sum().backward()
                    torch.cuda.synchronize()
                    compile_s[(dname, name)] = time.perf_counter() - t0
                    impls["compile"] = compiled
                except Exception as err:  # keep the other columns of a one-shot run
                    print(f"torch.compile failed for {name} {dname}, column left out: {err!r}"[:500])
                    compiled_fns[name] = None
            for log2n in args.sizes:
                results[(log2n, name)] = measure(impls, name, dtype, log2n, args.rep_ms, not args.no_graph)
                print(f"  measured {name} {dname} 2^{log2n} ({time.perf_counter() - t_start:.0f} s)",
                      file=sys.stderr, flush=True)
        print_tables(dname, results, peak)

    if compile_s:
        print("## torch.compile: first call (compile + run, 4096 elements, fwd+bwd)\n")
        print("| gate | dtype | seconds |\n|---|---|---:|")
        for (dname, name), s in compile_s.items():
            print(f"| {name} | {dname} | {s:.1f} |")
        print()

    print("## host time per call (µs, 2^12 elements, no synchronization between calls; see host_overhead)\n")
    print("| call | " + " | ".join(args.dtypes) + " |\n|---|" + "---:|" * len(args.dtypes))
    per_dtype = [host_overhead(DTYPES[dname], args.host_calls) for dname in args.dtypes]
    for i, (label, _) in enumerate(per_dtype[0]):
        print(f"| {label} | " + " | ".join(f"{rows[i][1]:.1f}" for rows in per_dtype) + " |")
    print()

    print("## float32 accuracy: max ulp against float64 (b = g = 1)\n")
    print("| gate | impl | act, [-10, 10] | act, [-10, -5] | d/da, [-10, -5] |\n|---|---|---:|---:|---:|")
    for name in names:
        impls = {"fused": fused_ops()[name], "eager": eager_ops()[name]}
        if compiled_fns.get(name) is not None:
            impls["compile"] = compiled_fns[name]
        for impl, (full, tail, dtail) in accuracy(impls, name, args.acc_points).items():
            print(f"| {name} | {impl} | {full:.3g} | {tail:.3g} | {dtail:.3g} |")
    print()

    if not args.no_sweep:
        swept = [(dname, log2n, sweep(DTYPES[dname], log2n, args.rep_ms, not args.no_graph))
                 for dname in args.dtypes for log2n in sorted({min(args.sizes), max(args.sizes)})]
        how = "do_bench" if args.no_graph or _GRAPH_FAILED else "CUDA graph"
        print(f"## fused kernels by BLOCK / num_warps: % of peak, the kernel alone ({how}), smallest and largest "
              f"size (forward 3N, backward 5N; the first column is the module's default)\n")
        print("| dtype | N | kernel | gate | " + " | ".join(f"{b} / {w}" for b, w in SWEEP_CONFIGS) + " | a + b |")
        print("|---|---|---|---|" + "---:|" * (len(SWEEP_CONFIGS) + 1))
        for dname, log2n, rows in swept:
            for kernel, gate, gbps, add in rows:
                cells = [f"{100 * x / peak:.1f}" for x in gbps] + [f"{100 * add / peak:.1f}" if add else "-"]
                print(f"| {dname} | 2^{log2n} | {kernel} | {gate} | " + " | ".join(cells) + " |")
        print()
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
