"""Mathematical properties of the activations, checked on inputs drawn by hypothesis (float64 unless noted):
bounds, monotonicity where it holds, symmetries and identities between the functions, softmax invariances."""
import math

import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import actlab

SETTINGS = settings()   # the loaded profile (tests/conftest.py): repeatable draws by default


def vectors(lo=-60.0, hi=60.0, min_size=1, max_size=40, dtype=np.float64, subnormal=True):
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64 if dtype == np.float64 else 32,
                         allow_subnormal=subnormal)
    return hnp.arrays(dtype, st.integers(min_size, max_size), elements=elements).map(torch.from_numpy)


def any_finite(dtype=np.float32, max_size=40):
    width = 64 if dtype == np.float64 else 32
    return hnp.arrays(dtype, st.integers(1, max_size),
                      elements=st.floats(allow_nan=False, allow_infinity=False, width=width)).map(torch.from_numpy)


def close(a, b, rtol=1e-12, atol=1e-12):
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def nondecreasing(f, x):
    xs, _ = torch.sort(x)
    y = f(xs)
    assert (torch.diff(y) >= 0).all(), (xs, y)


# ------------------------------------------------------------------------------------------ sigmoid and tanh
@SETTINGS
@given(any_finite())
def test_sigmoid_bounds_and_monotone(x):
    y = actlab.sigmoid(x)
    assert ((y >= 0) & (y <= 1)).all()
    nondecreasing(actlab.sigmoid, x)


@SETTINGS
@given(vectors())
def test_sigmoid_symmetry_and_derivative(x):
    close(actlab.sigmoid(-x), 1 - actlab.sigmoid(x), rtol=0, atol=1e-15)
    x = x.clone().requires_grad_()
    y = actlab.sigmoid(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    close(g, (y * actlab.sigmoid(-x)).detach())         # sigma' = sigma(x) sigma(-x)


@SETTINGS
@given(any_finite())
def test_tanh_bounds_odd_and_monotone(x):
    y = actlab.tanh(x)
    assert ((y >= -1) & (y <= 1)).all()
    # odd up to rounding: u/(u + 2) with u = expm1(2x) rounds differently for x and -x
    torch.testing.assert_close(actlab.tanh(-x), -y, rtol=4 * 2 ** -24, atol=1e-45)
    nondecreasing(actlab.tanh, x)


@SETTINGS
@given(vectors(-20, 20))
def test_tanh_is_a_scaled_sigmoid(x):
    close(actlab.tanh(x), 2 * actlab.sigmoid(2 * x) - 1, rtol=0, atol=4e-16)
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(actlab.tanh(x).sum(), x)
    close(g, 1 - actlab.tanh(x).detach() ** 2)


# ------------------------------------------------------------------------------------------ the ReLU family
@SETTINGS
@given(vectors(-1e6, 1e6, subnormal=False), st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 1024.0]))
def test_relu_family_positive_homogeneity(x, c):
    """Exact for normal numbers (scaling a subnormal by a power of two may round)."""
    assert torch.equal(actlab.relu(c * x), c * actlab.relu(x))
    assert torch.equal(actlab.leaky_relu(c * x, 0.125), c * actlab.leaky_relu(x, 0.125))


@SETTINGS
@given(vectors(-1e6, 1e6))
def test_relu_decomposes_the_identity_and_abs(x):
    assert torch.equal(actlab.relu(x) - actlab.relu(-x), x)
    assert torch.equal(actlab.relu(x) + actlab.relu(-x), x.abs())
    nondecreasing(actlab.relu, x)
    nondecreasing(lambda t: actlab.leaky_relu(t, 0.01), x)


@SETTINGS
@given(vectors(-50, 50), st.floats(0.1, 3.0))
def test_elu_bounds_and_continuity(x, alpha):
    y = actlab.elu(x, alpha)
    assert (y >= -alpha).all()
    assert torch.equal(y[x > 0], x[x > 0])
    nondecreasing(lambda t: actlab.elu(t, alpha), x)
    eps = torch.tensor([-1e-9, 1e-9], dtype=torch.float64)
    assert (actlab.elu(eps, alpha).abs() < 1e-8).all()            # continuous at 0


@SETTINGS
@given(vectors(-50, 50))
def test_selu_is_scaled_elu(x):
    close(actlab.selu(x), 1.0507009873554805 * actlab.elu(x, 1.6732632423543772), rtol=1e-15, atol=1e-15)
    nondecreasing(actlab.selu, x)


@SETTINGS
@given(vectors(-60, 60))
def test_softplus_identities(x):
    y = actlab.softplus(x, threshold=1e9)
    assert (y > 0).all() or (y >= 0).all()
    assert (y >= actlab.relu(x)).all()
    close(y - actlab.softplus(-x, threshold=1e9), x, rtol=1e-13, atol=1e-13)    # softplus(x) - softplus(-x) = x
    nondecreasing(actlab.softplus, x)
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(actlab.softplus(x, threshold=1e9).sum(), x)
    close(g, actlab.sigmoid(x).detach())                                   # softplus' = sigma


# ------------------------------------------------------------------------------------------ softmax
def rows():
    """(m, n) float64 tensors: m rows of n values each."""
    shapes = st.tuples(st.integers(1, 4), st.integers(1, 6))
    return shapes.flatmap(lambda shape: hnp.arrays(
        np.float64, shape, elements=st.floats(-300, 300, allow_nan=False, allow_infinity=False)).map(torch.from_numpy))


