"""The fused Triton GLU kernels (actlab.triton_glu) against float64 references.

The kernel tests (``@kernel``) run in two places:

* on the CPU under ``TRITON_INTERPRET=1``: ``test_kernels_under_interpreter`` runs this file again in a
  subprocess with the variable set (it must be set before triton decorates the kernels, i.e. before
  actlab is imported, and must not leak into the rest of the suite);
* natively on a CUDA GPU, marked ``cuda`` (skipped without one).

Tolerances, float32 (computed in float32): 32 ulp on [-10, 10] (the library's GELU bound is 64), with slack
for the rounding of the derivative's terms where ``act'`` crosses zero. float16 / bfloat16: one unit in the
last place of the output dtype (the interpreter truncates float32 -> bfloat16; GPUs round to nearest).
Where the true value is subnormal in the output dtype: absolute error at most the smallest normal number
(the interpreter also mangles float32 subnormals stored as bfloat16; GPUs do not).
"""

import contextlib
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
try:
    import actlab.triton_glu as tg
except ImportError as err:  # a bare GPU machine may lack what the rest of actlab needs (numpy); the kernels
    spec = importlib.util.spec_from_file_location("actlab_triton_glu", ROOT / "src/actlab/triton_glu.py")
    tg = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # need only torch and triton
    spec.loader.exec_module(tg)
    print(f"note: `import actlab` failed ({err}); testing src/actlab/triton_glu.py on its own", file=sys.stderr)

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRET else "cuda"
HAS_CUDA = torch.cuda.is_available()


def kernel(test):
    """Mark a test that launches the kernels: interpreted on the CPU, or natively on CUDA."""
    if INTERPRET:
        return test
    reason = "needs a CUDA GPU; on the CPU these run under TRITON_INTERPRET=1 (test_kernels_under_interpreter)"
    return pytest.mark.cuda(pytest.mark.skipif(not HAS_CUDA, reason=reason)(test))


# ---------------------------------------------------------------- float64 references, written independently

def ref_gate(name, x):
    """act(x), act'(x) in float64 for name in swiglu | geglu | geglu_tanh | geglu_sigmoid."""
    x = x.double()
    if name == "swiglu":
        s = torch.sigmoid(x)
        return x * s, s * (1 + x * torch.sigmoid(-x))
    if name == "geglu":
        cdf = 0.5 * torch.special.erfc(-x / math.sqrt(2))
        return x * cdf, cdf + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    if name == "geglu_sigmoid":
        s = torch.sigmoid(1.702 * x)
        return x * s, s + 1.702 * x * s * torch.sigmoid(-1.702 * x)
    k = math.sqrt(2 / math.pi)
    v = 2 * k * (x + 0.044715 * x**3)  # gelu_tanh = x (1 + tanh(v/2)) / 2 = x sigmoid(v)
    s = torch.sigmoid(v)
    return x * s, s + x * 2 * k * (1 + 3 * 0.044715 * x * x) * s * torch.sigmoid(-v)


FUSED = {
    "swiglu": tg.swiglu,
    "geglu": lambda a, b: tg.geglu(a, b, approximate="none"),
    "geglu_tanh": lambda a, b: tg.geglu(a, b, approximate="tanh"),
    "geglu_sigmoid": lambda a, b: tg.geglu(a, b, approximate="sigmoid"),
}
EAGER = {  # the unfused torch expressions the kernels replace
    "swiglu": lambda a, b: F.silu(a) * b,
    "geglu": lambda a, b: F.gelu(a) * b,
    "geglu_tanh": lambda a, b: F.gelu(a, approximate="tanh") * b,
    "geglu_sigmoid": lambda a, b: a * torch.sigmoid(1.702 * a) * b,  # torch has no such gelu
}
NAMES = list(FUSED)
MANTISSA = {torch.float32: 23, torch.float16: 10, torch.bfloat16: 7, torch.float64: 52}


def ulp(ref, dtype):
    """Spacing of `dtype` numbers at |ref| (float64 tensor), subnormals included."""
    mant, tiny = MANTISSA[dtype], torch.finfo(dtype).tiny
    _, e = torch.frexp(ref.abs().clamp_min(tiny))
    return torch.ldexp(torch.ones_like(ref), e - 1 - mant)


def run(name, a, b, g):
    """Fused forward and backward: (out, da, db)."""
    a = a.detach().clone().requires_grad_(True)
    b = b.detach().clone().requires_grad_(True)
    out = FUSED[name](a, b)
    out.backward(g)
    return out.detach(), a.grad, b.grad


