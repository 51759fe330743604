r"""Fused Triton kernels for the GLU gates: SwiGLU and GeGLU, forward and backward.

.. math::

    \operatorname{swiglu}(a, b) = \operatorname{silu}(a)\,b = a\,\sigma(a)\,b, \qquad
    \operatorname{geglu}(a, b) = \operatorname{gelu}(a)\,b = a\,\Phi(a)\,b

with ``a`` the gate input. Backward, for an upstream gradient :math:`g`:
:math:`\partial a = g\,b\,\operatorname{act}'(a)` and :math:`\partial b = g\,\operatorname{act}(a)`.

**Why fuse (the memory argument).** Eager ``F.silu(a) * b`` runs two kernels and autograd keeps three
tensors for backward: ``a`` (for silu's backward), ``silu(a)`` and ``b`` (for the product's backward).
``silu(a)`` is a whole extra activation-sized tensor held from forward to backward, and its round trip through
memory costs time (from forward to backward eager holds 2 N new elements, output and ``silu(a)``; the
fused op holds N, its output). Here the forward is one kernel that reads ``a, b`` and writes the output
(3 tensor passes), only ``a`` and ``b`` are saved, and the backward is one kernel that reads ``g, a, b``,
*recomputes* the activation in registers and writes both gradients (5 passes) -- the design of Liger-Kernel's
``swiglu``/``geglu`` ops (https://github.com/linkedin/Liger-Kernel), without its in-place reuse of the input
buffers.

**Precision.** float16 / bfloat16 / float32 inputs are loaded, computed in float32 and rounded once on the
store. float64 inputs take the same formulas in torch float64 operations (:func:`_torch_gate`): the kernels'
float32 ``erfc`` is not float64-accurate. Stable forms throughout: :math:`\sigma` from
:math:`e^{-|x|}` (never overflows, both :math:`\sigma(x)` and :math:`1-\sigma(x)=\sigma(-x)` without
cancellation); exact GELU from :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)`, not
:math:`\tfrac12(1+\operatorname{erf})`, which cancels to zero for :math:`x < -5`; the tanh form as
:math:`x\,\sigma(2u)`. Triton has no portable ``erfc`` (libdevice's is not available to the interpreter), so
the kernels use the Numerical Recipes Chebyshev fit (fractional error below 1.2e-7) with :math:`e^{-x^2/2}`
taken from an exactly squared high part of :math:`x`, and their own ``exp`` (CUDA's ``tl.exp`` loses
:math:`|x|\,2^{-24}`). For float32 data the tanh and sigmoid forms form the exponent in float64 (a handful of
float64 operations per element); for float16 and bfloat16 data in float32, since their own rounding is far
coarser and float64 arithmetic kept those kernels below the memory bandwidth. Measured
against float64 under the interpreter, float32: the forward within 8 ulp on [-10, 10], the gradient within
8 ulp on [-10, -2] (the tests allow 32, for the GPU's approximate exp2 and division).

The kernels run on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests check them).
The variable is read when this module is imported.

Reference: N. Shazeer, *GLU Variants Improve Transformer*, 2020, https://arxiv.org/abs/2002.05202.
"""

import contextlib
import math
import os

import torch
from torch.autograd.function import once_differentiable

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton is pinned in requirements.txt
    triton = None

__all__ = ["is_available", "swiglu", "geglu"]

BLOCK = 1024  # elements per program: 8 per thread at 4 warps, i.e. 16-byte vector loads for bf16/fp16
NUM_WARPS = 4
SILU, GELU, GELU_TANH, GELU_SIGMOID = 0, 1, 2, 3  # the gate, a compile-time constant of the kernels

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = 0.044715  # (the kernels write these constants as literals: jit code may read only constexpr globals)


def is_available() -> bool:
    """True when the fused kernels can run: triton imports and a CUDA device is present
    (or ``TRITON_INTERPRET=1``, which runs them on the CPU)."""
    if triton is None:
        return False
    return os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available()


