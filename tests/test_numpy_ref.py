"""The numpy twins (actlab.numpy_ref): the same values and derivatives as the torch library, in float64 and
float32, dtypes preserved, and no warning (overflow, invalid) for any finite input."""
import warnings

import numpy as np
import pytest
import torch

import actlab
from actlab import numerics as N
from actlab import numpy_ref as R

X = np.concatenate([np.linspace(-30, 30, 601), [-1e-8, 1e-8, -700.0, 700.0]])

# numpy twin, its derivative, the torch function (float64)
PAIRS = {
    "sigmoid": (R.sigmoid, R.sigmoid_grad, actlab.sigmoid),
    "tanh": (R.tanh, R.tanh_grad, actlab.tanh),
    "relu": (R.relu, R.relu_grad, actlab.relu),
    "leaky_relu": (lambda x: R.leaky_relu(x, 0.1), lambda x: R.leaky_relu_grad(x, 0.1),
                   lambda x: actlab.leaky_relu(x, 0.1)),
    "elu": (lambda x: R.elu(x, 0.7), lambda x: R.elu_grad(x, 0.7), lambda x: actlab.elu(x, 0.7)),
    "selu": (R.selu, R.selu_grad, actlab.selu),
    "softplus": (lambda x: R.softplus(x, 2.0, 15.0), lambda x: R.softplus_grad(x, 2.0, 15.0),
                 lambda x: actlab.softplus(x, 2.0, 15.0)),
    "gelu": (R.gelu, R.gelu_grad, actlab.gelu),
    "gelu_tanh": (lambda x: R.gelu(x, "tanh"), lambda x: R.gelu_grad(x, "tanh"), lambda x: actlab.gelu(x, "tanh")),
    "gelu_sigmoid": (lambda x: R.gelu(x, "sigmoid"), lambda x: R.gelu_grad(x, "sigmoid"),
                     lambda x: actlab.gelu(x, "sigmoid")),
    "silu": (R.silu, R.silu_grad, actlab.silu),
    "swish": (lambda x: R.swish(x, 1.5), lambda x: R.swish_grad(x, 1.5), lambda x: actlab.swish(x, 1.5)),
}


def torch_value_and_grad(fn, x):
    t = torch.from_numpy(x).requires_grad_()
    y = fn(t)
    (g,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), g.numpy()


@pytest.mark.parametrize("name", list(PAIRS))
def test_value_and_derivative_match_the_torch_library(name):
    f, df, ours = PAIRS[name]
    x = X[np.abs(X) > 0.02] if name in ("relu", "leaky_relu") else X       # off the kink
    y, g = torch_value_and_grad(ours, x)
    # the twins evaluate the plain stable formula in float64; far in the tails (values below 1e-150) the rounding
    # of an exponential's argument shows at 1e-13 relative; derivatives are compared in absolute terms
    np.testing.assert_allclose(f(x), y, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(df(x), g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "selu", "softplus", "gelu", "gelu_tanh", "silu"])
def test_derivative_matches_finite_differences(name):
    f, df, _ = PAIRS[name]
    x = np.linspace(-6, 6, 97) + 0.013
    h = 1e-6
    np.testing.assert_allclose(df(x), (f(x + h) - f(x - h)) / (2 * h), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "selu", "softplus", "gelu", "gelu_tanh", "silu", "swish"])
def test_float32_accuracy(name):
    """float32 results are the float64 evaluation rounded once: correctly rounded but for float64's few ULP."""
    f = PAIRS[name][0]
    ref_name = {"elu": "elu", "softplus": "softplus"}.get(name, name)
    x = N.sweep(torch.float32, n_dense=4001)
    x = x[np.abs(x) <= 100]
    params = {"elu": {"alpha": 0.7}, "softplus": {"beta": 2.0, "threshold": 15.0}, "swish": {"beta": 1.5}}.get(name, {})
    ref = N.reference(ref_name, x, **params)
    err = N.ulp_error(f(x.astype(np.float32)), ref, torch.float32)
    assert err.max() <= 0.5001, (name, err.max(), x[np.argmax(err)])


