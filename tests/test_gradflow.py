"""actlab.gradflow: initialization scales, the per-layer measurements at initialization and the numpy
backpropagation references of chapter 01, each checked against an independent computation (torch autograd,
closed forms)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from actlab import gradflow as G
from actlab.exercises import ch01

ACTS = ("sigmoid", "tanh", "relu")


def test_init_std_formulas_and_errors():
    assert G.init_std("naive", 64, 32) == 1.0
    assert G.init_std("xavier", 64, 32) == pytest.approx(math.sqrt(2 / 96))
    assert G.init_std("kaiming", 64, 32) == pytest.approx(math.sqrt(2 / 64))
    assert G.init_std("scaled", 64, 32, gain=3.0) == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="unknown init scheme 'he'"):
        G.init_std("he", 4, 4)
    with pytest.raises(ValueError, match="positive"):
        G.init_std("xavier", 0, 4)


def test_deep_mlp_structure_scale_and_seed():
    m = G.deep_mlp(10, 200, 3, 4, "tanh", "kaiming", seed=1)
    kinds = [type(l).__name__ for l in m]
    assert kinds == ["Linear", "Tanh"] * 3 + ["Linear"]
    assert m[2].weight.dtype == torch.float64 and torch.all(m[2].bias == 0)
    assert m[2].weight.std().item() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    torch.testing.assert_close(m[0].weight, G.deep_mlp(10, 200, 3, 4, "tanh", "kaiming", seed=1)[0].weight)
    with pytest.raises(ValueError, match="depth"):
        G.deep_mlp(10, 8, 0, 2)


@pytest.mark.parametrize("name, expected", [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0), ("elu", 1.0)])
def test_max_slope(name, expected):
    act = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "relu": nn.ReLU(), "elu": nn.ELU()}[name]
    assert G.max_slope(act) == pytest.approx(expected, abs=1e-6)
    z = torch.linspace(-3, 3, 7, dtype=torch.float64)
    if name == "tanh":
        torch.testing.assert_close(G.slope(act, z), 1 - torch.tanh(z) ** 2)


@pytest.mark.parametrize("act", ACTS)
def test_gradient_flow_matches_the_numpy_backprop(act):
    """The torch measurement (hooks, autograd) against the chapter's numpy references on the same weights."""
    X, y = G.digits(40, seed=3)
    m = G.deep_mlp(64, 12, 4, 10, act, "scaled", gain=3.0, seed=2)
    fl = G.gradient_flow(m, X, y)
    layers = [(l.weight.detach().numpy(), l.bias.detach().numpy()) for l in m if isinstance(l, nn.Linear)]
    # cross-entropy in numpy, backprop by hand
    zs, hs = G.forward_cache(layers, X, act)
    p = np.exp(zs[-1] - zs[-1].max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(10)[y]) / len(X)
    df = G.NUMPY_ACTIVATIONS[act][1]
    norms, deltas = [], []
    for l in reversed(range(len(layers))):
        norms.insert(0, np.linalg.norm(delta.T @ hs[l]))
        if l:
            delta = (delta @ layers[l][0]) * df(zs[l - 1])
            deltas.insert(0, np.linalg.norm(delta))
    np.testing.assert_allclose(fl.weight_grad, norms, rtol=1e-10)
    np.testing.assert_allclose(fl.delta, deltas, rtol=1e-10)
    np.testing.assert_allclose(fl.saturation, G.saturation_per_layer(layers, X, act), atol=1e-12)
    assert fl.ratio() == pytest.approx(norms[0] / norms[-1])
    assert fl.delta_ratio() == pytest.approx(deltas[0] / deltas[-1])
    assert np.all((fl.dead >= 0) & (fl.dead <= fl.saturation + 1e-12))
    np.testing.assert_allclose(fl.act_mean, [G.NUMPY_ACTIVATIONS[act][0](z).mean() for z in zs[:-1]], rtol=1e-10)


def test_flow_over_seeds_shapes_and_the_sigmoid_vanishing():
    X, y = G.digits(64, seed=0)
    fl = G.flow_over_seeds(X, y, "sigmoid", "xavier", depth=8, width=16, seeds=(0, 1))
    assert fl.weight_grad.shape == (9, 2) and fl.saturation.shape == (8, 2) and fl.loss.shape == (2,)
    assert np.all(fl.ratio() < 1e-3)  # (1/4)^8 times norms of order 1


