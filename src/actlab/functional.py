"""Activation functions from scratch, as ``torch.autograd.Function`` s with hand-written backward passes.

Every activation comes in three layers:

* a **formula** ``_name(x, ...) -> (value, local derivative)`` written with elementary torch ops.  It is the
  whole lesson: the numerically stable formula *is* the code, with one comment saying why;
* an **autograd Function** ``Name`` whose forward evaluates the formula and saves the local derivative (tanh,
  ReLU and LeakyReLU save y, from which it is cheap to get), and whose backward multiplies it by the incoming
  gradient (no autograd through the formula; see :func:`_forward`);
* the **public function** with torch's name and signature (``actlab.gelu(x, approximate="tanh")``), which
  checks its input and calls ``Name.apply``.

None of them calls the torch function it re-implements (``torch.sigmoid``, ``F.gelu``, ``F.softmax``, ...):
``tests/test_dispatch.py`` records every aten operator they dispatch and proves it.

Conventions shared by all functions (implemented once, in :func:`_chunked`):

* any shape (empty and 0-d included), contiguous or not, CPU or CUDA;
* float16 and bfloat16 are computed in float32 and rounded once; the saved derivatives stay in float32 so
  that the backward pass also rounds once; float32 and float64 are computed in their own precision (except
  where a formula asks for more, see :func:`tanh`, :func:`gelu` and :func:`softmax`);
* CPU tensors of more than 1M elements are processed in cache-sized chunks, so the temporaries of a formula
  are reused from the cache instead of being fresh 64 MB allocations (that alone makes naive composition ~10x
  slower than torch at 16M elements); smaller ones in one piece (see :data:`ONE_PIECE`); results of 32 MB and
  more are written into transparent huge pages where Linux offers them (see :func:`_new_output`);
* :func:`compiled` gives the same formulas through ``torch.compile``: one fused kernel per pass, the forward
  writing y alone and the backward recomputing the local derivatives from the inputs, as torch's own kernels do.
  Where a fused kernel and a chain of eager operations favour different forms, a formula branches on
  ``torch.compiler.is_compiling()`` (see :func:`compiled`).
"""
from __future__ import annotations

import contextvars
import math
import os
import sys
import types
from decimal import Context, Decimal
from functools import cache, partial, reduce
from itertools import zip_longest

import torch
from torch.autograd.function import once_differentiable

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "softmax", "log_softmax",
    "gelu", "silu", "swish", "glu", "swiglu", "geglu", "compiled", "CHUNK", "ONE_PIECE",
]

Tensor = torch.Tensor
_DECIMAL = Context(prec=40)                    # for the constants' exact values

CHUNK = 1 << 17
"""Elements per chunk on the CPU: a formula's handful of temporaries of this size (512 KB in float32) stay in a
core's 2 MB L2 cache and are recycled by the allocator. Measured on the project's 2-core VM (bench_cpu, ratio to
torch at 16M): 2^16 2.4-2.8x, 2^17 2.1-2.6x, 2^18 about the same, 2^19 worse again."""

ONE_PIECE = 8
"""Inputs of up to ONE_PIECE * CHUNK elements (1M) are computed in one piece, not in chunks. Each chunk costs every
operation of a formula its call overhead once more (Python, dispatch, waking the threads), and at this size the
temporaries (4 MB in float32) still come back from the last-level cache. Measured at 1M elements (bench_cpu's
inputs, the two ways interleaved, 41 repeats, ratio to torch): one piece was faster for 12 of the 16 functions
(relu 1.59 against 2.60 in chunks, softmax 5.47 against 6.47, glu 3.67 against 4.43), as fast for swish, slower by
4-6 % for softplus, silu and the GELU tanh form (4.67 against 4.39). At 2M, the GELU tanh form's float64
temporaries (16 MB) took it to 8.24 against 4.25 in chunks."""

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_GELU_FORMS = ("none", "tanh", "sigmoid")

# constants


class _Exact:
    """A constant known to 40 digits: per compute dtype, its rounding ``hi`` and what that misses, ``lo``."""

    def __init__(self, value: Decimal):
        self.value = value
        self.split = {}
        for dt in (torch.float32, torch.float64):
            hi = float(torch.tensor(float(value), dtype=torch.float64).to(dt))
            self.split[dt] = (hi, float(_DECIMAL.subtract(value, Decimal(hi))))
        self.float = self.split[torch.float64][0]    # float(self), as an attribute that torch.compile can read

    def __float__(self):
        return self.float


_MINUS_SQRT1_2 = _Exact(_DECIMAL.minus(_DECIMAL.divide(_DECIMAL.sqrt(Decimal(2)), 2)))   # see _times_exactly
_2_SQRTPI = 2.0 / math.sqrt(math.pi)
_1_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_A = 2.0 * math.sqrt(2.0 / math.pi)            # sigma(2u) with 2u = x (A + B x^2)
_GELU_TANH_B = 2.0 * math.sqrt(2.0 / math.pi) * 0.044715
_GELU_SIGMOID = _Exact(Decimal("1.702"))
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _warm_up_vml():
    """Call each MKL VML function the formulas use once, on one element, at import.

    ATen computes contiguous float ``exp`` (and ``expm1``, ``log1p``, ``erfc``, ...) on the CPU with Intel MKL's
    VML, which picks its kernel on the first call of each function. With the oneMKL 2024.2 bundled in the torch
    wheels, that first call can run a low-accuracy kernel (pytorch/pytorch#188792; fix proposed in #188791):
    here 5 fresh processes in 36 got ``exp`` or ``erfc`` wrong by up to 1.5e-4 relative (~1000 ULP) on their first
    float32 call, and actlab's sigmoid with them. After one call on one element, 0 in 36
    (``tests/test_functional.py::test_first_calls_are_accurate``)."""
    for dtype in (torch.float32, torch.float64):
        one = torch.ones(1, dtype=dtype)
        for op in (torch.exp, torch.expm1, torch.log1p, torch.log, torch.special.erfc):
            op(one)


_warm_up_vml()


def _keep_freed_memory():
    """Allocate and free a 31 MB block at import, so that glibc keeps the formulas' freed temporaries for reuse.

    glibc's malloc serves big blocks (from 128 KB) by mmap and trims the top of its heap when more than twice that
    is free. A formula's temporaries on one chunk add up to a few MB, all freed at its end: trimmed, then faulted
    in again, page by page, on the next chunk. That cost more than the arithmetic: the GELU tanh form took 2.9 ms
    per 2^17-element chunk here with ~950 page faults, 0.8 ms with 0 to 3. Freeing one mmap'd block raises both
    thresholds to its size (mallopt(3), "dynamic mmap threshold"), as in any program that frees a tensor of that
    size; 31 MB stays under glibc's 32 MB cap for the adjustment. Tensors of 64 MB and more are still mmap'd,
    and so returned to the system when freed. Harmless elsewhere (one allocation, never touched).
    ``ACTLAB_KEEP_FREED_MEMORY=0`` in the environment turns it off."""
    if os.environ.get("ACTLAB_KEEP_FREED_MEMORY", "1") != "0":
        torch.empty((31 << 20) // 4)        # mmap, munmap at once: no page is touched


_keep_freed_memory()


@cache
def _libc_madvise():
    """libc's madvise(2) through ctypes, or None: not Linux, no libc, or ``ACTLAB_HUGE_PAGES=0`` in the environment.
    Looked up on the first big output, not at import: a ``ctypes.CDLL`` opened at import left glibc's heap laid out
    so that in some processes every chunk of _chunked faulted 3-22 pages in again
    (test_chunk_temporaries_are_reused_not_faulted_in)."""
    if not sys.platform.startswith("linux") or os.environ.get("ACTLAB_HUGE_PAGES", "1") == "0":
        return None
    try:
        import ctypes

        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes, madvise.restype = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int), ctypes.c_int
    return madvise


_MADV_HUGEPAGE, _HUGE_PAGE = 14, 2 << 20