if triton is not None:

    @triton.jit
    def _exp(x):
        """exp(x) for x <= 0, to a few ulp on GPUs too.

        On CUDA, tl.exp is ex2.approx(x log2 e), whose rounded argument costs |x| 2^-24 relative error
        (some 40 ulp at x = -87). Here x = n ln2 + r (Cody-Waite, r in [-ln2/2, ln2/2]), exp(x) = 2^n e^r with
        2^n built from its exponent bits (n >= -126: below that the result is subnormal anyway;
        exp(-110) rounds to 0 in float32).
        """
        x = tl.maximum(x, -110.0)
        n = tl.maximum(tl.floor(x * 1.4426950408889634 + 0.5), -126.0)
        r = (x - n * 0.693145751953125) - n * 1.4286068202862268e-06  # ln2 in two parts; n * hi is exact
        return tl.exp(r) * ((n.to(tl.int32) + 127) << 23).to(tl.float32, bitcast=True)

    @triton.jit
    def _sigmoid_pair(x, x_lo):
        """sigma(x + x_lo) and 1 - sigma(x + x_lo) = sigma(-x - x_lo), for a small correction x_lo.

        e = exp(-|x|) lies in (0, 1]: no overflow, and neither result cancels.
        """
        e = _exp(-tl.abs(x)) * (1.0 - tl.where(x >= 0, x_lo, -x_lo))
        r = 1.0 / (1.0 + e)
        pos = x >= 0
        return tl.where(pos, r, e * r), tl.where(pos, e * r, r)

    @triton.jit
    def _normal_cdf_pdf(x):
        """Phi(x) = erfc(-x/sqrt2)/2 and phi(x) = exp(-x^2/2)/sqrt(2 pi), accurate in both tails.

        erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2), z = |x|/sqrt2 (Numerical Recipes 6.2, error < 1.2e-7).
        exp(-x^2/2) loses |x^2| 2^-24 relative if x^2 is rounded, so (as fdlibm's erfc does) |x| = h + d with h
        its top 12 significant bits: h^2 is exact and exp(-x^2/2) = exp(-h^2/2) exp(-d (|x| + h)/2).
        |x| is clamped at 20, beyond which Phi is exactly 0 or 1 and phi exactly 0 in float32.
        """
        ax = tl.minimum(tl.abs(x), 20.0)
        t = 1.0 / (1.0 + 0.35355339059327373 * ax)  # 1 / (1 + z/2)
        p = 0.17087277
        p = p * t - 0.82215223
        p = p * t + 1.48851587
        p = p * t - 1.13520398
        p = p * t + 0.27886807
        p = p * t - 0.18628806
        p = p * t + 0.09678418
        p = p * t + 0.37409196
        p = p * t + 1.00002368
        p = p * t - 1.26551223
        h = (ax.to(tl.int32, bitcast=True) & -4096).to(tl.float32, bitcast=True)  # clear 12 low mantissa bits
        e_h = _exp(-0.5 * (h * h))
        rest = -0.5 * (ax - h) * (ax + h)  # x^2 - h^2 = (|x| - h)(|x| + h), at most 0.2 in size
        half_erfc = 0.5 * t * e_h * tl.exp(p + rest)  # Phi(-|x|); p + rest is small, so tl.exp is accurate
        cdf = tl.where(x < 0, half_erfc, 1.0 - half_erfc)
        return cdf, e_h * tl.exp(rest) * 0.3989422804014327  # phi(x) = exp(-x^2/2) / sqrt(2 pi)

    @triton.jit
    def _gate(x, KIND: tl.constexpr, WIDE: tl.constexpr):
        """act(x) and act'(x) in float32 (the compiler drops act' where it is unused).

        WIDE (float32 data): the tanh and sigmoid forms' exponent in float64, as below. For float16 and
        bfloat16 data, whose rounding (2^-11, 2^-8) dwarfs the 87 * 2^-24 that float64 saves, it stays in
        float32: float64 arithmetic is what kept those kernels from the memory bandwidth."""
        if KIND == 0:  # silu: x sigma(x);  silu' = sigma(x) (1 + x (1 - sigma(x)))
            s, sm = _sigmoid_pair(x, 0.0)
            act = x * s
            dact = s * (1.0 + x * sm)
        elif KIND == 1:  # exact gelu: x Phi(x);  gelu' = Phi(x) + x phi(x)
            cdf, pdf = _normal_cdf_pdf(x)
            act = x * cdf
            dact = cdf + x * pdf
        elif KIND == 2:  # tanh gelu: x sigma(v), v = 2u = 2k (x + c x^3), k = sqrt(2/pi), c = 0.044715
            # v reaches -87 in the tail, where sigma(v) ~ exp(v) turns v's rounding error into an 87-fold
            # relative error: so v is formed in float64 and carried as v + v_lo into the float32 exp.
            xc = tl.minimum(tl.maximum(x, -20.0), 20.0)  # sigma(v) is exactly 0 or 1 beyond: no x^3 overflow
            if WIDE:
                x64 = xc.to(tl.float64)
                v64 = x64 * (1.5957691216057308 + 0.07135481627260025 * x64 * x64)  # 2k, 2kc
                v = v64.to(tl.float32)
                s, sm = _sigmoid_pair(v, (v64 - v.to(tl.float64)).to(tl.float32))
            else:
                v = xc * (1.5957691216057308 + 0.07135481627260025 * xc * xc)
                s, sm = _sigmoid_pair(v, 0.0)
            act = x * s
            dact = s + xc * (1.5957691216057308 * (1.0 + 0.134145 * xc * xc)) * s * sm  # v' = 2k (1 + 3c x^2)
        else:  # sigmoid gelu: x sigma(1.702 x);  ' = sigma(1.702 x) + 1.702 x sigma(1.702 x) sigma(-1.702 x)
            xc = tl.minimum(tl.maximum(x, -100.0), 100.0)  # sigma(1.702 x) is exactly 0 or 1 beyond
            if WIDE:
                v64 = 1.702 * xc.to(tl.float64)  # in float64, for the same reason as v above
                v = v64.to(tl.float32)
                s, sm = _sigmoid_pair(v, (v64 - v.to(tl.float64)).to(tl.float32))
            else:
                v = 1.702 * xc
                s, sm = _sigmoid_pair(v, 0.0)
            act = x * s
            dact = s + v * s * sm
        return act, dact

    @triton.jit
    def _glu_fwd_kernel(a_ptr, b_ptr, out_ptr, n, KIND: tl.constexpr, WIDE: tl.constexpr, BLOCK: tl.constexpr):
        """out = act(a) * b over n flat elements."""
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        act, _ = _gate(a, KIND, WIDE)
        tl.store(out_ptr + offs, (act * b).to(out_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _glu_bwd_kernel(g_ptr, a_ptr, b_ptr, da_ptr, db_ptr, n, KIND: tl.constexpr, WIDE: tl.constexpr,
                        BLOCK: tl.constexpr):
        """da = g * b * act'(a), db = g * act(a), recomputing act from the saved inputs."""
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        act, dact = _gate(a, KIND, WIDE)
        tl.store(da_ptr + offs, (g * b * dact).to(da_ptr.dtype.element_ty), mask=mask)
        tl.store(db_ptr + offs, (g * act).to(db_ptr.dtype.element_ty), mask=mask)


def _torch_gate(x, kind):
    """float64 path: act(x) and act'(x) by the kernels' formulas in torch operations."""
    if kind == SILU:
        e = torch.exp(-x.abs())
        s, sm = torch.where(x >= 0, 1.0, e) / (1 + e), torch.where(x >= 0, e, 1.0) / (1 + e)
        return x * s, s * (1 + x * sm)
    if kind == GELU:
        cdf = 0.5 * torch.special.erfc(-x * _INV_SQRT_2)
        return x * cdf, cdf + x * torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
    if kind == GELU_SIGMOID:
        e = torch.exp(-(1.702 * x).abs())
        s, sm = torch.where(x >= 0, 1.0, e) / (1 + e), torch.where(x >= 0, e, 1.0) / (1 + e)
        return x * s, s + 1.702 * x * s * sm
    xc = x.clamp(-40.0, 40.0)  # sigma(2u) is exactly 0 or 1 in float64 beyond
    two_u = 2 * _SQRT_2_OVER_PI * xc * (1 + _TANH_C * xc * xc)
    e = torch.exp(-two_u.abs())
    s, sm = torch.where(two_u >= 0, 1.0, e) / (1 + e), torch.where(two_u >= 0, e, 1.0) / (1 + e)
    return x * s, s + xc * 2 * _SQRT_2_OVER_PI * (1 + 3 * _TANH_C * xc * xc) * s * sm


def _launch(kernel, n, *tensors, kind):
    dev = tensors[0].device
    # triton launches on the current CUDA device: switch to the tensors' device only when it is another one
    # (the context costs the host 2-4 µs per launch, measured by benchmarks/bench_gpu_glu.py on an H100 machine)
    switch = dev.type == "cuda" and dev.index != torch.cuda.current_device()
    with torch.cuda.device(dev) if switch else contextlib.nullcontext():
        kernel[(triton.cdiv(n, BLOCK),)](*tensors, n, KIND=kind, WIDE=tensors[0].dtype == torch.float32,
                                         BLOCK=BLOCK, num_warps=NUM_WARPS, enable_fp_fusion=True)  # a*b+c: fma


class _FusedGLU(torch.autograd.Function):
    """act(a) * b with a fused forward and a fused, recomputing backward; saves only ``a`` and ``b``."""

    @staticmethod
    def forward(ctx, a, b, kind):
        ctx.kind = kind
        ctx.save_for_backward(a, b)  # the inputs only: act(a) is recomputed in backward
        if a.dtype == torch.float64:
            return _torch_gate(a, kind)[0] * b
        out = torch.empty(a.shape, dtype=a.dtype, device=a.device)
        if out.numel():
            _launch(_glu_fwd_kernel, out.numel(), a.contiguous(), b.contiguous(), out, kind=kind)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        if a.dtype == torch.float64:
            act, dact = _torch_gate(a, ctx.kind)
            return grad * b * dact, grad * act, None
        da = torch.empty(a.shape, dtype=a.dtype, device=a.device)
        db = torch.empty_like(da)
        if da.numel():
            _launch(_glu_bwd_kernel, da.numel(), grad.contiguous(), a.contiguous(), b.contiguous(), da, db,
                    kind=ctx.kind)
        return da, db, None


_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check(name, a, b):
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        raise TypeError(f"{name}: a and b must be tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: a and b must have the same shape (no broadcasting), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in _DTYPES:
        raise TypeError(f"{name}: a and b must share one dtype among float16, bfloat16, float32, float64; "
                        f"got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{name}: a and b must be on the same device, got {a.device} and {b.device}")
    if a.dtype == torch.float64:
        return  # torch operations: any device
    if not is_available():
        raise RuntimeError(f"{name}: the Triton kernels need triton and a CUDA device (or TRITON_INTERPRET=1)")
    if a.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"{name}: the Triton kernels run on CUDA tensors (on the CPU only under "
                         f"TRITON_INTERPRET=1), got a tensor on {a.device}")


def swiglu(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""SwiGLU gate, fused: :math:`\operatorname{silu}(a)\,b = a\,\sigma(a)\,b`.

    Backward: :math:`\partial a = g\,b\,\sigma(a)\,(1 + a\,(1-\sigma(a)))`, :math:`\partial b = g\,a\,\sigma(a)`,
    recomputed from the saved ``a`` and ``b`` in one kernel.

    Args:
        a: gate input, any shape and layout; float16, bfloat16, float32 (computed in float32) or float64.
        b: value input, same shape, dtype and device as ``a``.

    Returns:
        A new contiguous tensor of ``a``'s shape and dtype.

    Reference: Shazeer, 2020, https://arxiv.org/abs/2002.05202; Liger-Kernel ``ops/swiglu.py``.
    """
    _check("swiglu", a, b)
    return _FusedGLU.apply(a, b, SILU)


def geglu(a: torch.Tensor, b: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    r"""GeGLU gate, fused: :math:`\operatorname{gelu}(a)\,b`.

    ``approximate="none"``: :math:`\operatorname{gelu}(x) = x\,\Phi(x)`,
    :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)`, derivative :math:`\Phi(x) + x\,\varphi(x)`.
    ``approximate="tanh"``: :math:`x\,\tfrac12(1+\tanh u) = x\,\sigma(2u)`,
    :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`, derivative
    :math:`\sigma(2u) + 2x\,u'\,\sigma(2u)\,\sigma(-2u)`.
    ``approximate="sigmoid"``: :math:`x\,\sigma(1.702\,x)`, derivative
    :math:`\sigma(1.702x) + 1.702\,x\,\sigma(1.702x)\,\sigma(-1.702x)`.

    Args:
        a: gate input, any shape and layout; float16, bfloat16, float32 (computed in float32) or float64.
        b: value input, same shape, dtype and device as ``a``.
        approximate: ``"none"`` (exact, erfc-based), ``"tanh"`` or ``"sigmoid"``.

    Returns:
        A new contiguous tensor of ``a``'s shape and dtype.

    Reference: Shazeer, 2020, https://arxiv.org/abs/2002.05202; Hendrycks & Gimpel, *Gaussian Error Linear
    Units*, 2016, https://arxiv.org/abs/1606.08415.
    """
    kinds = {"none": GELU, "tanh": GELU_TANH, "sigmoid": GELU_SIGMOID}
    if approximate not in kinds:
        raise ValueError(f"geglu: approximate must be 'none', 'tanh' or 'sigmoid', got {approximate!r}")
    _check("geglu", a, b)
    return _FusedGLU.apply(a, b, kinds[approximate])