def expected(name, a, b, g):
    act, dact = ref_gate(name, a)
    b, g = b.double(), g.double()
    return act * b, g * b * dact, g * act, (g * b).abs() * (1 + a.double().abs())


def assert_close_ulp(got, ref, dtype, ulps, slack=None, what=""):
    """|got - ref| <= ulps * ulp(ref) + 8 eps * slack (slack: the size of the terms that may cancel);
    where ref underflows (is subnormal in dtype), |got - ref| <= the smallest normal number.

    Under the interpreter, a bfloat16 store truncates instead of rounding to nearest (triton 3.9, even with
    ``fp_downcast_rounding="rtne"``): a float32 result a hair closer to zero than a bfloat16 number lands a
    whole ulp below it. There the float32 arithmetic's own error (2^-16 relative, generously) is added."""
    err = (got.double() - ref).abs()
    tiny = torch.finfo(dtype).tiny
    tol = torch.where(ref.abs() < tiny, tiny, ulps * ulp(ref, dtype))
    if INTERPRET and dtype == torch.bfloat16:
        tol = tol + 2.0 ** -16 * ref.abs()
    if slack is not None:
        tol = tol + 8 * torch.finfo(torch.float32).eps * slack
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        i = bad.nonzero()[0].tolist()
        raise AssertionError(f"{what}: {int(bad.sum())} of {got.numel()} elements off; first at {i}: "
                             f"got {got[tuple(i)].item()!r}, want {ref[tuple(i)].item()!r} "
                             f"(err {err[tuple(i)].item():.3g} > tol {tol[tuple(i)].item():.3g})")


def check(name, a, b, g, dtype):
    """The fused output and both gradients against the float64 reference, at dtype-appropriate tolerance."""
    out, da, db = run(name, a, b, g)
    r_out, r_da, r_db, slack = expected(name, a, b, g)
    assert out.dtype == da.dtype == db.dtype == dtype
    assert out.shape == a.shape and da.shape == a.shape and db.shape == b.shape
    ulps = 32 if dtype == torch.float32 else 1
    assert_close_ulp(out, r_out, dtype, ulps, what=f"{name} forward")
    assert_close_ulp(da, r_da, dtype, ulps, slack=slack, what=f"{name} d/da")
    assert_close_ulp(db, r_db, dtype, ulps, what=f"{name} d/db")


def inputs(shape, dtype, scale=6.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a, b, g = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3))
    return [t.to(dtype).to(DEVICE) for t in (scale * a, b, g)]


# ---------------------------------------------------------------- kernel tests

SHAPES = [(), (0,), (1,), (7,), (1025,), (3, 5, 7), (2, 1500), (4, 0, 3)]


@kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_matches_float64_reference(name, shape, dtype):
    check(name, *inputs(shape, dtype), dtype)


@kernel
@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_inputs(name):
    a, b, g = inputs((64, 90), torch.float32, seed=1)
    a_nc, b_nc, g_nc = a[:, ::3], b.t().contiguous().t()[:, 1::3], g[::2].repeat(2, 1)[:, 2::3]
    assert not (a_nc.is_contiguous() or b_nc.is_contiguous() or g_nc.is_contiguous())
    got = run(name, a_nc, b_nc, g_nc)
    want = run(name, a_nc.contiguous(), b_nc.contiguous(), g_nc.contiguous())
    for x, y in zip(got, want):
        assert x.shape == a_nc.shape and torch.equal(x, y)
    check(name, a_nc, b_nc, g_nc, torch.float32)


@kernel
@pytest.mark.parametrize("name", NAMES)
def test_dense_sweep_float32(name):
    """Every float32 gate value on [-10, 10] (step 2e-4) within 32 ulp, forward and both gradients."""
    a = torch.linspace(-10, 10, 100_001, dtype=torch.float32, device=DEVICE)
    b = torch.full_like(a, 1.5)
    g = torch.full_like(a, -0.75)
    check(name, a, b, g, torch.float32)