def _new_output(like, shape, dtype):
    """An empty CPU or CUDA tensor for a result. One of 32 MB or more (memory that glibc maps afresh for it, see
    _keep_freed_memory) is given transparent huge pages where the kernel offers them on request (Linux's
    ``transparent_hugepage/enabled`` = madvise, as here): its first writes then fault in 2 MB pages instead of 4 KB
    ones. Writing 64 MB into a fresh tensor took 26 ms here, 15 ms so (a 16M-element multiplication, 15 repeats;
    torch's own kernels write into plain pages). Only the 2 MB-aligned interior is advised; a failed madvise
    changes nothing."""
    out = like.new_empty(shape, dtype=dtype)
    if out.device.type == "cpu" and out.nbytes >= 32 << 20 and (madvise := _libc_madvise()) is not None:
        start = -(-out.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE
        end = (out.data_ptr() + out.nbytes) // _HUGE_PAGE * _HUGE_PAGE
        madvise(start, end - start, _MADV_HUGEPAGE)
    return out


# --------------------------------------------------------------------------------------------------------
# the one helper: dtype policy + cache-sized chunks
# --------------------------------------------------------------------------------------------------------
def _chunked(fn, *tensors, dim=None, saved=True):
    """Evaluate the formula ``fn(*tensors, out=...)``, which returns a tensor or ``(result, *saved)``.

    Inputs are computed in at least float32; the result is rounded once to the first input's dtype, saved tensors
    are kept in at least float32 (``saved=False`` drops them: None). ``dim`` marks a formula that reduces along
    that dimension (softmax, glu): it gets ``dim=`` and is chunked only along the dimensions before it. CPU inputs
    of more than :data:`ONE_PIECE` chunks are split into chunks of about :data:`CHUNK` elements, so that the
    formula's temporaries stay in cache; from the second chunk on the formula writes its last operations straight
    into slices of the outputs (its ``out=`` argument; what it returns without having written it there is
    copied). A formula must compute in full precision and write to ``out`` only at the end:
    in half precision ``out`` holds rounded values.
    """
    x = tensors[0]
    compute = _compute_dtype(tensors)
    keep = torch.promote_types(x.dtype, torch.float32)
    if (options := _COMPILE.get()) is not None:      # the compiled path: the formula is one fused kernel
        return _compiled_into_outputs(fn, options, [t.to(compute) for t in tensors], {} if dim is None else
                                      {"dim": dim}, x.dtype, keep, saved)
    big = x.device.type == "cpu" and x.numel() > ONE_PIECE * CHUNK and not torch.compiler.is_compiling()
    if big and dim is None:        # elementwise: any view of the data will do
        views, rows, kw = [t.reshape(-1) for t in tensors], CHUNK, {}
    elif big and math.prod(x.shape[:dim]) > 1:  # as (outer, size along dim, inner): reduce along 1, chunk along 0
        outer, inner = math.prod(x.shape[:dim]), math.prod(x.shape[dim + 1:])
        views = [t.reshape(outer, t.shape[dim], inner) for t in tensors]
        rows, kw = max(1, CHUNK // (x.shape[dim] * inner)), {"dim": 1}
    else:                          # one piece
        kw = {} if dim is None else {"dim": dim}
        res = fn(*(t.to(compute) for t in tensors), **kw)
        if not isinstance(res, tuple):
            return res.to(x.dtype)
        y = res[0].to(x.dtype)      # (a saved result that is the result itself is converted once: softmax's y)
        return (y, *(None if not saved or r is None else y if r is res[0] and keep == x.dtype else r.to(keep)
                     for r in res[1:]))

    n = len(views[0])
    chunk = lambda start: [v[start:start + rows].to(compute) for v in views]
    res = fn(*chunk(0), **kw)      # the first chunk tells the outputs' shapes
    single = not isinstance(res, tuple)
    res = (res,) if single else res
    outs = []
    for i, r in enumerate(res):    # allocate once; a saved tensor that is the result itself shares its buffer
        if i and (not saved or r is None):
            outs.append(None)
        elif i and r is res[0] and keep == x.dtype:
            outs.append(outs[0])
        else:
            outs.append(_new_output(x, (n, *r.shape[1:]), x.dtype if i == 0 else keep))
            outs[-1][:rows] = r
    for start in range(rows, n, rows):
        sl = [None if o is None else o[start:start + rows] for o in outs]
        sl = [sl[0] if i and outs[i] is outs[0] else o for i, o in enumerate(sl)]
        res = fn(*chunk(start), **kw, out=tuple(o if o is not None and o.dtype == compute else None for o in sl))
        for i, (o, r) in enumerate(zip(sl, (res,) if single else res)):
            if o is not None and r is not o and not (i and o is sl[0]):
                o.copy_(r)
    shape = lambda o: x.shape if dim is None else (*x.shape[:dim], o.shape[1], *x.shape[dim + 1:])
    outs = [None if o is None else o.view(shape(o)) for o in outs]
    return outs[0] if single else tuple(outs)


_RESULT_SHAPES = {}


def _compiled_into_outputs(fn, options, args, kw, dtype, keep, saved):
    """_chunked on the compiled path: the compiled formula writes its results into outputs allocated here (see
    _new_output), the first rounded to ``dtype``, the saved ones kept in ``keep`` (or dropped: ``saved=False``; a
    saved result that is the first one shares its buffer). The results' shapes come from running the formula once
    on meta tensors (cached: a meta run of _swish takes 7 ms)."""
    base, bound = (fn.func, fn.keywords) if isinstance(fn, partial) else (fn, {})
    key = (base, tuple((k, ("tensor", v.shape, v.dtype) if isinstance(v, Tensor) else v) for k, v in bound.items()),
           tuple((a.shape, a.dtype) for a in args), tuple(kw.items()))
    if key not in _RESULT_SHAPES:
        res = fn(*(torch.empty_like(a, device="meta") for a in args), **kw)
        single = not isinstance(res, tuple)
        res = (res,) if single else res
        _RESULT_SHAPES[key] = single, [None if r is None else (r.shape, i > 0 and r is res[0])
                                       for i, r in enumerate(res)]
    single, shapes = _RESULT_SHAPES[key]
    outs = []
    for i, shape in enumerate(shapes):
        if i and (not saved or shape is None):
            outs.append(None)
        elif i and shape[1] and keep == dtype:
            outs.append(outs[0])
        else:
            outs.append(_new_output(args[0], shape[0], dtype if i == 0 else keep))
    _compile(fn, options, "into")(*args, out=tuple(None if i and o is outs[0] else o for i, o in enumerate(outs)),
                                  **kw)
    return outs[0] if single else tuple(outs)


def _compute_dtype(tensors):
    """The dtype a formula computes in: the promoted dtype of the inputs, at least float32."""
    return reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)


def _chain(grad, slope):
    """Backward of y = f(x) when the forward saved f'(x): the chain rule, grad * f'(x). One multiplication, so
    no chunks are needed unless a half-precision grad meets a float32 slope (computed in float32, rounded once).
    Into a _new_output tensor (huge pages at 16M elements)."""
    if grad.dtype != slope.dtype:
        return _chunked(_mul, grad, slope)
    # (torch.broadcast_shapes took 18 us a call here, a tenth of a 1M-element multiplication)
    shape = grad.shape if grad.shape == slope.shape else torch.broadcast_shapes(grad.shape, slope.shape)
    return torch.mul(grad, slope, out=_new_output(grad, shape, grad.dtype))


def _forward(ctx, formula, *tensors):
    """Forward of an elementwise Function ``y = formula(*tensors)[0]``; saves in ``ctx`` what its backward needs.

    Eager: the formula's local derivatives, so that the backward is one multiplication each. Compiled: the
    inputs; the backward recomputes the derivatives inside its own fused kernel, so that the forward kernel
    writes y alone (as torch's does) and no derivative makes a round trip through memory. Except for the
    formulas in _SLOPE_FROM_VALUE, whose derivative is cheap to get from y: both paths save y alone (unless y is
    rounded to half precision), and the backward computes the slope from it."""
    ctx.formula, ctx.compile = formula, _COMPILE.get()
    compute = _compute_dtype(tensors)
    if _from_value(formula) and tensors[0].dtype == compute:
        ctx.saved = "value"
    else:
        ctx.saved = "slopes" if ctx.compile is None else "inputs"
    if ctx.saved == "slopes":      # (compiled: _chunked compiles the formula into one kernel)
        y, *slopes = _chunked(formula, *tensors, saved=any(ctx.needs_input_grad))
        ctx.save_for_backward(*slopes)
        return y
    if ctx.compile is None:        # eager, saving y
        y = _chunked(_from_value(formula)[0], *tensors)
    else:
        y = _compile(formula, ctx.compile, "value")(*tensors, compute=compute,
                                                     out=_new_output(tensors[0], tensors[0].shape, tensors[0].dtype))
    ctx.save_for_backward(*((y,) if ctx.saved == "value" else tensors))
    return y


def _backward(ctx, grad):
    """Backward of :func:`_forward`: the incoming gradient times each local derivative (a tuple, one per input)."""
    if ctx.saved == "slopes":
        return tuple(_chain(grad, slope) for slope in ctx.saved_tensors)
    if ctx.saved == "value" and ctx.compile is None:
        return (_chunked(partial(_times_slope, slope=_from_value(ctx.formula)[1]), grad, *ctx.saved_tensors),)
    grads = _compile(ctx.formula, ctx.compile, "slope" if ctx.saved == "value" else "grads")
    inputs = ctx.saved_tensors[:1] if ctx.saved == "value" else ctx.saved_tensors
    return grads(grad, *ctx.saved_tensors, compute=_compute_dtype((grad, *ctx.saved_tensors)),
                 out=tuple(_new_output(grad, t.shape, grad.dtype) for t in inputs))


def _in_mode(ctx, fn, *tensors, **kwargs):
    """_chunked in the mode (eager or compiled) of the forward pass that saved ``ctx``."""
    token = _COMPILE.set(ctx.compile)
    try:
        return _chunked(fn, *tensors, **kwargs)
    finally:
        _COMPILE.reset(token)


def _step(x, out=None):
    """1 where x > 0, else 0 (NaN -> 0), as a float tensor: cheaper on the CPU than a boolean mask. (``out``: a
    dead temporary to write it into, see _into.)"""
    if torch.compiler.is_compiling():
        return (x > 0).to(x.dtype)
    return torch.sign(x, out=out).clamp_(min=0)


def _one_if_positive(x, e, out=None):
    """1 where x > 0, else e, for e = e^{-c|x|} (0 < c <= 2): 2^100 x clamped into [e, 1] (NaN stays NaN). Exact:
    where 0 < x < 2^-100, e rounds to 1 (even in float64). Eager, two passes (a sign, a clamp and a maximum took
    three: 194 us against 115 at 1M elements here); compiled, one select."""
    if torch.compiler.is_compiling():
        return torch.where(x > 0, 1.0, e)
    return torch.mul(x, 2.0 ** 100, out=out).clamp_(min=e, max=e.new_ones(()))


def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"actlab.{name} expects a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(
            f"actlab.{name} expects a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got {x.dtype}; convert it first, e.g. x.float()")
    return x


def _check_dim(x, dim, name):
    if not isinstance(dim, int):
        raise TypeError(f"actlab.{name}: dim must be an int, got {type(dim).__name__}")
    n = max(x.dim(), 1)
    if not -n <= dim < n:
        raise IndexError(f"actlab.{name}: dim {dim} is out of range for a tensor with {x.dim()} dimensions")
    return dim % n


def _check_pair(a, b, name):
    _check(a, name)
    _check(b, name)
    if a.shape != b.shape:
        raise ValueError(f"actlab.{name}: the gate input a and the value b must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise TypeError(f"actlab.{name}: a and b must have the same dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"actlab.{name}: a and b are on different devices ({a.device} and {b.device})")


def _check_gelu_form(approximate, name="gelu"):
    if approximate not in _GELU_FORMS:
        raise ValueError(f"actlab.{name}: approximate must be one of {_GELU_FORMS}, got {approximate!r}")
    return approximate


# --------------------------------------------------------------------------------------------------------
# formulas: value and local derivative, written with elementary ops. ``out`` (given by _chunked) receives
# the results of the last operations; None: new tensors.
# --------------------------------------------------------------------------------------------------------
_NO_OUT = (None, None, None)


def _into(out, dead):
    """Where an operation writes its result: ``out`` (given by _chunked), or else ``dead``, a temporary of the
    formula that nothing reads afterwards. At 1M float32 elements a pass costs up to twice as much into a fresh
    4 MB tensor as into one just used (not in cache; 0.15-0.25 ms against 0.07-0.09 here): a bare sigmoid Function
    timed interleaved with one writing into fresh tensors took 2.05-2.10x torch's time against 2.19-2.21x. (The
    backward's product still goes into a fresh tensor: the saved ones may be needed again, retain_graph.)"""
    return dead if out is None else out


