"""A dry run of benchmarks/bench_gpu_glu.py on the CPU, so the one-shot GPU benchmark cannot rot.

Run as a script (``python tests/test_bench_gpu_glu.py [bench args]``) this file is the harness: it
interprets the Triton kernels (TRITON_INTERPRET=1), stands in a wall-clock timer for ``do_bench``, a
pretend H100 name for the device and zeros for the CUDA memory counters, then runs every table of the
benchmark on small CPU tensors. The numbers are meaningless; the tables, the code paths and the accuracy
column (which does not depend on the device) are real.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_dry_run_on_cpu():
    env = dict(os.environ, TRITON_INTERPRET="1")
    args = ["--sizes", "10", "11", "--dtypes", "bf16", "fp32", "--no-compile", "--rep-ms", "1", "--acc-points", "20001",
            "--host-calls", "2"]
    proc = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for heading in ["## bf16: time", "## fp32: time", "## bf16 targets", "## fp32 targets",
                    "## host time per call", "## float32 accuracy", "## fused kernels by BLOCK / num_warps"]:
        assert heading in out, heading
    # host time: 5 ways to call it, the floor of an autograd.Function and 7 pieces of the fused path, a time per
    # dtype in each row
    host = re.findall(r"^\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \|$", out, re.M)
    labels = [label for label, _, _ in host]
    assert labels[::5] == ["eager F.silu(a) * b: forward",
                           "floor: an autograd.Function that launches nothing, forward+backward",
                           "piece: tg._launch of the forward kernel"], host
    assert len(host) == 13 and all(float(us) > 0 for _, *both in host for us in both), host
    rows = re.findall(r"^\| (swiglu|geglu|geglu_tanh) \| 2\^(10|11) \| (fused|eager) \|", out, re.M)
    assert len(rows) == 2 * 3 * 2 * 2  # dtypes x gates x sizes x impls
    # targets: fused forward % of peak (do_bench, graph), a + b (do_bench, graph), verdicts, speedups, verdicts
    num, verdicts = r"([\d.]+)", r"(met|MISSED) / (met|MISSED)"
    targets = re.findall(rf"^\| (swiglu|geglu|geglu_tanh) \| 2\^1[01] \| {num} \| {num} \| {num} \| {num} "
                         rf"\| {verdicts} \| {num}× \| {num}× \| {verdicts} \|", out, re.M)
    assert len(targets) == 2 * 3 * 2, out[-3000:]
    acc = {(g, i): [float(v) for v in rest.split("|")[:3]]
           for g, i, rest in re.findall(r"^\| (swiglu|geglu|geglu_tanh) \| (fused|eager) \| ([^\n]+)$", out, re.M)}
    assert len(acc) == 6
    for gate in ["swiglu", "geglu", "geglu_tanh"]:
        assert max(acc[(gate, "fused")]) <= 32, (gate, acc[(gate, "fused")])
    assert acc[("geglu", "eager")][1] > 1e6  # torch's gelu loses every digit in the tail; the kernels do not
    # the sweep: both kernels of each gate, per dtype and size, 7 configurations, and a + b beside the forward
    swept = re.findall(r"^\| (bf16|fp32) \| 2\^(10|11) \| (forward|backward) \| (swiglu|geglu|geglu_tanh) "
                       r"((?:\| [\d.]+ ){7})\| ([\d.]+|-) \|$", out, re.M)
    assert len(swept) == 2 * 2 * 2 * 3, out[-3000:]
    assert all((add == "-") == (kernel == "backward") for _, _, kernel, _, _, add in swept), swept
    # (the % of an H100's peak that interpreted kernels reach on the CPU rounds to 0.0: only the format is checked)


def dry_run(argv):
    import torch

    assert os.environ.get("TRITON_INTERPRET") == "1", "set TRITON_INTERPRET=1 before starting the dry run"
    torch.cuda.get_device_name = lambda *a: "NVIDIA H100 80GB HBM3 (dry run on the CPU)"
    for fn in ["synchronize", "reset_peak_memory_stats", "empty_cache"]:
        setattr(torch.cuda, fn, lambda *a: None)
    torch.cuda.memory_allocated = torch.cuda.max_memory_allocated = lambda *a: 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_gpu_glu as bench

    def timer_ms(fn, rep_ms, grad_to_none=None):
        fn()
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    bench.DEVICE, bench.bench_ms, bench.copy_gbps = "cpu", timer_ms, lambda rep_ms: 3000.0
    bench.graph_ms = lambda fn: timer_ms(fn, 1)
    return bench.run(bench.parse_args(argv))


if __name__ == "__main__":
    sys.exit(dry_run(sys.argv[1:]))