@kernel
@pytest.mark.parametrize("name", ["geglu", "geglu_tanh", "geglu_sigmoid"])
def test_gelu_negative_tail(name):
    """x < -3, where 0.5 (1 + erf) and 0.5 (1 + tanh) cancel: 32 ulp down to x = -10; below, where the
    values near float32's smallest normal 1.2e-38 and intermediates go subnormal, within that smallest normal."""
    a = torch.linspace(-20, -3, 17_001, dtype=torch.float32, device=DEVICE)
    b, g = torch.ones_like(a), torch.ones_like(a)
    out, da, db = run(name, a, b, g)
    r_out, r_da, _, _ = expected(name, a, b, g)
    assert torch.isfinite(out).all() and torch.isfinite(da).all()
    assert (out <= 0).all() and (da <= 0).all()  # gelu < 0 and falling for x < -0.76
    mid, deep = a >= -10, a < -10
    tiny = torch.finfo(torch.float32).tiny
    for got, ref, what in [(out, r_out, "forward"), (da, r_da, "d/da")]:
        assert_close_ulp(got[mid], ref[mid], torch.float32, 32, what=f"{name} tail {what}")
        err = (got[deep].double() - ref[deep]).abs()
        assert (err <= torch.clamp(32 * ulp(ref[deep], torch.float32), min=tiny)).all(), f"{name} {what}"
    assert (out[mid] < 0).all()  # torch's own gelu returns 0 (or noise) here; the digits are kept


@kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_extreme_values_finite_and_right(name, dtype):
    big = torch.finfo(dtype).max
    vals = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 88.0, -88.0, 1000.0, -1000.0, 6e4, -6e4, big, -big]
    a = torch.tensor(vals, dtype=torch.float64).clamp(-big, big).to(dtype).to(DEVICE)
    b = torch.ones_like(a)
    g = torch.ones_like(a)
    out, da, db = run(name, a, b, g)
    for t in (out, da, db):
        assert torch.isfinite(t).all(), (name, dtype, t)
    check(name, a, b, g, dtype)


@kernel
@pytest.mark.parametrize("name", NAMES)
def test_saves_only_the_two_inputs(name):
    """Autograd keeps a and b (2 N elements) for the fused op; the eager expression keeps 3 N or more."""

    def saved_elements(fn):
        a, b, _ = inputs((3, 1000), torch.float32)
        a.requires_grad_(True)
        b.requires_grad_(True)
        sizes, ptrs = [], []

        def pack(t):
            sizes.append(t.numel())
            ptrs.append(t.data_ptr())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn(a, b)
        return sum(sizes), ptrs, (a, b), out

    n = 3000
    total, ptrs, (a, b), out = saved_elements(FUSED[name])
    assert total == 2 * n and sorted(ptrs) == sorted([a.data_ptr(), b.data_ptr()])
    assert len(out.grad_fn.saved_tensors) == 2
    eager_total = saved_elements(EAGER[name])[0]
    assert eager_total >= 3 * n


@kernel
def test_grad_of_one_input_only():
    a, b, g = inputs((33,), torch.float32)
    a.requires_grad_(True)
    out = tg.swiglu(a, b)
    out.backward(g)
    r_out, r_da, _, slack = expected("swiglu", a.detach(), b, g)
    assert b.grad is None
    assert_close_ulp(a.grad, r_da, torch.float32, 32, slack=slack, what="d/da")


# ---------------------------------------------------------------- float64 path and input checking (any device)

@pytest.mark.parametrize("name", NAMES)
def test_float64_path_gradcheck_and_reference(name):
    a, b = (torch.randn(40, dtype=torch.float64) * s for s in (4, 1))
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(FUSED[name], (a, b))
    out, da, db = run(name, a, b, torch.ones_like(a))
    r_out, r_da, r_db, _ = expected(name, a.detach(), b.detach(), torch.ones_like(a))
    for got, ref in [(out, r_out), (da, r_da), (db, r_db)]:
        torch.testing.assert_close(got, ref, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_float64_path_tails(name):
    a = torch.tensor([-1e300, -1000.0, -40.0, -30.0, 30.0, 1000.0, 1e300], dtype=torch.float64)
    out, da, db = run(name, a, torch.ones_like(a), torch.ones_like(a))
    assert torch.isfinite(out).all() and torch.isfinite(da).all()
    r_out, r_da, _, _ = expected(name, a.clamp(-1000, 1000), torch.ones_like(a), torch.ones_like(a))
    fin = a.abs() < 1e300
    torch.testing.assert_close(out[fin], r_out[fin], rtol=1e-12, atol=1e-300)
    torch.testing.assert_close(da, r_da, rtol=1e-12, atol=1e-300)


def test_bad_inputs_have_clear_errors():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"same shape .*\(3, 4\) and \(4, 3\)"):
        tg.swiglu(x, torch.zeros(4, 3))
    with pytest.raises(TypeError, match="share one dtype"):
        tg.geglu(x, x.double())
    with pytest.raises(TypeError, match="share one dtype"):
        tg.swiglu(x.long(), x.long())
    with pytest.raises(TypeError, match="must be tensors"):
        tg.swiglu(x, 1.0)
    with pytest.raises(ValueError, match="approximate must be 'none', 'tanh' or 'sigmoid'"):
        tg.geglu(x, x, approximate="erf")
    if not INTERPRET:
        with pytest.raises((RuntimeError, ValueError), match="CUDA"):
            tg.swiglu(x, x)  # a CPU float32 tensor without the interpreter