def _sigmoid(x, out=_NO_OUT):
    # e^x / (1 + e^x), x clamped where sigma is already 1 (so e^x is finite): no overflow, and one exponential,
    # of x itself, keeps full relative accuracy in the left tail (sigma(x) ~ e^x); 5 passes (1.64 ULP). The two
    # branches 1/(1 + e^-|x|) and e^-|x|/(1 + e^-|x|) took 11 and rounded once more (2.14 ULP; torch 2.21).
    e = _exp(x.clamp(max=_SIGMOID_ONE[x.dtype]))
    d = e + 1
    y = torch.div(e, d, out=_into(out[0], e))
    return y, torch.div(y, d, out=_into(out[1], d))     # sigma'(x) = sigma(x) sigma(-x) = y / (1 + e^x)


_SIGMOID_ONE = {torch.float32: 88.0, torch.float64: 709.0}
"""Where sigma(x) = 1 - e^-x (1 + ...) is 1 in the dtype already (from x = 17 in float32, 37 in float64), and e^x
is still finite: at this x and beyond, _sigmoid's formula gives 1 and a slope of e^-88 = 6e-39 in float32 (e^-709 in
float64), subnormal: within the smallest normal number of the true e^-x."""
_EXP_IN_FLOAT64 = {"cuda"}     # devices where _exp takes a float32 exponential in float64


def _exp(v):
    """e^v, in place of v (a temporary): the one exponential of _sigmoid and _times_sigmoid. CUDA's float32
    exp is within 2 ULP, the CPU's within 1 (CUDA C Programming Guide, mathematical functions), and x sigma(x)
    counts its error twice: SiLU was 4.13 ULP on an H100, sigmoid 2.65 against torch's 2.38. So on CUDA a float32
    v takes it in float64, rounded once (SiLU then 3.82, as on the CPU)."""
    if v.dtype == torch.float32 and v.device.type in _EXP_IN_FLOAT64:
        return v.double().exp_().to(v.dtype)
    return v.exp_()


def _times_sigmoid(x, v, out=_NO_OUT, g=None):
    """x sigma(v), sigma(v) and sigma'(v), for the activations that multiply by a sigmoid (SiLU, Swish, GELU's
    approximations, GLU). The product is formed as (x h)(h/(1 + g^2)), g = e^{-|v|/2}, h = e^{min(v,0)/2}: where
    sigma(v) alone is subnormal (v < -87 in float32), x sigma(v) need not be, and it keeps its digits. A caller
    that has g passes it (v then only gives the sign). 12 passes, the exponential's three included; with e = g^2,
    a reciprocal and products of it, and a sign, a clamp and a maximum for h, 15."""
    if g is None:
        g = _exp(v.abs().mul_(-0.5))                # e^{-|v|/2}: one exponential for everything
    d = torch.addcmul(g.new_ones(()), g, g)         # 1 + e^{-|v|}, rounded once
    h = _one_if_positive(v, g)                      # e^{min(v,0)/2}: g for v < 0, 1 for v > 0
    hr = torch.div(h, d)                            # sigma(v) = h hr
    q = g.div_(d)                                   # sigma'(v) = e^{-|v|} / (1 + e^{-|v|})^2 = q^2
    xh = torch.mul(x, h, out=d)
    y = torch.mul(xh, hr, out=_into(out[0], xh))
    return y, torch.mul(hr, h, out=_into(out[1], hr)), torch.mul(q, q, out=_into(out[2], q))


def _finite(x):
    """x with +-inf replaced by the largest finite numbers: a factor of a derivative that is 0 there (x sigma'(v)),
    so that the product is 0, not inf * 0 = NaN."""
    big = torch.finfo(x.dtype).max
    return x.clamp(-big, big)


def _times_exactly(x, c):
    """v = c x rounded to x's dtype, and what it misses, r = c x - v: the rounding error of the product
    (exact, by a fused multiply-add) plus that of c itself (an _Exact constant, a float taken as exact, or a
    tensor). An exponential of v has the relative error |v| ULP of v's rounding; of v + r, none. (Where c x
    overflows, r is meaningless: see _finite_or_unused.)"""
    if torch.compiler.is_compiling() and x.dtype == torch.float32:
        # inductor computes c x once and reuses it, so the fused multiply-add below would give r = 0 (compiled
        # swish was within 64 ULP): the product in float64 instead, exact to 2^-53 relative
        # (c.float, not float(c): dynamo of torch 2.11 breaks the graph at float() of an _Exact)
        exact = x.double() * (c.double() if isinstance(c, Tensor) else c.float if isinstance(c, _Exact) else c)
        v = exact.float()
        return v, _finite_or_unused((exact - v.double()).float())
    if isinstance(c, Tensor):
        v = c * x
        return v, _finite_or_unused(torch.addcmul(-v, c, x))
    hi, lo = c.split[x.dtype] if isinstance(c, _Exact) else (c, None)
    ch = torch.full((), hi, dtype=x.dtype, device=x.device)
    v = x * ch
    r = torch.addcmul(v, x, ch, value=-1.0).neg_()    # (x ch - v, as -(v - x ch): one temporary, not two)
    if lo is None and x.dtype != torch.float64:     # a float c: its rounding to x's dtype, as a 0-d tensor
        r.addcmul_(x, (torch.full((), c, dtype=torch.float64, device=x.device) - ch).to(x.dtype))
    elif lo:
        r.add_(x, alpha=lo)
    return v, _finite_or_unused(r)


def _finite_or_unused(r):
    """A rounding error r (of a product or a sum) where it is finite; where it is not (the product or sum
    overflowed), or beyond +-1 (past 2^24 in float32), its callers multiply it by 0, and 0 (eager) or +-1
    (compiled) will do. Inductor's CPU code tests NaN one element at a time: nan_to_num made the compiled softmax
    1.29x torch at 16M, fmax (which drops a NaN) 1.16x; eager, nan_to_num_ in place is the cheaper pass."""
    if torch.compiler.is_compiling():
        return torch.fmax(r, r.new_full((), -1.0)).clamp_(max=1.0)
    return r.nan_to_num_(0.0, 0.0, 0.0)


def _two_sum(a, b):
    """s = fl(a + b) and the exact rounding error a + b - s (Knuth's TwoSum, six additions, no branch)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)).add_(b - bb)


def _tanh(x, out=_NO_OUT):
    y = _tanh_value(x, out=out)
    return y, _tanh_slope(y, out=out)


def _tanh_value(x, out=_NO_OUT):
    # (e^{2x} - 1) / (e^{2x} + 1) with expm1, so small |x| keeps every digit; |x| <= 20 is enough for
    # tanh to reach +-1 in float64, and keeps e^{2x} finite. In float64, rounded once: expm1, + 2 and / round
    # once each, 2.3 ULP in float32 itself, 0.50 ULP so (torch's own tanh: 0.52). (2x is exact in any dtype:
    # doubled before the conversion, it is a float32 pass instead of a float64 one.) Compiled, a continued
    # fraction instead: inductor's float64 expm1 is Sleef's, slower than the rest of the kernel
    if torch.compiler.is_compiling() and x.dtype == torch.float32:
        y = _tanh_by_continued_fraction(x.clamp(-_TANH_ONE, _TANH_ONE).to(torch.float64))
    else:
        u = x.clamp(-20.0, 20.0).mul_(2.0).to(torch.float64).expm1_()
        y = u.div_(u + 2.0)
    return y.to(x.dtype) if out[0] is None else out[0].copy_(y)   # (a division into float32 out is slower)


_TANH_ONE = 9.1     # 1 - tanh x = 2 / (e^{2x} + 1) < 2^-25 for x > 13 ln 2 = 9.01: tanh rounds to 1 in float32


def _lambert(levels):
    """Coefficients (highest degree first) of P and Q with tanh t ~ t P(t^2) / Q(t^2): Lambert's continued fraction
    tanh t = t / (1 + t^2 / (3 + t^2 / (5 + ...))) (J. H. Lambert, 1768) cut after ``levels`` more levels, summed
    from the inside out as polynomials in t^2. Its convergents are Pade approximants of tanh; every coefficient is a
    positive integer, below 2^53 here, so exact in float64."""
    num, den = [2 * levels + 1], [1]                # the innermost level, 2 levels + 1, as num / den (lowest first)
    for k in range(levels - 1, -1, -1):             # (2k + 1) + t^2 den / num = ((2k + 1) num + t^2 den) / num
        num, den = [a + b for a, b in zip_longest([(2 * k + 1) * c for c in num], [0] + den, fillvalue=0)], num
    return [float(c) for c in den[::-1]], [float(c) for c in num[::-1]]     # tanh t = t / level 0 = t den / num


_TANH_P, _TANH_Q = _lambert(9)


def _tanh_by_continued_fraction(w):
    """tanh w for |w| <= 9.1 in float64 arithmetic, for compiled float32 tanh (inductor calls Sleef's float64
    expm1, which cost more than the rest of the kernel). At t = w/2 the fraction t P(t^2) / Q(t^2) of
    _lambert(9), then the double angle tanh 2t = 2T / (1 + T^2) on its numerator and denominator: one division in
    all, and no subtraction. The fraction alone is within 2^-26.8 of tanh t at |t| = 4.55, but the double angle
    shrinks a relative error of T by (1 - T^2) / (1 + T^2): within 2^-38.9 for |w| <= 9.1. Rounded to float32,
    0.4995 ULP on bench_accuracy's sweep (test_compiled_path_accuracy), as eager. 27 float64 operations where
    the expm1 by repeated squaring it replaced took 36 (a Taylor polynomial at w/64, then six times q(q + 2)): at
    16M elements the forward kernel went from 33.0-34.7 to 28.7-29.4 ms, forward+backward from 45.5-49.2 to
    41.9-43.6 ms (two runs, the two interleaved in one process)."""
    t = w * 0.5
    t2 = t * t
    num, den = t * _horner(t2, _TANH_P), _horner(t2, _TANH_Q)
    return (2.0 * num * den) / (den * den + num * num)


def _tanh_slope(y, out=_NO_OUT):
    # tanh' = 1 - tanh^2, from the value alone; near |y| = 1, y^2 rounded would cancel, so either one fused
    # multiply-add (eager addcmul: one pass instead of three, tanh at 16M 2.85x -> 2.64x torch) or (1 - y)(1 + y),
    # exact but for the last rounding (compiled: inductor's C++ does not promise the fused multiply-add)
    if torch.compiler.is_compiling():
        return (1.0 - y) * (1.0 + y)
    return torch.addcmul(y.new_ones(()), y, y, value=-1.0, out=out[1])


def _relu(x, out=_NO_OUT):
    y = _relu_value(x, out=out)
    return y, _relu_slope(y, out=out)


def _relu_value(x, out=_NO_OUT):
    return torch.clamp(x, min=0, out=out[0])


def _relu_slope(y, out=_NO_OUT):
    return torch.sign(y, out=out[1])        # [x > 0] = [y > 0] = sign(y): y >= 0 or NaN, and sign(NaN) = 0


def _leaky_relu(x, slope, out=_NO_OUT):
    y = _leaky_relu_value(x, slope, out=out)
    return y, _leaky_relu_slope(x if slope < 0 else y, slope, out=out)   # slope >= 0: y has the sign of x


def _leaky_relu_value(x, slope, out=_NO_OUT):
    # max(x, slope*x) for slope <= 1 (min for slope > 1): the two branches without a mask
    if slope == 0:                      # ReLU: 0 * inf would be NaN (torch: leaky_relu(inf, 0) = inf)
        return torch.clamp(x, min=0, out=out[0])
    sx = slope * x
    return (torch.maximum if slope <= 1 else torch.minimum)(x, sx, out=_into(out[0], sx))


def _leaky_relu_slope(v, slope, out=_NO_OUT):
    """1 where v > 0, else slope (NaN -> slope, as torch): from x, or from y = leaky_relu(x) when slope >= 0."""
    if 0 <= slope <= 1:                 # sign(v) is -1, 0 or 1 (0 for NaN): raise -1 and 0 to slope
        sign = torch.sign(v)
        return torch.clamp(sign, min=slope, out=_into(out[1], sign))
    step = _step(v).mul_(1.0 - slope)
    return torch.add(step, slope, out=_into(out[1], step))


_SLOPE_FROM_VALUE = {
    _tanh: (_tanh_value, _tanh_slope, lambda: True),
    _relu: (_relu_value, _relu_slope, lambda: True),
    _leaky_relu: (_leaky_relu_value, _leaky_relu_slope, lambda slope: slope >= 0),
}
"""Formulas whose local derivative is cheap to get from the value: formula -> (value alone, slope from the
value, for which parameters). Both paths save y for them, not x or the slope: the forward writes y alone, and the
backward neither evaluates the formula again nor reads a saved slope (see _forward). At 16M elements this saves a
fresh 64 MB tensor, whose page faults cost as much as a pass: eager tanh went from 3.1x torch to 2.5x."""


def _from_value(formula):
    """(value alone, slope from the value) of a formula in _SLOPE_FROM_VALUE, its parameters bound; else None."""
    base, params = (formula.func, formula.keywords) if isinstance(formula, partial) else (formula, {})
    value, slope, applies = _SLOPE_FROM_VALUE.get(base, (None, None, None))
    return (partial(value, **params), partial(slope, **params)) if value and applies(**params) else None


def _times_slope(grad, y, slope, out=_NO_OUT):
    """grad f'(x), with f' computed from y = f(x) by ``slope`` (see _SLOPE_FROM_VALUE)."""
    s = slope(y)
    return torch.mul(s, grad, out=_into(out[0], s))


def _horner(x, coefficients):
    """The polynomial with these coefficients (highest degree first) at x, by Horner's rule."""
    p = x * coefficients[0] + coefficients[1]
    for c in coefficients[2:]:
        p = p * x + c
    return p


