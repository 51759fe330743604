"""actlab.batched_mlp: networks stacked into one model stay independent (each equals the same network trained
alone), per-network learning rates, the per-network Leaky ReLU, and the diagnostics."""
import math

import numpy as np
import pytest
import torch

from actlab import batched_mlp as B
from actlab import experiments as E


@pytest.fixture(scope="module")
def xor():
    X, y = E.make_xor(n=96, seed=0)
    return X, y


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_initialization_per_seed_and_rule(xor):
    m = B.BatchedMLP([2, 8, 3], seeds=[0, 1, 0])
    W = m.weights[0].detach()
    assert W.shape == (3, 2, 8) and m.biases[0].shape == (3, 1, 8)
    assert torch.equal(W[0], W[2]) and not torch.equal(W[0], W[1])       # a seed fixes a network's start
    assert W.abs().max() <= 1 / math.sqrt(2)                              # nn.Linear's bound 1/sqrt(fan_in)
    lecun = B.BatchedMLP([2, 8, 3], seeds=[0], init="lecun")
    assert torch.count_nonzero(lecun.biases[0]) == 0
    with pytest.raises(ValueError):
        B.BatchedMLP([2, 8, 3], seeds=[0], init="xavier")
    with pytest.raises(ValueError):
        B.BatchedMLP([2], seeds=[0])
    with pytest.raises(ValueError, match="inputs must be"):
        m(np.zeros((5, 3)))


@pytest.mark.parametrize("optimizer, batch_size", [("adam", None), ("sgd", 16), ("adam", 16)])
def test_stacked_networks_train_exactly_as_alone(xor, optimizer, batch_size):
    X, y = xor
    seeds = [3, 4, 5]
    together = B.BatchedMLP([2, 8, 8, 2], seeds=seeds, activation="tanh")
    hist = B.train(together, X, y, steps=25, lr=0.05, optimizer=optimizer, batch_size=batch_size)
    for i, s in enumerate(seeds):
        alone = B.BatchedMLP([2, 8, 8, 2], seeds=[s], activation="tanh")
        h1 = B.train(alone, X, y, steps=25, lr=0.05, optimizer=optimizer, batch_size=batch_size)
        for p, q in zip(_params(together), _params(alone)):
            torch.testing.assert_close(p[i], q[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hist.losses[:, i], h1.losses[:, 0], rtol=1e-10)
        np.testing.assert_allclose(hist.grad_norms[:, i], h1.grad_norms[:, 0], rtol=1e-10)


def test_one_learning_rate_per_network(xor):
    X, y = xor
    both = B.BatchedMLP([2, 6, 2], seeds=[0, 0])
    B.train(both, X, y, steps=20, lr=[0.01, 0.1], batch_size=32)
    for i, lr in enumerate([0.01, 0.1]):
        alone = B.BatchedMLP([2, 6, 2], seeds=[0])
        B.train(alone, X, y, steps=20, lr=lr, batch_size=32)
        for p, q in zip(_params(both), _params(alone)):
            torch.testing.assert_close(p[i], q[0], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="one learning rate"):
        B.train(both, X, y, steps=1, lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="optimizer"):
        B.train(both, X, y, steps=1, optimizer="rmsprop")


def test_per_net_leaky_relu_matches_torch_with_its_gradient():
    gammas = [0.0, 0.01, 0.3, 1.0, 3.0]
    act = B.PerNetLeakyReLU(gammas)
    z = torch.linspace(-3, 3, 13, dtype=torch.float64).repeat(len(gammas), 2, 1).requires_grad_()
    act(z).sum().backward()
    for i, g in enumerate(gammas):
        zi = z.detach()[i].clone().requires_grad_()
        ref = torch.nn.functional.leaky_relu(zi, g) if g <= 1 else torch.where(zi > 0, zi, g * zi)
        ref.sum().backward()
        torch.testing.assert_close(act(z.detach())[i], ref.detach())
        torch.testing.assert_close(z.grad[i], zi.grad)     # slope gamma at 0, as torch


def test_dead_fraction_counts_units_negative_on_every_input(xor):
    X, _ = xor
    m = B.BatchedMLP([2, 4, 4, 2], seeds=[0, 1], activation="relu")
    with torch.no_grad():
        m.biases[0][0, 0, :2] = -1e3          # network 0: two of the four first-layer units can never fire
        m.biases[0][1] = 1e3                  # network 1: every first-layer unit always fires
        m.biases[1][1] = 1e3
    per_layer = B.dead_fraction(m, X, per_layer=True)
    assert per_layer.shape == (2, 2) and per_layer[0, 0] == 0.5 and per_layer[0, 1] == 0.0
    np.testing.assert_allclose(B.dead_fraction(m, X), per_layer.mean(0))   # equal widths


def test_roughness_and_moving_average():
    steps = np.arange(400, dtype=float)
    smooth = (1.0 - steps / 1000)[:, None]
    wiggly = smooth + 0.1 * (-1.0) ** steps[:, None]
    assert B.roughness(smooth)[0] < 1e-12
    assert B.roughness(wiggly, window=2)[0] == pytest.approx(0.1, rel=0.01)   # the wiggle around its average
    assert B.roughness(wiggly, window=25)[0] == pytest.approx(0.1, rel=0.05)
    v = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_allclose(B.moving_average(v, 7)[:, 1], np.convolve(v[:, 1], np.ones(7) / 7, "valid"))
    with pytest.raises(ValueError):
        B.moving_average(v, 0)


def test_accuracy_and_predictor(xor):
    X, y = xor
    m = B.BatchedMLP([2, 16, 2], seeds=[0, 1])
    B.train(m, X, y, steps=200, lr=0.05)
    acc = B.accuracy(m, X, y)
    assert acc.shape == (2,) and np.all(acc > 0.9)
    p = B.predictor(m, 1)(X)
    assert p.shape == (len(X),) and np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == y) == pytest.approx(acc[1])