def test_launch_switches_device_only_for_another_one(monkeypatch):
    """_launch enters torch.cuda.device only when the tensors are on a CUDA device other than the current one
    (Triton launches on the current device; the context costs the host 2-4 µs per launch). Fakes stand in for the
    kernel, the tensors and the CUDA calls, so that this runs without a GPU."""
    class Fake:
        def __init__(self, device):
            self.device, self.dtype = torch.device(device), torch.float32

    entered, launched = [], []
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device", lambda dev: entered.append(dev) or contextlib.nullcontext())
    kernel = {(4,): lambda *args, **kw: launched.append((args[-1], kw["KIND"]))}
    for device, switches in [("cuda:0", False), ("cuda:1", True), ("cpu", False)]:
        entered.clear()
        tg._launch(kernel, 4 * tg.BLOCK, Fake(device), Fake(device), kind=tg.SILU)
        assert entered == ([torch.device(device)] if switches else []), device
    assert launched == [(4 * tg.BLOCK, tg.SILU)] * 3


def test_is_available_matches_environment():
    assert tg.is_available() == (INTERPRET or HAS_CUDA)


@pytest.mark.skipif(INTERPRET, reason="the interpreter does not compile")
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_kernels_compile_for_sm90(dtype):
    """Every kernel compiles to PTX and a cubin for an H100 (sm_90) without a GPU (ptxas ships with triton),
    which the interpreter cannot check, and loads and stores with 16-byte vectors."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    for kernel_fn, n_ptr in [(tg._glu_fwd_kernel, 3), (tg._glu_bwd_kernel, 5)]:
        names = kernel_fn.arg_names
        signature = {**{p: f"*{dtype}" for p in names[:n_ptr]}, names[n_ptr]: "i32",
                     "KIND": "constexpr", "WIDE": "constexpr", "BLOCK": "constexpr"}
        attrs = {(i,): [["tt.divisibility", 16]] for i in range(n_ptr + 1)}  # as a launch specializes them
        for kind in (tg.SILU, tg.GELU, tg.GELU_TANH, tg.GELU_SIGMOID):
            wide = dtype == "fp32"                                            # as _launch sets it
            src = ASTSource(fn=kernel_fn, signature=signature,
                            constexprs={"KIND": kind, "WIDE": wide, "BLOCK": tg.BLOCK}, attrs=attrs)
            options = {"num_warps": tg.NUM_WARPS, "enable_fp_fusion": True}  # as _launch passes them
            compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
            ptx = compiled.asm["ptx"]
            assert compiled.asm["cubin"] and "ld.global.v4" in ptx and "st.global.v4" in ptx
            # float64 arithmetic only where it buys accuracy: the tanh and sigmoid forms on float32 data
            uses_f64 = any(op in ptx for op in ("fma.rn.f64", "mul.rn.f64", "add.rn.f64", "sub.rn.f64"))
            assert uses_f64 == (wide and kind in (tg.GELU_TANH, tg.GELU_SIGMOID)), (dtype, kind)


# ---------------------------------------------------------------- the interpreter run, from the normal suite

@pytest.mark.skipif(INTERPRET, reason="this is the interpreter run itself")
def test_kernels_under_interpreter():
    """Run this file with TRITON_INTERPRET=1 in a subprocess: every kernel test must pass, none skip."""
    pytest.importorskip("numpy", reason="the Triton interpreter runs on numpy")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-k", "not under_interpreter and not cuda_ and not compile_for", str(Path(__file__).relative_to(ROOT))]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert "skipped" not in summary and "failed" not in summary, summary
    g = len(NAMES)
    kernel_tests = g * len(SHAPES) * 3 + g + g + (g - 1) + 3 * g + g + 1
    assert passed >= kernel_tests, summary


# ---------------------------------------------------------------- GPU only: against torch and actlab.functional

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.bfloat16: dict(rtol=1.6e-2, atol=1e-5),
       torch.float16: dict(rtol=2e-3, atol=1e-5)}


@pytest.mark.cuda
@pytest.mark.skipif(INTERPRET or not HAS_CUDA, reason="needs a CUDA GPU (native kernels)")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["swiglu", "geglu", "geglu_tanh"])  # the gates torch has ops for
def test_cuda_matches_torch_eager(name, dtype):
    """Fused kernels vs torch's own eager ops on the GPU (a = 2 randn: torch's tail errors stay below atol)."""
    a, b, g = (t.cuda() for t in inputs((257, 1031), dtype, scale=2.0))
    out, da, db = run(name, a, b, g)
    a_, b_ = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ref = EAGER[name](a_, b_)
    ref.backward(g)
    # eager rounds the intermediate act(a) to dtype, so compare with a float32 tolerance of the output dtype
    for got, want in [(out, ref), (da, a_.grad), (db, b_.grad)]:
        torch.testing.assert_close(got.float(), want.float(), **TOL[dtype])


def grad_fn_names(fn, depth=3):
    """Class names of the autograd graph's nodes, `depth` levels deep from fn."""
    if fn is None or depth == 0:
        return []
    return [type(fn).__name__] + [n for f, _ in fn.next_functions for n in grad_fn_names(f, depth - 1)]