_EXPM1_TAYLOR = [1.0 / math.factorial(k) for k in range(11, 1, -1)]    # 1/11!, ..., 1/2!


def _expm1_compiled(x, v):
    """e^x - 1 in a fused kernel, for x <= 0 (ELU's negative branch; ELU also evaluates it where x > 0, and drops
    it), given v = x in float64. Below -ln 2, from float32's e^x (e^x <= 1/2: its error is below half an ULP of
    the result) minus 1 in float64; above, the Taylor polynomial x + x^2/2! + ... + x^11/11! in float64 (truncation
    below 2^-30 relative). Rounded once to float32 by the caller: ELU within 0.5 + 0.5 ULP. Sleef's expm1 in
    float64, or e^v - 1 in float64, took compiled ELU 2.54 or 1.85 ms forward+backward at 1M elements here, this
    1.17 (torch 1.07-1.10; float32 throughout, 0.94, but 1.90 ULP near 0)."""
    return torch.where(v < -math.log(2.0), torch.exp(x).double() - 1.0, (_horner(v, _EXPM1_TAYLOR) * v + 1.0) * v)


def _elu(x, alpha, scale=1.0, out=_NO_OUT):
    # alpha (e^x - 1) with expm1: full relative accuracy for small negative x, where e^x - 1 cancels
    if torch.compiler.is_compiling():   # a select is one instruction: both branches, one chosen (e^x may overflow
        # where it is not); 16M: 0.99x torch, 1.18x with the clamps below. float32 takes e^x - 1 and the scale in
        # float64, rounded once into the outputs: ELU within 0.74 ULP, SELU 0.92 (torch 1.00 and 1.56; all in
        # float32, 1.90 and 2.00: the roundings of expm1 and of the scale add up)
        v = x.double() if x.dtype == torch.float32 else x
        pos = x > 0
        m = _expm1_compiled(x, v) if x.dtype == torch.float32 else torch.expm1(x)
        return (torch.where(pos, v * scale, m * (scale * alpha)),
                torch.where(pos, scale, torch.exp(x) * (scale * alpha)))
    neg = x.clamp(max=0)
    pos = x.clamp(min=0)
    pos = pos if scale == 1.0 else pos.mul_(scale)
    m = torch.expm1(neg)
    y = torch.add(pos, m, alpha=scale * alpha, out=_into(out[0], pos))
    e = neg.exp_().mul_(scale * alpha)
    slope = torch.add(e, _step(x, out=m), alpha=scale * (1.0 - alpha), out=_into(out[1], e))
    return y, slope                                 # scale*alpha*e^x for x <= 0, scale for x > 0


_SOFTPLUS_LINEAR = 17.0
"""In float32, beyond v = 17 softplus(v) = v + log1p(e^-v) rounds to v (e^-17 = 4.1e-8 < ulp(v)/2) and its slope
1/(1 + e^-v) to 1 (1 + e^-v rounds to 1): torch's linear region changes nothing for a threshold at or above it."""


def _softplus(x, beta, threshold, out=_NO_OUT):
    v = x if beta == 1.0 else beta * x              # (beta x may overflow: +-inf is handled as any big v)
    e = v.abs().neg_().exp_()
    # log(1 + e^v) = max(v, 0) + log1p(e^{-|v|}): never exponentiates a positive number. log1p(e) >= e - e^2/2
    # (an alternating series) and <= e: the bounds mend MKL's float32 log1p below e = 2^-125, where it is an ULP
    # off (log1p(1.84e-38) one ULP low: softplus(-86.89) 1.48 ULP, torch's worst 1.45; within the bounds 1.17)
    lo = torch.addcmul(e, e, e, value=-0.5)
    log1p = torch.log1p(e).clamp_(min=lo, max=e)
    # torch's convention: x itself (slope 1) where beta x > threshold; two selects, unless they change nothing
    plain = threshold == math.inf or (beta == 1.0 and threshold >= _SOFTPLUS_LINEAR and x.dtype == torch.float32)
    last = out if plain else _NO_OUT                # (the results of the last operations go to out)
    y = torch.add(torch.clamp(v, min=0, out=lo), log1p, out=_into(last[0], log1p) if beta == 1.0 else log1p)
    if beta != 1.0:
        y = torch.div(y, beta, out=_into(last[0], y))
    h = _one_if_positive(v, e, out=lo)
    s = torch.div(h, e.add_(1.0), out=_into(last[1], h))   # sigma(v): 1/(1 + e^-|v|) or e^-|v|/(1 + e^-|v|)
    if plain:
        return y, s
    linear = v > threshold
    return torch.where(linear, x, y, out=out[0]), torch.where(linear, s.new_ones(()), s, out=out[1])


def _exp_minus_max(x, dim, with_index=False, need_z=True):
    """e^z, z = x - m, the row maxima m and (``with_index``) their indices: every exponent is <= 0, so no
    overflow, and the largest term is exactly 1. (``need_z=False``: the caller does not read z, which may then
    hold e^z.)

    exp turns an absolute error of z into a relative one, |z| times larger. Eager, below float64, z (and so
    everything after it) is formed in float64, where x - m is exact to 2^-53 |z|: at most 2^-46 where e^z is not
    0 in float32, and x - m cannot overflow; rounded once at the end, softmax and log_softmax are within 0.50 ULP in
    float32, in 5 and 9 passes. Compiled, or in float64, z is rounded and its exact rounding error r (TwoSum) is
    added back, e^{z + r} = e^z (1 + r): 2 ULP in float32, but inductor's float64 exp is slow (compiled softmax at
    16M: 1.18x torch this way, 2.91x in float64). r is NaN where z is infinite (-inf inputs, or x - m
    overflowing), and beyond +-1 only where |z| > 2^24 (2^53 in float64): there e^z is 0 and r is dropped."""
    m, i = x.max(dim, keepdim=True) if with_index else (x.amax(dim, keepdim=True), None)
    if x.dtype != torch.float64 and not torch.compiler.is_compiling():
        z = x.to(torch.float64).sub_(m.to(torch.float64))
        return torch.exp(z) if need_z else z.exp_(), z, m, i
    z, r = _two_sum(x, -m)
    e = torch.exp(z)
    return e.addcmul_(e, _finite_or_unused(r)), z, m, i


def _row_sum(e, dim):
    """Sum along dim accumulated in float64: one rounding instead of one per term."""
    return e.sum(dim, keepdim=True, dtype=torch.float64)


def _softmax(x, dim, out=_NO_OUT):
    e, _, _, _ = _exp_minus_max(x, dim, need_z=False)
    y = e.div_(_row_sum(e, dim).to(e.dtype))
    return y, y


