"""Accuracy of actlab against 40-digit mpmath references, in ULPs (actlab.numerics), and against torch's own.

Targets (issue 2): float32 <= 4 ULP for sigmoid, tanh, silu, elu, selu, softplus, softmax and log_softmax over
the standard sweep; <= 64 ULP for gelu (exact and tanh forms) on [-10, 10], finite and correctly signed beyond;
no NaN/Inf for finite inputs in any dtype; every function at least as accurate as torch's own.
"""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import actlab
from actlab import numerics as N

F32 = torch.float32
OURS = {
    "sigmoid": actlab.sigmoid, "tanh": actlab.tanh, "silu": actlab.silu, "elu": actlab.elu, "selu": actlab.selu,
    "softplus": actlab.softplus, "softmax": lambda x: actlab.softmax(x, -1),
    "log_softmax": lambda x: actlab.log_softmax(x, -1), "gelu": actlab.gelu,
    "gelu_tanh": lambda x: actlab.gelu(x, "tanh"), "gelu_sigmoid": lambda x: actlab.gelu(x, "sigmoid"),
    "relu": actlab.relu, "leaky_relu": actlab.leaky_relu, "swish": lambda x: actlab.swish(x, 1.0),
    "glu": lambda x: actlab.glu(x, -1),
}
TORCH = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": F.silu, "elu": F.elu, "selu": F.selu,
    "softplus": F.softplus, "softmax": lambda x: F.softmax(x, -1), "log_softmax": lambda x: F.log_softmax(x, -1),
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu,
    "leaky_relu": F.leaky_relu, "glu": lambda x: F.glu(x, -1),
}
FOUR_ULP = ["sigmoid", "tanh", "silu", "elu", "selu", "softplus", "softmax", "log_softmax"]


def gelu_range():
    x = N.sweep(F32, n_dense=40001, lo=-10, hi=10)
    return x[np.abs(x) <= 10]


# ------------------------------------------------------------------------------------------ the targets
@pytest.mark.parametrize("name", FOUR_ULP)
def test_float32_within_4_ulp_over_the_sweep(name):
    err, where = N.max_ulp(name, OURS[name], F32)
    assert err <= 4.0, f"{name}: {err:.2f} ULP at {where}"


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh"])
def test_gelu_float32_on_minus10_10(name):
    err, where = N.max_ulp(name, OURS[name], F32, x=gelu_range())
    assert err <= 64.0, f"{name}: {err:.2f} ULP at {where}"
    assert err <= 4.0, f"{name}: {err:.2f} ULP at {where} (the docstring promises a few ULP)"


def on_cuda(fn):
    return lambda *xs: fn(*(x.cuda() for x in xs)).cpu()


@pytest.mark.cuda
@pytest.mark.parametrize("name", FOUR_ULP + ["gelu", "gelu_tanh"])
def test_float32_accuracy_on_cuda(name):
    """The targets on a CUDA GPU (its exp, log1p and erfc are CUDA's, not the CPU's): 4 ULP over the sweep; GELU on
    [-10, 10] within 4 (tanh form) and 8 (exact: the issue asks 64), and within 64 beyond."""
    err, where = N.max_ulp(name, on_cuda(OURS[name]), F32, x=gelu_range() if name.startswith("gelu") else None)
    # the exact GELU: CUDA's erfcf is within 4 ULP (the CPU's 1), so 5.44 on an H100, within the 64
    assert err <= (8.0 if name == "gelu" else 4.0), f"{name} on CUDA: {err:.2f} ULP at {where}"
    if name.startswith("gelu"):
        err, where = N.max_ulp(name, on_cuda(OURS[name]), F32)
        assert err <= 64.0, f"{name} on CUDA: {err:.2f} ULP at {where}"


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "elu", "selu", "softplus", "softmax", "log_softmax",
                                  "gelu", "gelu_tanh", "relu", "leaky_relu", "glu"])
