"""actlab.experiments: data, models and training, and the exact tools for (ReLU) networks of chapter 00,
each checked against an independent computation."""
import numpy as np
import pytest
import torch

from actlab import experiments as E

relu = lambda z: np.maximum(z, 0.0)  # noqa: E731


def test_spread_summarizes_values_over_seeds():
    s = E.Spread.of([0.5, 0.7, 0.6])
    assert (s.mean, s.min, s.max, s.n) == (pytest.approx(0.6), 0.5, 0.7, 3)
    assert s.std == pytest.approx(0.1)
    assert f"{s:.2f}" == "0.60 ± 0.10" and str(E.Spread.of([2.0])) == "2 ± 0"
    with pytest.raises(ValueError):
        E.Spread.of([])


def test_over_seeds_calls_once_per_seed():
    assert E.over_seeds(lambda s: s * 10, seeds=(1, 2, 3)) == [10, 20, 30]


def test_data_sets_are_seeded_and_shaped():
    X, y = E.make_xor(n=100, seed=1)
    X2, y2 = E.make_xor(n=100, seed=1)
    assert X.shape == (100, 2) and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(X, X2)
    quadrant_rule = np.sign(X[:, 0]) != np.sign(X[:, 1])  # XOR of the signs, up to the noise
    assert np.mean(quadrant_rule == y.astype(bool)) > 0.9
    Xm, ym = E.make_moons(n=200, seed=0)
    np.testing.assert_allclose(Xm.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Xm.std(0), 1)
    assert ym.dtype == np.int64


def test_mlp_structure_seed_and_activation_names():
    m = E.mlp([2, 4, 3, 1], "tanh", seed=0)
    kinds = [type(l).__name__ for l in m]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert m[0].weight.dtype == torch.float64
    torch.testing.assert_close(E.mlp([2, 4, 1], seed=3)[0].weight, E.mlp([2, 4, 1], seed=3)[0].weight)
    assert type(E.mlp([2, 4, 1], "linear")[1]).__name__ == "Identity"
    assert type(E.mlp([2, 4, 1], torch.nn.ELU)[1]).__name__ == "ELU"
    with pytest.raises(ValueError, match="unknown activation 'mish'"):
        E.mlp([2, 4, 1], "mish")
    with pytest.raises(ValueError):
        E.mlp([2])


def test_linear_layers_extracts_what_the_model_computes():
    m = E.mlp([3, 5, 2], "linear", seed=1)
    (W1, b1), (W2, b2) = E.linear_layers(m)
    x = np.random.default_rng(0).normal(size=(4, 3))
    with torch.no_grad():
        ref = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose((x @ W1.T + b1) @ W2.T + b2, ref, rtol=1e-12)


def test_training_solves_xor_only_with_a_nonlinearity():
    X, y = E.make_xor(n=200, seed=0)
    r = E.train_classifier(X, y, hidden=(8, 8), activation="relu", seed=0, steps=300)
    lin = E.train_classifier(X, y, hidden=(8, 8), activation="linear", seed=0, steps=300)
    assert r.accuracy > 0.95 and lin.accuracy < 0.8
    assert r.losses.shape == (300,) and r.losses[-1] < r.losses[0]
    assert E.accuracy(r.model, X, y) == pytest.approx(r.accuracy)
    p = E.predictor(r.model)(X[:5])
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))


def test_single_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with E.single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_fit_1d_and_width_sweep():
    r = E.fit_1d(np.sin, 8, "tanh", seed=0, steps=200)
    assert r.max_error < 0.05 and r.rmse <= r.max_error
    x = np.linspace(-3, 3, 7)
    assert r(x).shape == (7,) and np.abs(r(x) - np.sin(x)).max() <= r.max_error + 1e-9
    sweep = E.width_sweep(np.sin, [1, 4], activations=("relu",), seeds=(0, 1), steps=50)
    errs = sweep.max_errors()
    assert list(errs) == ["relu"] and errs["relu"].shape == (2, 2)
    assert sweep.fits["relu"][1][0].width == 4 and sweep.fits["relu"][1][1].seed == 1


def random_stack(rng, widths, dtype=np.float64):
    return [(rng.normal(size=(o, i)).astype(dtype), rng.normal(size=o).astype(dtype))
            for i, o in zip(widths[:-1], widths[1:])]


