"""actlab.digits (MLPs on load_digits), actlab.units (dead units, shifted ReLU) and actlab.speed (interleaved
timings): each checked against an independent computation. Fast: tiny networks, one or two epochs."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from actlab import digits, experiments, speed, units


@pytest.fixture(scope="module")
def data():
    return digits.load(seed=0)


def test_load_is_a_stratified_standardized_split(data):
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_allclose(data.X_train.mean(0), 0, atol=1e-5)
    sd = data.X_train.std(0)
    assert np.all((np.abs(sd - 1) < 1e-4) | (sd == 0))          # constant pixels stay 0
    assert np.bincount(data.y_train).min() >= 130                # every class in the training set
    other = digits.load(seed=1)
    assert not np.array_equal(other.y_test, data.y_test)
    np.testing.assert_array_equal(digits.load(seed=0).X_test, data.X_test)
    with pytest.raises(ValueError):
        digits.load(test_fraction=1.5)


@pytest.mark.parametrize("init, std", [("kaiming", lambda i, o: math.sqrt(2 / i)),
                                       ("xavier", lambda i, o: math.sqrt(2 / (i + o))),
                                       (3.0, lambda i, o: 3.0 / math.sqrt(i))])
def test_network_initializations(init, std):
    m = digits.network((512, 256), "tanh", seed=0, init=init)
    linears = [l for l in m if isinstance(l, nn.Linear)]
    assert [l.weight.shape for l in linears] == [(512, 64), (256, 512), (10, 256)]
    for lin in linears[:2]:
        o, i = lin.weight.shape
        assert lin.weight.std().item() == pytest.approx(std(i, o), rel=0.03)
        assert torch.all(lin.bias == 0)
    assert next(m.parameters()).dtype == torch.float32
    with pytest.raises(ValueError):
        digits.network(init="orthogonal")


def test_default_init_is_torchs_and_seeded():
    a, b = digits.network((8,), "relu", seed=3), digits.network((8,), "relu", seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    bound = 1 / math.sqrt(64)
    assert a[0].weight.abs().max().item() <= bound and a[0].bias.abs().max().item() <= bound


def test_set_linear_layers_round_trips_and_checks_shapes():
    m = digits.network((5, 4), "relu", seed=0)
    layers = experiments.linear_layers(digits.network((5, 4), "relu", seed=1))
    digits.set_linear_layers(m, layers)
    for (W, b), (W2, b2) in zip(layers, experiments.linear_layers(m)):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    with pytest.raises(ValueError, match="3 linear layers"):
        digits.set_linear_layers(m, layers[:2])
    with pytest.raises(ValueError, match="layer 1"):
        digits.set_linear_layers(m, [(layers[0][0].T, layers[0][1])] + layers[1:])


def test_train_records_losses_watch_and_accuracy(data):
    seen = []
    run = digits.train(data, "relu", (16,), lr=0.1, epochs=2, seed=0, watch=lambda m: seen.append(1) or len(seen))
    assert run.train_loss.shape == (2,) and np.all(np.isfinite(run.train_loss))
    assert run.train_loss[1] < run.train_loss[0] < math.log(10) + 0.5
    assert run.watched == [1, 2, 3] and not run.diverged
    assert run.test_accuracy == digits.accuracy(run.model, data.X_test, data.y_test) > 0.5
    again = digits.train(data, "relu", (16,), lr=0.1, epochs=2, seed=0)
    np.testing.assert_array_equal(run.train_loss, again.train_loss)   # seeded: batches and weights


def test_train_stops_when_the_loss_diverges(data):
    run = digits.train(data, "relu", (16,), lr=1e6, epochs=3, seed=0)
    assert run.diverged and np.isnan(run.train_loss[-1])
    with pytest.raises(ValueError):
        digits.train(data, optimizer="lbfgs")


def test_hidden_layers_match_a_manual_forward_pass(data):
    m = digits.network((7, 5), "tanh", seed=0)
    out = digits.hidden_layers(m, data.X_test[:10])
    (W1, b1), (W2, b2), _ = experiments.linear_layers(m)
    z1 = data.X_test[:10] @ W1.T + b1
    z2 = np.tanh(z1) @ W2.T + b2
    assert [z.shape for z, _ in out] == [(10, 7), (10, 5)]
    np.testing.assert_allclose(out[0][0], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1][0], z2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1][1], np.tanh(z2), rtol=1e-5, atol=1e-6)


def test_dead_units_over_the_data(data):
    z = np.array([[1.0, -1.0, 0.0, -2.0], [-1.0, -3.0, 0.0, 0.5]])
    np.testing.assert_array_equal(units.dead_mask(z), [False, True, True, False])
    with pytest.raises(ValueError):
        units.dead_mask(np.zeros(3))
    m = digits.network((6, 6), "relu", seed=0)
    with torch.no_grad():
        m[0].bias[:3] = -1e3          # three units of layer 1 can never fire
        m[2].weight.zero_()
        m[2].bias.copy_(torch.tensor([1.0, -1.0, 0.0, 0.0, 2.0, -0.5]))
    assert units.dead_fractions(m, data.X_train) == [0.5, 4 / 6]   # z = -1, 0, 0, -0.5 are dead


def test_shifted_relu():
    x = torch.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    f = units.ShiftedReLU(0.5)
    y = f(x)
    assert y.tolist() == [-0.5, -0.5, 2.5] and "shift=0.5" in repr(f)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_time_interleaved_calls_every_thunk_in_every_round():
    calls = []
    t = speed.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                               repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4 and t["a"].shape == (3,) and np.all(t["b"] >= 0)
    with pytest.raises(ValueError):
        speed.time_interleaved({}, repeats=0)


def test_activation_and_step_timings_have_the_right_shapes():
    t = speed.torch_activation_times(("relu", "tanh"), n=1024, repeats=2)
    f = speed.torch_activation_times(("relu",), n=1024, repeats=2, backward=False)
    s = speed.training_step_times(("linear", "relu"), (8,), repeats=2)
    n = speed.numpy_activation_times({"max": lambda x: np.maximum(x, 0)}, n=1024, repeats=2)
    assert set(t) == {"relu", "tanh"} and f["relu"].shape == s["linear"].shape == n["max"].shape == (2,)
    with pytest.raises(ValueError, match="unknown"):
        speed.torch_activation_times(("swishy",))
    q1, med, q3 = speed.quartiles(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert (q1, med, q3) == (2.0, 3.0, 4.0)


def test_plot_times_draws_one_bar_per_candidate():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    speed.plot_times(ax, {"relu": np.array([1.0, 2.0, 3.0]), "linear": np.array([2.0, 2.0, 2.0])}, scale=10,
                     labels={"linear": "none"})
    heights = [p.get_height() for p in ax.patches]
    assert heights == [20.0, 20.0] and [t.get_text() for t in ax.get_xticklabels()] == ["relu", "none"]
    plt.close(fig)