def test_saturate_sets_biases_and_kills_the_unit_gradients():
    X, y = G.digits(64, seed=0)
    m = G.deep_mlp(64, 32, 3, 10, "tanh", "xavier", seed=0)
    masks = G.saturate(m, 0.5, layers=[1], bias=8.0, seed=4)
    mask = masks[1]
    assert 0 < mask.sum() < 32 and set(np.abs(m[2].bias.detach().numpy()[mask])) == {8.0}
    G.gradient_flow(m, X, y)
    rows = m[2].weight.grad.norm(dim=1).numpy()
    assert rows[mask].max() < 1e-3 * rows[~mask].min()
    with pytest.raises(ValueError, match="fraction"):
        G.saturate(m, 1.5)


def test_train_sgd_learns_and_reports_per_layer_change():
    X, y = G.digits(128, seed=0)
    m = G.deep_mlp(64, 16, 2, 10, "tanh", "xavier", seed=0)
    losses, change = G.train_sgd(m, X, y, steps=30, lr=0.2)
    assert losses.shape == (30,) and losses[-1] < 0.7 * losses[0]
    assert change.shape == (3,) and np.all(change > 0)


def test_digits_are_standardized_and_seeded():
    X, y = G.digits(None)
    assert X.shape == (1797, 64) and y.dtype == np.int64 and set(y) == set(range(10))
    used = X.std(0) > 0
    np.testing.assert_allclose(X[:, used].std(0), 1.0)
    np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(G.digits(50, seed=2)[1], G.digits(50, seed=2)[1])


# --------------------------------------------------------------------------- numpy references vs autograd
@pytest.mark.parametrize("case", ch01.dense_layers(seed=0).cases[:7], ids=lambda c: c.id)
def test_dense_backward_matches_autograd(case):
    x, W, b, g, act = case.args
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, W, b)]
    h = getattr(torch, act)(ts[0] @ ts[1].T + ts[2])
    h.backward(torch.tensor(g.astype(np.float64)))
    ours = G.dense_backward(*case.args)
    for o, t in zip(ours, ts):
        assert o.dtype == x.dtype
        np.testing.assert_allclose(o, t.grad.numpy(), rtol=1e-4 if x.dtype == np.float32 else 1e-10, atol=1e-6)


def test_dense_backward_is_finite_when_saturated():
    for case in ch01.dense_layers(seed=1).cases:
        assert all(np.all(np.isfinite(o)) for o in G.dense_backward(*case.args)), case.id


@pytest.mark.parametrize("case", ch01.deep_nets(seed=0).cases, ids=lambda c: c.id)
def test_backprop_grad_norms_matches_autograd(case):
    layers, x, y, act = case.args
    Ws = [torch.tensor(W, requires_grad=True) for W, _ in layers]
    h = torch.tensor(x)
    for l, (W, (_, b)) in enumerate(zip(Ws, layers)):
        h = h @ W.T + torch.tensor(b)
        if l < len(Ws) - 1:
            h = getattr(torch, act)(h)
    (((h - torch.tensor(y)) ** 2).sum() / (2 * len(x))).backward()
    np.testing.assert_allclose(G.backprop_grad_norms(layers, x, y, act), [W.grad.norm().item() for W in Ws],
                               rtol=1e-9)


def test_saturation_per_layer_by_thresholds_on_z():
    """f'(z) < 0.01 max f' is |z| > 2 acosh(10) for sigmoid, |z| > acosh(10) for tanh, z <= 0 for relu."""
    rng = np.random.default_rng(0)
    layers = ch01.random_layers(rng, [3, 50, 50, 2], scale=4.0)
    x = rng.normal(size=(40, 3))
    for act, sat in (("sigmoid", lambda z: np.abs(z) > 2 * np.arccosh(10)),
                     ("tanh", lambda z: np.abs(z) > np.arccosh(10)), ("relu", lambda z: z <= 0)):
        zs, _ = G.forward_cache(layers, x, act)
        np.testing.assert_allclose(G.saturation_per_layer(layers, x, act), [sat(z).mean() for z in zs[:-1]])
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        G.saturation_per_layer(layers, x, "gelu")


@pytest.mark.parametrize("case", ch01.sigmoid_nets(seed=0).cases, ids=lambda c: c.id)
def test_jacobian_and_bound_matches_autograd_and_holds(case):
    layers, x = case.args

    def net(v):
        for W, b in layers:
            v = torch.sigmoid(torch.tensor(W) @ v + torch.tensor(b))
        return v
    J = torch.autograd.functional.jacobian(net, torch.tensor(x)).numpy()
    norm, bound = G.jacobian_and_bound(layers, x)
    assert norm == pytest.approx(np.linalg.norm(J, 2), rel=1e-10)
    assert bound == pytest.approx(math.prod(np.linalg.svd(W, compute_uv=False)[0] / 4 for W, _ in layers))
    assert norm <= bound * (1 + 1e-12)