def test_at_least_as_accurate_as_torch_on_cuda(name):
    """test_at_least_as_accurate_as_torch on a CUDA GPU, against torch's CUDA kernels (sigmoid was 2.65 ULP there
    against torch's 2.38, before functional._exp)."""
    x = gelu_range() if name.startswith("gelu") else None
    ours, where = N.max_ulp(name, on_cuda(OURS[name]), F32, x=x)
    theirs, _ = N.max_ulp(name, on_cuda(TORCH[name]), F32, x=x)
    assert ours <= theirs + 0.05, f"{name} on CUDA: actlab {ours:.2f} ULP (at {where}) vs torch {theirs:.2f} ULP"


@pytest.mark.parametrize("name", ["sigmoid", "silu", "swish", "glu"])
def test_exponential_in_float64(monkeypatch, name):
    """The float64 exponential that _sigmoid and _times_sigmoid take on CUDA (functional._exp; with CUDA's
    expf SiLU was 4.13 ULP on an H100, and sigmoid 2.65 against torch's 2.38), run here on the CPU: it changes
    the results, and they stay within 4 ULP and at least as accurate as torch's. (The rest of these formulas is
    IEEE arithmetic, rounded alike on both devices: SiLU was 3.82 on the H100 with it, as here.)"""
    from actlab import functional as AF

    params = {"beta": 1.5} if name == "swish" else {}
    ours = (lambda x: actlab.swish(x, 1.5)) if name == "swish" else OURS[name]
    theirs = (lambda x: x * torch.sigmoid(1.5 * x)) if name == "swish" else TORCH[name]
    x = torch.from_numpy(N.softmax_rows(F32) if name == "glu" else N.sweep(F32)).float()
    y32 = ours(x)
    monkeypatch.setattr(AF, "_EXP_IN_FLOAT64", {"cpu", "cuda"})
    y64, (err, where) = ours(x), N.max_ulp(name, ours, F32, **params)
    assert not torch.equal(y32, y64), "the float64 exponential was not taken"
    assert err <= 4.0, f"{name}: {err:.2f} ULP at {where}"
    assert err <= N.max_ulp(name, theirs, F32, **params)[0], f"{name}: {err:.2f} ULP, less accurate than torch"


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "gelu_sigmoid"])
def test_gelu_finite_and_correctly_signed_beyond(name):
    x = N.sweep(F32)
    y = OURS[name](torch.from_numpy(x).float()).double().numpy()
    assert np.isfinite(y).all()
    assert (np.sign(y) * np.sign(x) >= 0).all(), "wrong sign"
    if name != "gelu_sigmoid":   # the exact and tanh forms stay accurate (in ULP) beyond [-10, 10] too
        err, where = N.max_ulp(name, OURS[name], F32)
        assert err <= 64.0, f"{name}: {err:.2f} ULP at {where}"


def test_torch_gelu_loses_every_digit_in_the_negative_tail():
    """What numerics.py documents: torch's x/2 (1 + erf(x/sqrt2)) cancels for x < -5; erfc does not."""
    x = N.sweep(F32, n_dense=2001, lo=-6, hi=-5.5)
    x = x[(x >= -6) & (x <= -5.5)]
    ref = N.reference("gelu", x)
    got_torch = F.gelu(torch.from_numpy(x).float()).double().numpy()
    rel = np.abs(got_torch - ref) / np.abs(ref)
    assert rel.max() > 0.5, "torch's gelu became accurate in the tail: update numerics.py"
    assert N.max_ulp("gelu", F.gelu, F32, x=x)[0] > 1e6
    assert N.max_ulp("gelu", actlab.gelu, F32, x=x)[0] <= 4.0
    # documented in numerics.py: -0.0 at x = -6, where the true value is -5.9e-9
    assert float(F.gelu(torch.tensor(-6.0))) == 0.0
    assert N.reference("gelu", np.array([-6.0]))[0] == pytest.approx(-5.9195e-9, rel=1e-4)
    assert float(actlab.gelu(torch.tensor(-6.0))) == pytest.approx(-5.9195e-9, rel=1e-6)