def test_softmax_family():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7)) * 5
    np.testing.assert_allclose(R.softmax(x, axis=1), actlab.softmax(torch.from_numpy(x), 1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(R.softmax(x, axis=0), actlab.softmax(torch.from_numpy(x), 0).numpy(), rtol=1e-14)
    np.testing.assert_allclose(R.log_softmax(x), actlab.log_softmax(torch.from_numpy(x), -1).numpy(), rtol=1e-14)
    v = rng.normal(size=x.shape)
    jac = R.softmax_jacobian(x[0])
    np.testing.assert_allclose(R.softmax_jvp(x, v)[0], jac @ v[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(jac, jac.T)
    t = torch.from_numpy(x).requires_grad_()
    (g,) = torch.autograd.grad(actlab.log_softmax(t, -1), t, torch.from_numpy(v))
    np.testing.assert_allclose(R.log_softmax_vjp(x, v), g.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="1-D"):
        R.softmax_jacobian(x)
    # log_softmax near 0 keeps the tiny remainder: -log1p(e^-50)
    assert R.log_softmax(np.array([50.0, 0.0]))[0] == pytest.approx(-np.exp(-50.0), rel=1e-14)


def test_glu_family():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 8)) * 3
    t = torch.from_numpy(x).requires_grad_()
    y = actlab.glu(t, -1)
    g = rng.normal(size=y.shape)
    (gx,) = torch.autograd.grad(y, t, torch.from_numpy(g))
    np.testing.assert_allclose(R.glu(x), y.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(R.glu_vjp(x, g), gx.numpy(), rtol=1e-12, atol=1e-15)
    a, b = x[:, :4], x[:, 4:]
    for f, df, ours, kw in [(R.swiglu, R.swiglu_grad, actlab.swiglu, {}),
                            (R.geglu, R.geglu_grad, actlab.geglu, {}),
                            (R.geglu, R.geglu_grad, actlab.geglu, {"approximate": "tanh"})]:
        ta, tb = (torch.from_numpy(np.ascontiguousarray(v)).requires_grad_() for v in (a, b))
        y = ours(ta, tb, **kw)
        ga, gb = torch.autograd.grad(y.sum(), (ta, tb))
        np.testing.assert_allclose(f(a, b, **kw), y.detach().numpy(), rtol=1e-13)
        da, db = df(a, b, **kw)
        np.testing.assert_allclose(da, ga.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, gb.numpy(), rtol=1e-12, atol=1e-15)


def test_swish_beta_derivative():
    x, beta, h = np.linspace(-5, 5, 41), 1.3, 1e-6
    fd = (R.swish(x, beta + h) - R.swish(x, beta - h)) / (2 * h)
    np.testing.assert_allclose(R.swish_grad_beta(x, beta), fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_are_preserved(dtype):
    x = np.linspace(-3, 3, 11).astype(dtype)
    for f in (R.sigmoid, R.tanh, R.gelu, R.silu, R.softmax, R.log_softmax, R.elu, R.softplus, R.gelu_grad):
        assert f(x).dtype == dtype, f.__name__
    assert R.sigmoid(np.arange(3)).dtype == np.float64               # integers: float64


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_no_warning_for_any_finite_input(dtype):
    x = N.sweep({np.float16: torch.float16, np.float32: torch.float32, np.float64: torch.float64}[dtype])
    x = x.astype(dtype)
    safe = x[np.abs(x) <= np.finfo(dtype).max / 1.06]      # selu multiplies by 1.05: the result itself overflows
    fns = [R.sigmoid, R.sigmoid_grad, R.tanh, R.tanh_grad, R.relu, R.relu_grad, R.leaky_relu, R.leaky_relu_grad,
           R.elu, R.elu_grad, R.selu, R.selu_grad, R.softplus, R.softplus_grad, lambda v: R.softplus(v, 3.0),
           lambda v: R.softplus_grad(v, 0.5), R.gelu, R.gelu_grad, lambda v: R.gelu(v, "tanh"),
           lambda v: R.gelu_grad(v, "tanh"), lambda v: R.gelu(v, "sigmoid"), lambda v: R.gelu_grad(v, "sigmoid"),
           R.silu, R.silu_grad, lambda v: R.swish(v, 2.0), lambda v: R.swish_grad(v, 2.0),
           lambda v: R.swish_grad_beta(v, 2.0), lambda v: R.softmax(v.reshape(-1, 2)),
           lambda v: R.log_softmax(v.reshape(-1, 2))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in fns:
            y = f(safe[: len(safe) // 2 * 2])
            assert not np.isnan(y).any()