def _softmax_backward(grad, y, dim, out=_NO_OUT):
    gy = grad * y
    return torch.sub(grad, gy.sum(dim, keepdim=True), out=_into(out[0], gy)).mul_(y)   # J^T g, J = diag(y) - y y^T


def _log_softmax(x, dim, out=_NO_OUT):
    # log sum e^z = log1p(rest), rest = the sum of the terms other than one maximum's e^0 = 1: a tiny rest keeps
    # its digits (log of a sum that holds the 1 would lose those below 2^-53)
    e, z, m, i = _exp_minus_max(x, dim, with_index=not torch.compiler.is_compiling())
    if i is not None:                               # eager: zero one maximum's term in place, one write per row
        rest = _row_sum(e.scatter_(dim, i, 0.0), dim)
    else:                                           # compiled: a scatter would copy all of e; a mask fuses into
        below = z < 0                               # the sum: the terms below the maximum, and its ties (z = 0)
        rest = _row_sum(torch.where(below, e, 0.0), dim) + ((~below).sum(dim, keepdim=True) - 1)
    y = z.sub_(torch.log1p(rest).to(z.dtype).add_(m - m))   # (+ m - m: a row holding +inf or NaN is NaN, as torch)
    return y, y


def _log_softmax_backward(grad, y, dim, out=_NO_OUT):
    e = torch.exp(y).mul_(grad.sum(dim, keepdim=True))
    return torch.sub(grad, e, out=_into(out[0], e))


def _gelu_erf(x, out=_NO_OUT):
    # x Phi(x) = x/2 erfc(-x/sqrt2): erfc keeps its relative accuracy in the left tail, where 1 + erf cancels
    # (torch's own gelu loses every digit below x = -5 that way)
    if torch.compiler.is_compiling() and x.dtype == torch.float32:
        big_phi, phi = _normal_cdf_pdf(x)           # (no erfc: see there)
        return x * big_phi, big_phi + x * phi
    t, r = _times_exactly(x, _MINUS_SQRT1_2)        # t = -x/sqrt2 and its rounding error r
    q = torch.mul(t, t).neg_().exp_()               # e^{-t^2} = sqrt(2 pi) phi(x)
    # erfc amplifies the relative error of t by 2t^2 (~100 at x = -10): correct to first order,
    # erfc(t + r) = erfc(t) - r (2/sqrt pi) e^{-t^2}
    big_phi = torch.special.erfc(t).sub_(r.mul_(q), alpha=_2_SQRTPI).mul_(0.5)
    y = torch.mul(x, big_phi, out=_into(out[0], t))
    return y, torch.add(big_phi, q.mul_(x), alpha=_1_SQRT2PI, out=_into(out[1], big_phi))    # Phi(x) + x phi(x)


_PHI_TAIL = 20.0            # Phi(-20) = 2.8e-89: beyond, Phi(-|x|) and phi(x) are 0 in float32
_EXP_TAYLOR = [1.0 / math.factorial(k) for k in range(5, -1, -1)]      # 1/5!, ..., 1/0!


def _erfcx_fit(degree=9):
    """Coefficients (highest degree first) of a polynomial in t = 1/(1 + z/2) that matches the scaled complementary
    error function erfcx(z) = e^{z^2} erfc(z) for z = |x|/sqrt2 <= 20/sqrt2 (t from 0.124 to 1): the least-squares
    fit of its relative error at 2000 Chebyshev points, against math.erfc in float64. Numerical Recipes (6.2.2)
    writes erfc(z) = t exp(-z^2 + P(t)); fitting t exp(P(t)) itself saves an exponential."""
    import numpy as np

    ends = (1.0 / (1.0 + _PHI_TAIL / math.sqrt(8.0)), 1.0)
    t = np.polynomial.chebyshev.chebpts1(2000) * (ends[1] - ends[0]) / 2 + sum(ends) / 2
    z = 2.0 / t - 2.0
    f = np.array([math.exp(v * v) * math.erfc(v) for v in z])
    fit = np.polynomial.Polynomial.fit(t, f, degree, w=1.0 / f).convert()
    return [float(c) for c in fit.coef[::-1]]


_ERFCX = _erfcx_fit()       # (6 ms at import; relative error 4.9e-8, 0.8 ULP: test_erfcx_fit)


def _normal_cdf_pdf(x):
    """Phi(x) and phi(x) of the standard normal distribution, in float32 arithmetic and one exp: what the compiled
    gelu computes, because inductor calls Sleef's erfc, which costs twice an exp (16M elements: 46.7 against 24.0
    ms, and 27.2 ms for eager's MKL erfc).

    Phi(-|x|) = erfcx(z) e^{-z^2} / 2, z = |x|/sqrt2, with erfcx a polynomial in t (see _erfcx_fit), and
    e^{-x^2/2} without rounding x^2 (that would cost |x^2| 2^-24 relative error, 200 ULP at x = -20): |x| = h + d,
    h = round(128|x|)/128, whose square is exact (12 significant bits), and e^{-x^2/2} = e^{-h^2/2} e^{-d(|x|+h)/2},
    the second factor by its Taylor polynomial (|d(|x|+h)/2| < 0.08). Compiled gelu is within 6.6 ULP in float32
    on [-10, 10] this way; it was within ~50 with eager's formula, whose rounding correction for -x/sqrt2 (the
    fused multiply-add of _times_exactly) inductor dropped."""
    ax = x.abs().clamp(max=_PHI_TAIL)
    t = 1.0 / (1.0 + ax * math.sqrt(0.125))        # 1 / (1 + z/2)
    h = torch.round(ax * 128.0) * (1.0 / 128.0)
    rest = (ax - h) * (ax + h) * -0.5               # -x^2/2 = -h^2/2 + rest
    e = torch.exp(h * h * -0.5) * _horner(rest, _EXP_TAYLOR)           # e^{-x^2/2}
    tail = _horner(t, _ERFCX) * e * 0.5                                # Phi(-|x|)
    return torch.where(x < 0, tail, 1.0 - tail), e * _1_SQRT2PI


def _gelu_tanh(x, out=_NO_OUT):
    # 0.5 x (1 + tanh u) = x sigma(2u), 2u = x (A + B x^2); x is clamped to +-100 where sigma(2u) is exactly
    # 0 or 1, so x^3 cannot overflow. sigma amplifies the relative error of its argument |2u|-fold (~90 at
    # x = -10): 2u is formed in float64, split into its rounding v and the rest r, and sigma(v + r) is taken as
    # sigma(v) + r sigma'(v) (see gelu).
    xc = x.clamp(-100.0, 100.0)
    xd = xc.to(torch.float64)
    exact = torch.addcmul(xd.new_full((), _GELU_TANH_A), xd, xd, value=_GELU_TANH_B).mul_(xd)
    if x.dtype != torch.float64 and not torch.compiler.is_compiling():
        # eager: e^{-|2u|/2} by one float64 exponential of the float64 2u (MKL's is cheap), rounded once: nothing
        # left to correct, 23 passes instead of 28 (2u has the sign of x)
        g = exact.abs_().mul_(-0.5).exp_().to(x.dtype)
        y, s, ds = _times_sigmoid(x, xc, out=(out[0], None, None), g=g)
    else:
        v = exact.to(x.dtype)
        r = (exact - v.to(torch.float64)).to(x.dtype)   # (0 in float64)
        y, s, ds = _times_sigmoid(x, v)
        xds = xc * ds                                   # (x * ds would be inf * 0 at x = +-inf)
        y = torch.addcmul(y, xds, r, out=_into(out[0], y))
    du = torch.addcmul(x.new_full((), _GELU_TANH_A), xc, xc, value=3.0 * _GELU_TANH_B).mul_(xc)   # x d(2u)/dx
    return y, torch.addcmul(s, ds, du, out=_into(out[1], s))


def _gelu_sigmoid(x, out=_NO_OUT):
    v, r = _times_exactly(x, _GELU_SIGMOID)                       # x sigma(1.702 x); v + r = 1.702 x
    y, s, ds = _times_sigmoid(x, v)
    xds = ds.mul_(_finite(x))
    # sigma(v + r) = sigma(v) + r sigma'(v): the rounding of v, amplified up to |v|-fold, corrected
    return (torch.addcmul(y, xds, r, out=_into(out[0], y)),
            torch.add(s, xds, alpha=_GELU_SIGMOID.float, out=_into(out[1], s)))


_GELU_FORMULAS = {"none": _gelu_erf, "tanh": _gelu_tanh, "sigmoid": _gelu_sigmoid}


def _swish(x, beta, want_beta=False, out=_NO_OUT):
    v, r = _times_exactly(x, beta)
    v.clamp_(-1e4, 1e4)                             # sigma(+-1e4) is already exactly 1 or 0; keeps v*ds finite
    y, s, ds = _times_sigmoid(x, v)
    xds = _finite(x).mul_(ds)
    y = torch.addcmul(y, xds, r, out=_into(out[0], y))     # first-order correction for the rounding of beta x
    dx = torch.addcmul(s, ds, v, out=_into(out[1], s))     # dy/dx = sigma(v) + v sigma'(v)
    if not want_beta:
        return y, dx
    return y, dx, torch.mul(x, xds, out=_into(out[2], xds))    # dy/dbeta = x^2 sigma'(beta x), ordered so: no overflow


def _silu(x, out=_NO_OUT):
    y, s, ds = _times_sigmoid(x, x, out=(out[0], None, None))
    return y, torch.addcmul(s, ds, x, out=_into(out[1], s))    # sigma(x) + x sigma'(x)


def _glu(x, dim, out=_NO_OUT):
    # a sigma(b), and the local derivatives d/da = sigma(b) and d/db = a sigma'(b) side by side in one tensor laid
    # out as x, so that the backward is one product (see _glu_backward)
    a, b = x.chunk(2, dim)
    slopes = out[1] if out[1] is not None else torch.empty_like(x)
    da, db = slopes.chunk(2, dim)
    y, s, ds = _times_sigmoid(a, b, out=(out[0], da, None))
    torch.mul(ds, a, out=db)
    return y, slopes


def _glu_pair(x, dim, out=_NO_OUT):
    # _glu for the compiled path, its two local derivatives as two tensors: a cat into one in the fused kernel
    # made compiled GLU at 16M 1.06x torch instead of 0.67x (2.0x instead of 1.4x in plain 4 KB pages)
    a, b = x.chunk(2, dim)
    y, s, ds = _times_sigmoid(a, b, out=(out[0], out[1], None))
    return y, s, torch.mul(ds, a, out=_into(out[2], ds))


