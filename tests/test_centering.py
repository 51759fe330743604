"""actlab.centering: the zig-zag quadratic and the centred-sigmoid training of chapter 02, checked against
closed forms (Hessian, convergence rate) and against torch."""
import numpy as np
import pytest
import torch

from actlab import centering as C


def test_sigmoid_inputs_positive_or_centred():
    X = C.sigmoid_inputs(500, dim=3, seed=1)
    assert X.shape == (500, 3) and np.all((X > 0) & (X < 1)) and np.all(np.abs(X.mean(0) - 0.5) < 0.05)
    Xc = C.sigmoid_inputs(500, dim=3, centered=True, seed=1)
    np.testing.assert_allclose(Xc.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Xc, X - X.mean(0))


def test_gd_path_is_gradient_descent_on_the_quadratic():
    X = C.sigmoid_inputs(100, seed=0)
    w_star = np.array([1.0, -1.0])
    res = C.gd_path(X, w_star, steps=5, lr=0.5)
    H = X.T @ X / len(X)
    w = np.zeros(2)
    for k in range(5):
        w = w - 0.5 * H @ (w - w_star)
        np.testing.assert_allclose(res.path[k + 1], w, rtol=1e-12)
    assert res.loss[0] == pytest.approx(0.5 * w_star @ H @ w_star)
    assert res.condition == pytest.approx(np.linalg.cond(H))


def test_centring_speeds_up_gradient_descent():
    """With lr = 1/lambda_max the error along the flattest direction shrinks by (1 - 1/kappa) per step."""
    w_star = np.array([1.0, -1.0])
    pos = C.gd_path(C.sigmoid_inputs(200, seed=0), w_star, steps=300)
    cen = C.gd_path(C.sigmoid_inputs(200, centered=True, seed=0), w_star, steps=300)
    assert pos.condition > 5 * cen.condition
    assert pos.steps_to(1e-2, w_star) > 5 * cen.steps_to(1e-2, w_star)
    assert C.gd_path(C.sigmoid_inputs(200, seed=0), w_star, steps=3).steps_to(1e-9, w_star) == 4  # never: len


def test_stochastic_updates_share_a_sign_for_positive_inputs():
    X = C.sigmoid_inputs(50, seed=2)
    res = C.gd_path(X, [1.0, -1.0], steps=40, lr=0.5, stochastic=True)
    steps = np.diff(res.path, axis=0)
    assert np.all(np.sign(steps[:, 0]) == np.sign(steps[:, 1]))


def test_centered_sigmoid_module():
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(C.CenteredSigmoid()(x), torch.tanh(x / 2) / 2)


def test_train_full_batch_and_lr_sweep_shapes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    losses = C.train_full_batch(X, y, "sigmoid", hidden=(8,), lr=1.0, steps=40)
    assert losses.shape == (40,) and losses[-1] < losses[0]
    sweep = C.lr_sweep(X, y, {"s": "sigmoid", "c": C.CenteredSigmoid}, [0.5, 1.0], seeds=(0, 1), hidden=(8,),
                       steps=5)
    assert set(sweep) == {"s", "c"} and sweep["c"].shape == (2, 2, 5)
    diverged = C.train_full_batch(X * 1e3, y, "linear", hidden=(8,), lr=1e6, steps=20)
    assert np.isinf(diverged[-1])