@pytest.mark.cuda
@pytest.mark.skipif(INTERPRET or not HAS_CUDA, reason="needs a CUDA GPU (native kernels)")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_actlab_functional(name):
    """actlab.functional dispatches CUDA tensors to these kernels and agrees with its own CPU torch path."""
    functional = pytest.importorskip("actlab.functional")
    fn = {"swiglu": functional.swiglu,
          "geglu": lambda a, b: functional.geglu(a, b, approximate="none"),
          "geglu_tanh": lambda a, b: functional.geglu(a, b, approximate="tanh"),
          "geglu_sigmoid": lambda a, b: functional.geglu(a, b, approximate="sigmoid")}[name]
    a, b, g = (t.cpu() for t in inputs((4099,), torch.float32, seed=3))
    a_cpu, b_cpu = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    out_cpu = fn(a_cpu, b_cpu)  # actlab's torch path
    out_cpu.backward(g)
    a_gpu, b_gpu = a.cuda().requires_grad_(True), b.cuda().requires_grad_(True)
    out_gpu = fn(a_gpu, b_gpu)
    if os.environ.get("ACTLAB_DISABLE_TRITON", "") in ("", "0"):
        assert "_FusedGLUBackward" in grad_fn_names(out_gpu.grad_fn), grad_fn_names(out_gpu.grad_fn)
    out_gpu.backward(g.cuda())
    # both sides are within 64 ulp of the truth (rtol 1.6e-5 is about 128 ulp); torch's own CUDA gelu is not
    torch.testing.assert_close(out_gpu.detach().cpu(), out_cpu.detach(), rtol=1.6e-5, atol=1e-30)
    torch.testing.assert_close(a_gpu.grad.cpu(), a_cpu.grad, rtol=1.6e-5, atol=1e-6)
    torch.testing.assert_close(b_gpu.grad.cpu(), b_cpu.grad, rtol=1.6e-5, atol=1e-30)


@pytest.mark.cuda
@pytest.mark.skipif(INTERPRET or not HAS_CUDA, reason="needs a CUDA GPU (native kernels)")
def test_cuda_more_than_2_31_elements():
    """64-bit offsets: the last elements of a 2^31 + 3-element bfloat16 tensor are right (some 26 GB)."""
    n = 2**31 + 3
    if torch.cuda.mem_get_info()[0] < 30 * 2**30:
        pytest.skip("needs 30 GiB of free GPU memory")
    a = torch.full((n,), -2.0, dtype=torch.bfloat16, device="cuda")
    a[-3:] = torch.tensor([1.0, -1.0, 3.0])
    b = torch.ones_like(a).requires_grad_(True)
    a.requires_grad_(True)
    out = tg.swiglu(a, b)
    out.backward(torch.ones_like(out))
    tail_a = a.detach()[-5:].cpu()
    r_out, r_da, r_db, _ = expected("swiglu", tail_a, torch.ones(5), torch.ones(5))
    torch.testing.assert_close(out[-5:].cpu().double(), r_out, **TOL[torch.bfloat16])
    torch.testing.assert_close(a.grad[-5:].cpu().double(), r_da, **TOL[torch.bfloat16])
    torch.testing.assert_close(b.grad[-5:].cpu().double(), r_db, **TOL[torch.bfloat16])