def _glu_backward(grad, *slopes, dim, out=_NO_OUT):
    """grad times d/da and d/db, into the two halves of one tensor. Eager's slopes (one tensor laid out as the
    input): split in (2, half) along dim, times grad with a dimension of 1 there, one broadcast product, one pass
    (two products and a cat of them took three). The compiled path's two tensors: two products into the halves."""
    halves = lambda t: t.unflatten(dim, (2, grad.shape[dim]))
    if len(slopes) == 1:
        res = torch.mul(grad.unsqueeze(dim), halves(slopes[0]), out=None if out[0] is None else halves(out[0]))
        return res.flatten(dim, dim + 1) if out[0] is None else out[0]
    da, db = slopes
    torch.mul(grad, da, out=out[0].narrow(dim, 0, da.shape[dim]))
    torch.mul(grad, db, out=out[0].narrow(dim, da.shape[dim], db.shape[dim]))
    return out[0]


@cache
def _gated(formula):
    def gate(a, b, out=_NO_OUT):
        f, df = formula(a)                          # act(a) (at full precision), kept: it is d/db
        return torch.mul(f, b, out=out[0]), torch.mul(df, b, out=_into(out[1], df)), f    # act(a) b; d/da = act'(a) b
    gate.__name__ = gate.__qualname__ = f"gated{formula.__name__}"
    return gate


def _mul(a, b, out=_NO_OUT):
    return torch.mul(a, b, out=out[0])