# ------------------------------------------------------------------------------------------ against torch
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "elu", "selu", "softplus", "softmax", "log_softmax",
                                  "gelu", "gelu_tanh", "relu", "leaky_relu", "glu"])
def test_at_least_as_accurate_as_torch(name):
    x = gelu_range() if name.startswith("gelu") else None
    ours, where = N.max_ulp(name, OURS[name], F32, x=x)
    theirs, _ = N.max_ulp(name, TORCH[name], F32, x=x)
    assert ours <= theirs + 0.05, f"{name}: actlab {ours:.2f} ULP (at {where}) vs torch {theirs:.2f} ULP"


def test_tanh_is_correctly_rounded_in_float32():
    """torch calls a libm-quality tanh (0.52 ULP on the sweep); expm1, an addition and a division evaluated in
    float32 round three times (2.3 ULP), so actlab evaluates them in float64 and rounds once."""
    assert N.max_ulp("tanh", OURS["tanh"], F32)[0] <= 0.501


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_is_correctly_rounded_in_float32(name):
    """Eager, x - m and everything after it are computed in float64 and rounded once (functional._exp_minus_max):
    0.50 ULP, where float32 with a TwoSum correction reached 2.01 (softmax) and 1.11 (log_softmax)."""
    assert N.max_ulp(name, OURS[name], F32)[0] <= 0.501


# ------------------------------------------------------------------------------------------ half precision
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", FOUR_ULP + ["gelu", "gelu_tanh", "swish", "glu"])
def test_half_precision_is_correctly_rounded(name, dtype):
    """Computed in float32 and rounded once: within half a ULP of the true value (plus float32's few ULP)."""
    err, where = N.max_ulp(name, OURS[name], dtype)
    assert err <= 0.51, f"{name}: {err:.3f} ULP at {where}"


# ------------------------------------------------------------------------------------------ no NaN, no Inf
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, F32, torch.float64], ids=str)
@pytest.mark.parametrize("name", list(OURS))
def test_no_nan_inf_or_warning_for_finite_inputs(name, dtype):
    x = torch.from_numpy(N.softmax_rows(dtype) if name in N.ROWWISE else N.sweep(dtype)).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = OURS[name](x)
    in_range = torch.isfinite(TORCH.get(name, OURS[name])(x.double()).to(dtype))
    assert torch.isfinite(y[in_range]).all(), f"{name}: {x[~torch.isfinite(y) & in_range][:5]}"


# ------------------------------------------------------------------------------------------ the tools themselves
def test_erfcx_fit():
    """The polynomial behind compiled gelu (functional._ERFCX) matches erfcx(z) = e^{z^2} erfc(z) to within 1 ULP
    of float32 over its whole range (measured 4.9e-8 relative, at points other than the fit's, in float64); a
    degree less is 12x worse (5.7e-7)."""
    from actlab import functional as AF

    x = np.linspace(0.0, AF._PHI_TAIL, 20011)[1:]
    z = x / math.sqrt(2.0)
    ref = np.array([math.exp(v * v) * math.erfc(v) for v in z])
    fit = lambda c: np.polyval(c, 1.0 / (1.0 + z / 2.0))
    assert np.abs(fit(AF._ERFCX) / ref - 1).max() < 2**-24
    assert np.abs(fit(AF._erfcx_fit(8)) / ref - 1).max() > 2e-7