@SETTINGS
@given(rows(), st.floats(-1e3, 1e3))
def test_softmax_is_a_distribution_and_shift_invariant(x, c):
    y = actlab.softmax(x, -1)
    assert ((y >= 0) & (y <= 1)).all()
    close(y.sum(-1), torch.ones(y.shape[0], dtype=y.dtype), rtol=0, atol=1e-14)
    close(actlab.softmax(x + c, -1), y, rtol=1e-9, atol=1e-15)
    # the largest input gets the largest probability (ties after rounding allowed)
    assert torch.equal(torch.gather(y, -1, x.argmax(-1, keepdim=True)).squeeze(-1), y.amax(-1))


@SETTINGS
@given(rows())
@example(torch.tensor([[220.0, 220.0, -292.53253]], dtype=torch.float64))   # like the row hypothesis found in CI
def test_log_softmax_is_log_of_softmax(x):
    ly = actlab.log_softmax(x, -1)
    assert (ly <= 0).all()
    # exp turns the rounding of ly, up to |ly| 2^-53 absolute, into that much relative error (1.1e-13 at ly = -513)
    p = actlab.softmax(x, -1)
    assert ((torch.exp(ly) - p).abs() <= p * (1e-13 + ly.abs() * 2.0 ** -52) + 1e-300).all(), (x, ly, p)
    close(torch.logsumexp(ly, -1), torch.zeros(x.shape[0], dtype=x.dtype), rtol=0, atol=1e-14)


@SETTINGS
@given(rows(), st.floats(0.05, 20.0))
def test_softmax_temperature_order(x, t):
    """Dividing by a temperature keeps the order of the outputs."""
    y = actlab.softmax(x / t, -1)
    order = torch.argsort(x, -1)
    assert (torch.diff(torch.gather(y, -1, order), dim=-1) >= 0).all()


# ------------------------------------------------------------------------------------------ GELU and Swish
@SETTINGS
@given(vectors(-30, 30))
def test_gelu_and_silu_odd_parts_are_the_identity(x):
    """x Phi(x) - (-x) Phi(-x) = x and x sigma(x) - (-x) sigma(-x) = x."""
    close(actlab.gelu(x) - actlab.gelu(-x), x, rtol=1e-14, atol=1e-14)
    close(actlab.silu(x) - actlab.silu(-x), x, rtol=1e-14, atol=1e-14)
    close(actlab.gelu(x, "sigmoid") - actlab.gelu(-x, "sigmoid"), x, rtol=1e-14, atol=1e-14)


@SETTINGS
@given(any_finite(np.float64))
def test_gelu_and_silu_bounds(x):
    assert (actlab.gelu(x) >= -0.17).all() and (actlab.silu(x) >= -0.2785).all()
    assert (actlab.gelu(x) <= actlab.relu(x)).all() and (actlab.silu(x) <= actlab.relu(x)).all()
    pos = x[x >= 0]
    nondecreasing(actlab.gelu, pos)               # monotone for x >= 0 (not below: both have a minimum)
    nondecreasing(actlab.silu, pos)


@SETTINGS
@given(vectors(-10, 10))
def test_gelu_approximations_are_close(x):
    exact = actlab.gelu(x)
    assert (actlab.gelu(x, "tanh") - exact).abs().max() < 1e-3
    assert (actlab.gelu(x, "sigmoid") - exact).abs().max() < 0.021


@SETTINGS
@given(vectors(-30, 30), st.floats(0.1, 10.0))
def test_swish_identities(x, beta):
    # x sigma(beta x) composed rounds beta x first, which the exponential amplifies |beta x|-fold (swish corrects it)
    close(actlab.swish(x, beta), x * actlab.sigmoid(beta * x), rtol=1e-12, atol=1e-300)
    close(actlab.swish(x, 1.0), actlab.silu(x), rtol=0, atol=0)
    # beta -> infinity tends to ReLU, beta = 0 is x/2
    close(actlab.swish(x, 1e4), actlab.relu(x), rtol=0, atol=1e-3)
    close(actlab.swish(x, 0.0), x / 2, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ the gates
@SETTINGS
@given(st.integers(1, 8).flatmap(lambda n: hnp.arrays(np.float64, (3, 2 * n), elements=st.floats(-30, 30))))
def test_glu_family(x):
    x = torch.from_numpy(x)
    a, b = x.chunk(2, -1)
    close(actlab.glu(x, -1), a * actlab.sigmoid(b), rtol=1e-15, atol=1e-300)
    close(actlab.swiglu(a, b), actlab.silu(a) * b, rtol=1e-15, atol=1e-300)
    close(actlab.geglu(a, b), actlab.gelu(a) * b, rtol=1e-15, atol=1e-300)
    close(actlab.geglu(a, b, "tanh"), actlab.gelu(a, "tanh") * b, rtol=1e-15, atol=1e-300)


@SETTINGS
@given(vectors(-2.0 ** 100, 2.0 ** 100, dtype=np.float32))
def test_half_of_float32_rounds_the_float32_result(x):
    """bfloat16 input: computed in float32 and rounded once."""
    xb = x.to(torch.bfloat16)
    for f in (actlab.sigmoid, actlab.tanh, actlab.gelu, actlab.silu, actlab.softplus):
        assert torch.equal(f(xb), f(xb.float()).to(torch.bfloat16))


def test_known_values():
    x = torch.tensor([0.0, 1.0], dtype=torch.float64)
    close(actlab.sigmoid(x), torch.tensor([0.5, 1 / (1 + math.exp(-1))], dtype=torch.float64))
    close(actlab.gelu(x), torch.tensor([0.0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))], dtype=torch.float64))
    close(actlab.softplus(x), torch.tensor([math.log(2), math.log1p(math.e)], dtype=torch.float64))