# --------------------------------------------------------------------------------------------------------
# autograd Functions
# --------------------------------------------------------------------------------------------------------
class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _forward(ctx, _sigmoid, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _backward(ctx, grad)


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _forward(ctx, _tanh, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _backward(ctx, grad)


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _forward(ctx, _relu, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _backward(ctx, grad)


class LeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        return _forward(ctx, partial(_leaky_relu, slope=negative_slope), x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return *_backward(ctx, grad), None


class ELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, scale):
        return _forward(ctx, partial(_elu, alpha=alpha, scale=scale), x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return *_backward(ctx, grad), None, None


class Softplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        return _forward(ctx, partial(_softplus, beta=beta, threshold=threshold), x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return *_backward(ctx, grad), None, None


class GELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, approximate):
        return _forward(ctx, _GELU_FORMULAS[approximate], x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return *_backward(ctx, grad), None


class SiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _forward(ctx, _silu, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _backward(ctx, grad)


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        want_beta = ctx.needs_input_grad[1]
        if isinstance(beta, Tensor) and beta.numel() > 1:          # a per-channel beta: broadcast it
            y, dx, *dbeta = _chunked(partial(_swish, want_beta=want_beta), x, beta.expand_as(x))
        else:
            y, dx, *dbeta = _chunked(partial(_swish, beta=beta, want_beta=want_beta), x)
        ctx.beta_shape = beta.shape if isinstance(beta, Tensor) else None
        ctx.beta_dtype = beta.dtype if isinstance(beta, Tensor) else None
        ctx.save_for_backward(dx, *dbeta)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        dx, *dbeta = ctx.saved_tensors
        grad_x = _chain(grad, dx)
        grad_beta = None
        if dbeta:          # dL/dbeta = sum over the broadcast dimensions of grad * x^2 sigma'(beta x)
            grad_beta = (grad.to(dbeta[0].dtype) * dbeta[0]).sum_to_size(ctx.beta_shape).to(ctx.beta_dtype)
        return grad_x, grad_beta


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        y, saved = _chunked(_softmax, x, dim=dim, saved=ctx.needs_input_grad[0])
        ctx.save_for_backward(saved)
        ctx.dim, ctx.compile = dim, _COMPILE.get()
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return _in_mode(ctx, _softmax_backward, grad, y, dim=ctx.dim), None


class LogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        y, saved = _chunked(_log_softmax, x, dim=dim, saved=ctx.needs_input_grad[0])
        ctx.save_for_backward(saved)
        ctx.dim, ctx.compile = dim, _COMPILE.get()
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return _in_mode(ctx, _log_softmax_backward, grad, y, dim=ctx.dim), None


class GLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        formula = _glu if _COMPILE.get() is None else _glu_pair
        y, *slopes = _chunked(formula, x, dim=dim, saved=ctx.needs_input_grad[0])
        ctx.save_for_backward(*slopes)
        ctx.dim, ctx.compile = dim, _COMPILE.get()
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        if ctx.compile is None:
            return _chunked(_glu_backward, grad, *ctx.saved_tensors, dim=ctx.dim), None
        # compiled: the same two multiplications, not traced: there is nothing to fuse, and each way of writing
        # the two halves of one output that dynamo traces was slower at 16M elements (a cat, or a stack into it:
        # 60 ms against 34; copy_ into each half: 45, and 317 against 69 in plain 4 KB pages), while out= into a
        # half broke the graph
        shape = list(grad.shape)
        shape[ctx.dim] *= 2
        out = _new_output(grad, shape, grad.dtype)
        return _glu_backward(grad, *ctx.saved_tensors, dim=ctx.dim, out=(out,)), None


class GatedActivation(torch.autograd.Function):
    """act(a) * b for act = silu (SwiGLU) or gelu (GeGLU): two inputs, two gradients."""

    @staticmethod
    def forward(ctx, a, b, formula):
        return _forward(ctx, _gated(formula), a, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return *_backward(ctx, grad), None


# --------------------------------------------------------------------------------------------------------
# the public API, with torch's names and signatures
# --------------------------------------------------------------------------------------------------------
def sigmoid(x: Tensor) -> Tensor:
    r"""Logistic sigmoid.

    .. math::
        \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,\sigma(-x)

    Evaluated as :math:`e^{c} / (1 + e^{c})` with :math:`c = \min(x, 88)` (709 in float64), where
    :math:`\sigma` already rounds to 1: :math:`e^c` cannot overflow (unclamped, this form is
    :math:`\infty/\infty` = NaN for large :math:`x`), and where :math:`\sigma(x) \approx e^x` is tiny it keeps
    its full relative accuracy (1.64 ULP in float32; torch's own 2.21). Five passes; the two branches
    :math:`1/(1 + e^{-|x|})` and :math:`e^{-|x|}/(1 + e^{-|x|})` of chapter 02, which never exponentiate a positive
    number, took eleven.

    Args:
        x: input tensor of any shape (float16, bfloat16, float32 or float64).

    Reference:
        Rumelhart, Hinton & Williams, *Learning representations by back-propagating errors*, Nature 1986.
    """
    return Sigmoid.apply(_check(x, "sigmoid"))


def tanh(x: Tensor) -> Tensor:
    r"""Hyperbolic tangent.

    .. math::
        \tanh x = \frac{e^{2x} - 1}{e^{2x} + 1} = 2\sigma(2x) - 1, \qquad \tanh' x = 1 - \tanh^2 x

    Evaluated with ``expm1`` so that small inputs keep their relative accuracy, and in float64 (rounded once to
    the input's dtype): expm1, the addition and the division each round, 2.3 ULP if float32 evaluated them,
    0.50 ULP so, as accurate as torch's own ``tanh`` (0.52; ``benchmarks/bench_accuracy.py``).

    Args:
        x: input tensor of any shape.

    Reference:
        LeCun, Bottou, Orr & Mueller, *Efficient BackProp*, in Neural Networks: Tricks of the Trade, 1998.
    """
    return Tanh.apply(_check(x, "tanh"))


def relu(x: Tensor) -> Tensor:
    r"""Rectified linear unit.

    .. math::
        \mathrm{ReLU}(x) = \max(x, 0), \qquad \mathrm{ReLU}'(x) = [x > 0]

    Args:
        x: input tensor of any shape.

    Reference:
        Nair & Hinton, *Rectified Linear Units Improve Restricted Boltzmann Machines*, ICML 2010;
        Glorot, Bordes & Bengio, *Deep Sparse Rectifier Neural Networks*, AISTATS 2011.
    """
    return ReLU.apply(_check(x, "relu"))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    r"""Leaky ReLU.

    .. math::
        \mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ \gamma x & x \le 0 \end{cases}

    Args:
        x: input tensor of any shape.
        negative_slope: :math:`\gamma`, the slope for negative inputs. Default: 0.01.

    Reference:
        Maas, Hannun & Ng, *Rectifier Nonlinearities Improve Neural Network Acoustic Models*, ICML 2013.
    """
    return LeakyReLU.apply(_check(x, "leaky_relu"), float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    r"""Exponential linear unit.

    .. math::
        \mathrm{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0 \end{cases}

    Evaluated as :math:`\max(x,0) + \alpha\,\mathrm{expm1}(\min(x,0))`.

    Args:
        x: input tensor of any shape.
        alpha: :math:`\alpha`, the value ELU saturates to for :math:`x \to -\infty` is :math:`-\alpha`.
            Default: 1.0.

    Reference:
        Clevert, Unterthiner & Hochreiter, *Fast and Accurate Deep Network Learning by Exponential Linear
        Units (ELUs)*, ICLR 2016. https://arxiv.org/abs/1511.07289
    """
    return ELU.apply(_check(x, "elu"), float(alpha), 1.0)


def selu(x: Tensor) -> Tensor:
    r"""Scaled exponential linear unit.

    .. math::
        \mathrm{SELU}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0 \end{cases}

    with :math:`\alpha \approx 1.6733` and :math:`\lambda \approx 1.0507`, the fixed point that keeps zero
    mean and unit variance through the layers.

    Args:
        x: input tensor of any shape.

    Reference:
        Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*, NeurIPS 2017.
        https://arxiv.org/abs/1706.02515
    """
    return ELU.apply(_check(x, "selu"), _SELU_ALPHA, _SELU_SCALE)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    r"""Softplus, a smooth ReLU.

    .. math::
        \mathrm{Softplus}(x) = \frac{1}{\beta}\log\left(1 + e^{\beta x}\right)
        = \frac{1}{\beta}\left(\max(\beta x, 0) + \mathrm{log1p}\left(e^{-|\beta x|}\right)\right),
        \qquad \mathrm{Softplus}'(x) = \sigma(\beta x)

    As in torch, the function is the identity where :math:`\beta x > \text{threshold}`.

    Args:
        x: input tensor of any shape.
        beta: :math:`\beta`. Default: 1.0.
        threshold: above it (in :math:`\beta x`) the function returns :math:`x`. Default: 20.0.

    Reference:
        Dugas, Bengio, Belisle, Nadeau & Garcia, *Incorporating Second-Order Functional Knowledge for Better
        Option Pricing*, NeurIPS 2000.
    """
    if beta == 0:
        raise ValueError("actlab.softplus: beta must be non-zero")
    return Softplus.apply(_check(x, "softplus"), float(beta), float(threshold))


def softmax(x: Tensor, dim: int, dtype: torch.dtype | None = None) -> Tensor:
    r"""Softmax along ``dim``.

    .. math::
        \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j, \qquad
        \frac{\partial y_i}{\partial x_j} = y_i(\delta_{ij} - y_j)

    Eager, below float64, :math:`x_i - m` and everything after it are computed in float64 and rounded once
    (0.50 ULP in float32; see ``_exp_minus_max``).

    Args:
        x: input tensor.
        dim: the dimension along which the outputs sum to 1.
        dtype: if given, ``x`` is cast to it first (as in torch). Default: None.

    Reference:
        Bridle, *Probabilistic Interpretation of Feedforward Classification Network Outputs*, 1990;
        Goodfellow, Bengio & Courville, *Deep Learning*, section 6.2.2.3.
    """
    x = _check(x if dtype is None else x.to(dtype), "softmax")
    dim = _check_dim(x, dim, "softmax")
    return Softmax.apply(x, dim) if x.numel() else x.clone()


def log_softmax(x: Tensor, dim: int, dtype: torch.dtype | None = None) -> Tensor:
    r"""Logarithm of the softmax along ``dim``.

    .. math::
        \log\mathrm{softmax}(x)_i = (x_i - m) - \mathrm{log1p}\Big(\sum_{j \ne k} e^{x_j - m}\Big),
        \quad m = x_k = \max_j x_j

    The maximum's own term (exactly 1) is taken out of the sum so that ``log1p`` keeps a tiny remainder.

    Args:
        x: input tensor.
        dim: the dimension to normalise over.
        dtype: if given, ``x`` is cast to it first (as in torch). Default: None.

    Reference:
        Blanchard, Higham & Higham, *Accurately computing the log-sum-exp and softmax functions*,
        IMA Journal of Numerical Analysis, 2021.
    """
    x = _check(x if dtype is None else x.to(dtype), "log_softmax")
    dim = _check_dim(x, dim, "log_softmax")
    return LogSoftmax.apply(x, dim) if x.numel() else x.clone()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    r"""Gaussian error linear unit.

    .. math::
        \mathrm{GELU}(x) = x\,\Phi(x) = \tfrac{x}{2}\,\mathrm{erfc}\!\left(-\tfrac{x}{\sqrt 2}\right)

    ``approximate="tanh"``: :math:`\tfrac{x}{2}\bigl(1 + \tanh u\bigr) = x\,\sigma(2u)`,
    :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`; ``approximate="sigmoid"``: :math:`x\,\sigma(1.702\,x)`.

    Numerics: in the left tail all three are a tiny number times an exponential of a rounded argument, whose
    relative error the exponential multiplies by :math:`x^2` (about 100 at :math:`x=-10`). The exact form
    corrects the erfc argument's rounding error to first order; the tanh form forms its argument in float64 and
    corrects the sigmoid to first order for the rest. In float32 on [-10, 10] the exact form stays within 2.2 ULP
    and the tanh form within 3.9 (``benchmarks/bench_accuracy.py``).

    Args:
        x: input tensor of any shape.
        approximate: ``"none"`` (exact), ``"tanh"`` or ``"sigmoid"``. Default: ``"none"``.

    Reference:
        Hendrycks & Gimpel, *Gaussian Error Linear Units (GELUs)*, 2016. https://arxiv.org/abs/1606.08415
    """
    return GELU.apply(_check(x, "gelu"), _check_gelu_form(approximate))


def silu(x: Tensor) -> Tensor:
    r"""Sigmoid linear unit (Swish with :math:`\beta = 1`).

    .. math::
        \mathrm{SiLU}(x) = x\,\sigma(x), \qquad \mathrm{SiLU}'(x) = \sigma(x) + x\,\sigma(x)\,\sigma(-x)

    Args:
        x: input tensor of any shape.

    Reference:
        Elfwing, Uchibe & Doya, *Sigmoid-Weighted Linear Units for Neural Network Function Approximation in
        Reinforcement Learning*, 2017. https://arxiv.org/abs/1702.03118
    """
    return SiLU.apply(_check(x, "silu"))


def swish(x: Tensor, beta: float | Tensor = 1.0) -> Tensor:
    r"""Swish with a scale :math:`\beta` (a number, or a tensor that may be learned).

    .. math::
        \mathrm{Swish}_\beta(x) = x\,\sigma(\beta x), \qquad
        \frac{\partial}{\partial x} = \sigma(\beta x) + \beta x\,\sigma'(\beta x), \qquad
        \frac{\partial}{\partial \beta} = x^2\,\sigma'(\beta x)

    Args:
        x: input tensor of any shape.
        beta: :math:`\beta`, a float or a tensor broadcastable to ``x`` (its gradient is computed when it
            requires grad). Default: 1.0.

    Reference:
        Ramachandran, Zoph & Le, *Searching for Activation Functions*, 2017. https://arxiv.org/abs/1710.05941
    """
    _check(x, "swish")
    if isinstance(beta, Tensor):
        _check(beta, "swish")
        try:
            fits = torch.broadcast_shapes(beta.shape, x.shape) == x.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"actlab.swish: beta of shape {tuple(beta.shape)} does not broadcast to the input "
                             f"shape {tuple(x.shape)}")
    else:
        beta = float(beta)
    return Swish.apply(x, beta)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    r"""Gated linear unit: split ``x`` in two halves along ``dim`` and gate the first by the second.

    .. math::
        \mathrm{GLU}(a, b) = a \otimes \sigma(b), \qquad x = [a;\, b]

    Args:
        x: input tensor; its size along ``dim`` must be even.
        dim: the dimension to split. Default: -1.

    Reference:
        Dauphin, Fan, Auli & Grangier, *Language Modeling with Gated Convolutional Networks*, ICML 2017.
        https://arxiv.org/abs/1612.08083
    """
    _check(x, "glu")
    if x.dim() == 0:
        raise ValueError("actlab.glu: a 0-d tensor cannot be split in two halves")
    dim = _check_dim(x, dim, "glu")
    if x.shape[dim] % 2:
        raise ValueError(f"actlab.glu: the size along dim {dim} must be even to split it in two halves, "
                         f"got {x.shape[dim]}")
    return GLU.apply(x, dim)


def _triton():
    """The fused Triton GLU kernels, when they can run; None otherwise (then the torch path is used)."""
    if os.environ.get("ACTLAB_DISABLE_TRITON", "") not in ("", "0") or torch.compiler.is_compiling():
        return None
    try:
        from actlab import triton_glu
    except ImportError:
        return None
    return triton_glu if triton_glu.is_available() else None


def swiglu(a: Tensor, b: Tensor) -> Tensor:
    r"""SwiGLU gate: SiLU of the gate input times the value input.

    .. math::
        \mathrm{SwiGLU}(a, b) = \mathrm{SiLU}(a) \otimes b = a\,\sigma(a) \otimes b,
        \qquad a = xW,\; b = xV

    On CUDA the fused Triton kernel of :mod:`actlab.triton_glu` is used when it is available
    (set ``ACTLAB_DISABLE_TRITON=1`` to force the torch path).

    Args:
        a: gate input (the pre-activation that goes through SiLU).
        b: value input, same shape, dtype and device as ``a``.

    Reference:
        Shazeer, *GLU Variants Improve Transformer*, 2020. https://arxiv.org/abs/2002.05202
    """
    _check_pair(a, b, "swiglu")
    if a.is_cuda and (kernels := _triton()) is not None:
        return kernels.swiglu(a, b)
    return GatedActivation.apply(a, b, _silu)


def geglu(a: Tensor, b: Tensor, approximate: str = "none") -> Tensor:
    r"""GeGLU gate: GELU of the gate input times the value input.

    .. math::
        \mathrm{GeGLU}(a, b) = \mathrm{GELU}(a) \otimes b, \qquad a = xW,\; b = xV

    On CUDA the fused Triton kernel of :mod:`actlab.triton_glu` is used when it is available
    (set ``ACTLAB_DISABLE_TRITON=1`` to force the torch path).

    Args:
        a: gate input (the pre-activation that goes through GELU).
        b: value input, same shape, dtype and device as ``a``.
        approximate: the GELU form, ``"none"``, ``"tanh"`` or ``"sigmoid"`` (see :func:`gelu`).

    Reference:
        Shazeer, *GLU Variants Improve Transformer*, 2020. https://arxiv.org/abs/2002.05202
    """
    _check_pair(a, b, "geglu")
    _check_gelu_form(approximate, "geglu")
    if a.is_cuda and (kernels := _triton()) is not None:
        return kernels.geglu(a, b, approximate)
    return GatedActivation.apply(a, b, _GELU_FORMULAS[approximate])


# --------------------------------------------------------------------------------------------------------
# the opt-in compiled path
# --------------------------------------------------------------------------------------------------------
_COMPILE = contextvars.ContextVar("actlab_compile", default=None)   # torch.compile options while compiled
_COMPILED_FORMULAS = {}


def _fix_inductor_expm1():
    """Inductor's CPU vector code computes expm1(x) as exp(x) - 1 (pytorch/pytorch#189803), which returns 0 for
    |x| < 6e-8 and so breaks tanh, ELU and SELU near 0 (16 million ULP). Emit ATen's ``Vectorized::expm1``
    instead, as eager code does and as the upstream fix (pytorch/pytorch#190533) does; only if this torch still
    has the bug. Returns whether it did (then inductor's graph cache, whose keys do not see this change and may
    hold kernels compiled with the bug, is not used for actlab's formulas)."""
    try:
        import inspect

        from torch._inductor.codegen.cpp import CppVecOverrides
    except ImportError:
        return False
    if getattr(CppVecOverrides.expm1, "_actlab_fix", False):
        return True
    if ".exp() - " not in inspect.getsource(CppVecOverrides.expm1):
        return False

    def expm1(x):
        return f"{x}.expm1()"

    expm1._actlab_fix = True
    CppVecOverrides.expm1 = staticmethod(expm1)
    return True


_CONVERT = {   # (vector bits, from, to) -> C++ for one Vectorized<float> <-> VectorizedN<double, 2>, by intrinsics
    (512, "float", "double"): "[](at::vec::Vectorized<float> v) {{ __m512 w = v; return at::vec::VectorizedN<double,2>("
        "_mm512_cvtps_pd(_mm512_castps512_ps256(w)), "
        "_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1)))); }}({x})",
    (512, "double", "float"): "[](const at::vec::VectorizedN<double,2>& v) {{ return at::vec::Vectorized<float>("
        "_mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(v[0]))), "
        "_mm256_castps_pd(_mm512_cvtpd_ps(v[1])), 1))); }}({x})",
    (256, "float", "double"): "[](at::vec::Vectorized<float> v) {{ __m256 w = v; return at::vec::VectorizedN<double,2>("
        "_mm256_cvtps_pd(_mm256_castps256_ps128(w)), _mm256_cvtps_pd(_mm256_extractf128_ps(w, 1))); }}({x})",
    (256, "double", "float"): "[](const at::vec::VectorizedN<double,2>& v) {{ return at::vec::Vectorized<float>("
        "_mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(v[0])), _mm256_cvtpd_ps(v[1]), 1)); }}({x})",
}


def _fast_inductor_converts():
    """Inductor's x86 vector code converts float32 to float64 and back with ATen's generic ``VecConvert``, which
    goes element by element through memory: at 16M elements a compiled ``x.double().mul(2).float()`` took 42-48 ms
    here, against 26-30 ms for ``x.mul(2)``, and the GELU tanh form's forward (four conversions) 76-83 ms against
    51-52 ms with the conversions below (three runs each way). Emit the vector conversion instructions instead
    (``vcvtps2pd``/``vcvtpd2ps``: the same rounding as the scalar cast, so the same results). Only for kernels
    whose float32 vector is one AVX2 or AVX-512 register; everything else as inductor writes it. Affects every
    torch.compile in the process, from the first compiled actlab call on (``tests/test_functional.py::
    test_fast_inductor_converts`` checks the code and the bits). Returns whether the conversions are patched."""
    try:
        from torch._inductor import cpu_vec_isa
        from torch._inductor.codegen.cpp import CppVecKernel
    except ImportError:
        return False
    original = getattr(CppVecKernel, "get_to_dtype_expr", None)    # (another torch may name it otherwise)
    if original is None or getattr(original, "_actlab_fix", False):
        return original is not None
    names = {torch.float32: "float", torch.float64: "double"}

    def get_to_dtype_expr(self, src, dtype, src_dtype, rounding=False):
        isa = cpu_vec_isa.pick_vec_isa()
        bits = isa.bit_width() if isinstance(isa, (cpu_vec_isa.VecAVX512, cpu_vec_isa.VecAVX2)) else 0
        code = _CONVERT.get((bits, names.get(src_dtype), names.get(dtype)))
        if (code and getattr(src, "is_vec", False) and self._get_num_vectors(torch.float32) == 1
                and self._get_num_vectors(torch.float64) == 2):
            return code.format(x=src)
        return original(self, src, dtype, src_dtype, rounding)

    get_to_dtype_expr._actlab_fix = True
    CppVecKernel.get_to_dtype_expr = get_to_dtype_expr
    return True


def _compile(fn, options, part):
    """torch.compile of a part of a formula (see _part), cached. "value", "grads" and "slope" (the kernels of a
    compiled elementwise Function) bind the formula's keyword parameters (partial) as constants: one compilation
    per parameter value. "into" passes them through (a tensor beta of Swish, a dim)."""
    base, bound = (fn.func, fn.keywords) if isinstance(fn, partial) else (fn, {})
    constants = part != "into"
    key = (base, part, tuple(sorted(bound.items())) if constants else (), _frozen(options))
    if key not in _COMPILED_FORMULAS:
        patched = _fix_inductor_expm1()
        if os.environ.get("ACTLAB_FAST_CONVERTS", "1") != "0":
            patched = _fast_inductor_converts() or patched
        # inductor's graph cache does not key on these patches: a kernel it kept from a process without them
        # could come back (with the expm1 bug, or the slow conversions)
        if patched and options.get("backend", "inductor") == "inductor":
            options = _without_graph_cache(options)
        _COMPILED_FORMULAS[key] = torch.compile(_part(fn if constants else base, part), **options)
    return partial(_COMPILED_FORMULAS[key], **bound) if bound and not constants else _COMPILED_FORMULAS[key]


def _frozen(value):
    """torch.compile's keyword arguments as a dictionary key (inductor's ``options`` are a dict themselves, and
    may hold lists)."""
    if isinstance(value, dict):
        return tuple(sorted(((k, _frozen(v)) for k, v in value.items()), key=str))
    return tuple(map(_frozen, value)) if isinstance(value, (list, tuple)) else value


def _without_graph_cache(options):
    """torch.compile's keyword arguments with inductor's ``fx_graph_cache`` off. torch.compile takes a mode or
    inductor options, not both: a mode becomes the options it stands for (``list_mode_options``, as torch.compile
    itself applies it). Both given are passed on as they are, for torch.compile to refuse."""
    if "mode" in options and "options" in options:
        return options
    from torch._inductor import list_mode_options

    options = dict(options)
    mode = options.pop("mode", None)
    implied = list_mode_options(mode, options.get("dynamic")) if mode else {}
    options["options"] = {**implied, "fx_graph_cache": False, **options.get("options", {})}
    return options


def _part(formula, part):
    """What a compiled elementwise Function runs, as a function of its own (a fresh code object: dynamo keeps
    its compiled graphs, and counts recompilations, per code object). "value": the formula's value alone;
    "grads": the incoming gradient times each local derivative, recomputed from the inputs; "slope": the same
    from the value (see _SLOPE_FROM_VALUE); "into": the whole formula (see _compiled_into_outputs). The first three
    take the compute dtype, convert inside the kernel and round the results once to the dtype of their outputs;
    the compiler drops the part of the formula not used. All write their results into ``out`` (given by the
    caller, see _new_output): the kernel stores straight into it."""
    def value(x, *tensors, compute, out):
        return out.copy_(formula(x.to(compute), *(t.to(compute) for t in tensors))[0])

    def grads(grad, *tensors, compute, out):
        g, tensors = grad.to(compute), [t.to(compute) for t in tensors]
        slopes = (_from_value(formula)[1](*tensors),) if part == "slope" else formula(*tensors)[1:]
        return tuple(o.copy_(g * d) for o, d in zip(out, slopes))

    def into(*tensors, out, **kw):
        res = formula(*tensors, out=(*out, None, None, None)[:3], **kw)
        return tuple(o if r is o else o.copy_(r)
                     for o, r in zip(out, res if isinstance(res, tuple) else (res,)) if o is not None)

    fn = {"value": value, "into": into}.get(part, grads)
    name = f"{getattr(formula, 'func', formula).__name__}_{part}"
    return types.FunctionType(fn.__code__.replace(co_name=name, co_qualname=name), fn.__globals__, name,
                              None, fn.__closure__)


class _Compiled:
    """An activation whose formulas run through torch.compile (see :func:`compiled`)."""

    def __init__(self, name, options):
        self.fn, self.options, self.__name__ = globals()[name], options, f"compiled_{name}"

    def __call__(self, *args, **kwargs):
        token = _COMPILE.set(self.options)
        try:
            return self.fn(*args, **kwargs)
        finally:
            _COMPILE.reset(token)


def compiled(name: str, **compile_kwargs):
    """The activation ``name`` (e.g. ``"gelu"``) with its formulas compiled by ``torch.compile``. Opt-in; the
    first call of each formula, shape and parameter value compiles (seconds). ``compile_kwargs`` go to
    ``torch.compile``.

    The same formulas, traced into fused kernels instead of chains of eager operations. The elementwise
    functions (and SwiGLU/GeGLU) also save differently: the forward kernel writes y alone and the backward kernel
    recomputes the local derivatives from the saved inputs (tanh, ReLU and LeakyReLU with a slope >= 0: from the
    saved y, as eager does), multiplied by the incoming gradient, so that each pass moves as many bytes as torch's
    own kernels. The softmax family, Swish and GLU compile their forward and backward formulas as they are, except
    GLU's backward: two multiplications into the halves of one output, run uncompiled (see ``GLU.backward``). Every
    kernel writes its results into tensors allocated by actlab (``_new_output``: huge pages for 32 MB and more).

    A few formulas branch on ``torch.compiler.is_compiling()`` where the two ways of computing differ in cost: in
    a fused kernel a select (``torch.where``) is one instruction, while a clamp or maximum also checks for NaN
    (``_step``, ``_one_if_positive``, ELU), and Sleef's ``expm1`` and ``erfc`` are slow (``_expm1_compiled`` for ELU
    and SELU, ``_tanh_by_continued_fraction``, and ``_normal_cdf_pdf`` for exact GELU); eager, the arithmetic forms
    and MKL's functions are the faster passes, and the GELU tanh form takes a float64 exponential instead of a
    correction.
    And inductor computes a product once and reuses it, which turns the fused multiply-add that gives a product's
    rounding error into 0: compiled, ``_times_exactly`` forms the product in float64. Both ways agree to rounding
    (``test_compiled_path_matches_eager``).

    On first use, inductor's CPU code generation gets two fixes: its expm1 bug (see ``_fix_inductor_expm1``) and
    its slow float32 <-> float64 conversions (``_fast_inductor_converts``; ``ACTLAB_FAST_CONVERTS=0`` in the
    environment leaves them as they are). Inductor's graph cache, whose keys do not see them, is then off for
    these formulas (a ``mode`` is passed on as the inductor options it stands for; see ``_without_graph_cache``).
    Compiled ``gelu`` is within 6.6 ULP in float32 on [-10, 10] (bench_accuracy; eager: 2.2).

    >>> fast_gelu = compiled("gelu")
    >>> y = fast_gelu(torch.randn(1024, requires_grad=True))
    """
    if name not in __all__ or name in ("compiled", "CHUNK", "ONE_PIECE"):
        raise ValueError(f"actlab.functional.compiled: unknown activation {name!r}")
    return _Compiled(name, compile_kwargs)