def test_collapse_affine_equals_the_stack():
    rng = np.random.default_rng(0)
    layers = random_stack(rng, [4, 6, 3, 5, 2])
    W, b = E.collapse_affine(layers)
    x = rng.normal(size=(50, 4))
    np.testing.assert_allclose(x @ W.T + b, E.affine_forward(layers, x), rtol=1e-12, atol=1e-12)
    W32, b32 = E.collapse_affine(random_stack(rng, [3, 3, 2], np.float32))
    assert W32.dtype == b32.dtype == np.float32
    with pytest.raises(ValueError, match="layer 2: W has 4 columns but layer 1 outputs 3 values"):
        E.collapse_affine([(np.ones((3, 2)), np.ones(3)), (np.ones((2, 4)), np.ones(2))])
    with pytest.raises(ValueError, match="at least one layer"):
        E.collapse_affine([])


def test_affine_forward_applies_the_activation_between_layers_only():
    layers = [(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.array([-1.0]))]
    x = np.array([[-2.0], [3.0]])
    np.testing.assert_allclose(E.affine_forward(layers, x, relu), [[1.0], [2.0]])  # |x| - 1
    np.testing.assert_allclose(E.affine_forward(layers, x), [[-1.0], [-1.0]])


def test_count_linear_pieces_examples():
    f = lambda *a: E.count_linear_pieces(*(np.array(v, dtype=float) for v in a))  # noqa: E731
    assert f([1, 1, -1], [0, -1, 0], [1, 1, 1]) == 3
    assert f([1, -1], [0, 0], [1, 1]) == 2      # |x|
    assert f([1, -1], [0, 0], [1, -1]) == 1     # x: the kinks cancel
    assert f([], [], []) == 1
    assert f([0, 2], [1, 1], [5, 0]) == 1       # w = 0 is constant, v = 0 is absent
    with pytest.raises(ValueError):
        f([1, 2], [0], [1, 1])


@pytest.mark.parametrize("seed", range(5))
def test_count_linear_pieces_agrees_with_the_breakpoint_tracer(seed):
    rng = np.random.default_rng(seed)
    w, b, v = (rng.integers(-3, 4, size=12).astype(float) for _ in range(3))
    layers = [(w[:, None], b), (v[None, :], np.zeros(1))]
    assert E.count_linear_pieces(w, b, v) == len(E.relu_breakpoints(layers, -10.0, 10.0)) + 1


def test_relu_breakpoints_of_a_deep_net_are_exactly_where_the_slope_changes():
    rng = np.random.default_rng(1)
    layers = [(rng.normal(size=(o, i)) * np.sqrt(2 / i), 0.3 * rng.normal(size=o))
              for i, o in zip([1, 8, 8, 8, 1], [8, 8, 8, 1])]
    kinks = E.relu_breakpoints(layers, -3, 3)
    f = lambda t: E.affine_forward(layers, np.reshape(t, (-1, 1)), relu).ravel()  # noqa: E731
    edges = np.concatenate([[-3.0], kinks, [3.0]])
    for a, b in zip(edges[:-1], edges[1:]):  # affine between consecutive kinks
        u = np.linspace(a, b, 5)
        np.testing.assert_allclose(f(u), f(a) + (f(b) - f(a)) * (u - a) / (b - a), atol=1e-12)
    for t in kinks:  # and the slope really changes at each kink
        h = 1e-7
        assert abs((f(t + h) - f(t)) / h - (f(t) - f(t - h)) / h) > 1e-6
    with pytest.raises(ValueError, match="one input and one output"):
        E.relu_breakpoints([(np.ones((2, 2)), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))], 0, 1)


def test_relu_interpolant_is_the_piecewise_linear_interpolant():
    rng = np.random.default_rng(2)
    xs, ys = np.sort(rng.uniform(-4, 4, 15)), rng.normal(size=15)
    w, b, v, c = E.relu_interpolant(xs, ys)
    assert len(w) == 14
    u = np.linspace(xs[0], xs[-1], 2001)
    np.testing.assert_allclose(E.relu_net_1d(w, b, v, c, u), np.interp(u, xs, ys), atol=1e-12)
    with pytest.raises(ValueError, match="strictly increasing"):
        E.relu_interpolant([0.0, 0.0, 1.0], [1.0, 2.0, 3.0])


def test_claims_table_renders_html_and_markdown():
    t = E.claims_table([("C1", "says |x| < 1", "true", "Theorem 1\nand experiment")])
    lines = t._repr_markdown_().split("\n")
    assert lines[0] == "| claim | the source says | verdict | evidence |"
    assert lines[2] == "| **C1** | says \\|x\\| < 1 | true | Theorem 1 and experiment |"
    html = t._repr_html_()
    assert html.startswith('<table class="table"><thead><tr><th>claim</th>')
    assert "<td><strong>C1</strong></td><td>says |x| &lt; 1</td>" in html
    with pytest.raises(ValueError, match="claim, says, verdict, evidence"):
        E.claims_table([("C1", "too short")])