def test_normal_cdf_pdf_in_float32():
    """functional._normal_cdf_pdf (compiled gelu's Phi and phi, one exp and no erfc) in float32 against float64:
    within 8 ULP on [-20, 20] (measured: Phi 5.86, near x = -0.07, where the polynomial's rounding errors add up;
    phi 3.37), relative (Phi(-20) = 2.8e-89 underflows: there within the smallest normal)."""
    from actlab import functional as AF

    x = torch.linspace(-20.0, 20.0, 400001).double()           # float32 points
    cdf, pdf = AF._normal_cdf_pdf(x.float())
    ref_cdf = 0.5 * torch.special.erfc(-x / math.sqrt(2.0))      # (float64 ndtr is 0 at x = -8.4)
    ref_pdf = torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    for got, ref in ((cdf, ref_cdf), (pdf, ref_pdf)):
        err = N.ulp_error(got.double().numpy(), ref.numpy(), F32)
        assert err.max() <= 8, (err.max(), x[int(err.argmax())].item())


def test_ulp_error_rules():
    one = np.float32(1.0)
    up = np.nextafter(one, np.float32(2))
    assert N.ulp_error(np.array([up], np.float64), np.array([1.0]), F32)[0] == 1.0
    assert N.ulp_error(np.array([1.0]), np.array([1.0]), F32)[0] == 0.0
    tiny = float(torch.finfo(F32).tiny)
    # underflow: |ref| below the smallest normal -> absolute error up to tiny counts as exact
    assert N.ulp_error(np.array([0.0]), np.array([tiny / 3]), F32)[0] == 0.0
    assert N.ulp_error(np.array([3 * tiny]), np.array([tiny / 3]), F32)[0] > 1e6
    # overflow: the true value beyond the range -> an infinity of the same sign is right
    assert N.ulp_error(np.array([np.inf]), np.array([1e39]), F32)[0] == 0.0
    # ... but between max and max + ULP(max)/2 the right answer is max
    fmax = float(torch.finfo(F32).max)
    assert N.ulp_error(np.array([fmax]), np.array([fmax * (1 + 2 ** -26)]), F32)[0] < 0.5
    assert N.ulp_error(np.array([-np.inf]), np.array([1e39]), F32)[0] == np.inf
    assert N.ulp_error(np.array([np.nan]), np.array([1.0]), F32)[0] == np.inf
    assert N.ulp_error(np.array([np.nan]), np.array([np.nan]), F32)[0] == 0.0
    # the ULP of a float16 value near 1 is 2^-10
    assert N.ulp_error(np.array([1.0 + 2 ** -10]), np.array([1.0]), torch.float16)[0] == 1.0


def test_references_against_independent_values():
    x = np.array([-10.0, -1.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(N.reference("gelu", x), 0.5 * x * np.array([math.erfc(-v / math.sqrt(2)) for v in x]),
                               rtol=1e-14)
    np.testing.assert_allclose(N.reference("sigmoid", x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(N.reference("tanh", x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(N.reference("softmax", x[None]), np.exp(x - np.log(np.exp(x).sum()))[None],
                               rtol=1e-14)
    assert N.reference("selu", np.array([1.0]))[0] == pytest.approx(1.0507009873554805, rel=1e-15)
    a, b = np.array([0.5, -2.0]), np.array([2.0, 3.0])
    np.testing.assert_allclose(N.reference("swiglu", (a, b)), a / (1 + np.exp(-a)) * b, rtol=1e-15)
    # the max element of log_softmax with a tiny remainder: -log1p(e^-90) = -e^-90, needs the grouping
    assert N.reference("log_softmax", np.array([[0.0, -90.0]]))[0, 0] == pytest.approx(-math.exp(-90), rel=1e-14)


def test_sweep_contents():
    x = N.sweep(F32)
    fi = torch.finfo(F32)
    assert x.min() == -float(fi.max) and x.max() == float(fi.max) and 0.0 in x
    assert (np.abs(x[x != 0]) < fi.tiny).any(), "no subnormals"
    assert np.all(np.diff(x) > 0)
    assert np.array_equal(torch.from_numpy(x).float().double().numpy(), x), "inputs must be exact float32"
