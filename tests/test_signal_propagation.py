"""actlab.signal_propagation: the deep-network measurement and the Gaussian moment map, each checked against
a closed form or an independent computation."""
import math

import numpy as np
import pytest
import torch

from actlab import numpy_ref as R
from actlab import signal_propagation as SP


def test_init_gain_names_numbers_and_errors():
    assert SP.init_gain("lecun") == 1.0 and SP.init_gain("kaiming") == pytest.approx(math.sqrt(2))
    assert SP.init_gain(0.5) == 0.5
    with pytest.raises(ValueError, match="unknown init"):
        SP.init_gain("he")
    with pytest.raises(ValueError, match="positive"):
        SP.init_gain(-1.0)


def test_layer_statistics_shapes_and_reproducibility():
    a = SP.layer_statistics("relu", depth=5, width=32, init="kaiming", seeds=(0, 1), n_samples=64)
    b = SP.layer_statistics("relu", depth=5, width=32, init="kaiming", seeds=(0, 1), n_samples=64)
    for field in ("mean", "var", "pre_mean", "pre_var"):
        assert getattr(a, field).shape == (5, 2)
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_array_equal(a.layers, np.arange(1, 6))
    assert a.activation == "relu" and a.gain == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError):
        SP.layer_statistics("relu", depth=0)
    with pytest.raises(TypeError):
        SP.layer_statistics(3.0)


def test_layer_statistics_accepts_modules_and_functions():
    mod = SP.layer_statistics(torch.nn.LeakyReLU(0.5), depth=2, width=16, seeds=(0,), n_samples=32)
    fn = SP.layer_statistics(lambda z: torch.nn.functional.leaky_relu(z, 0.5), depth=2, width=16, seeds=(0,),
                             n_samples=32)
    np.testing.assert_allclose(mod.var, fn.var)


def test_selu_keeps_mean_zero_and_variance_one_relu_kaiming_keeps_the_second_moment():
    selu = SP.layer_statistics("selu", depth=20, width=256, init="lecun", seeds=(0, 1))
    assert np.abs(selu.mean[-1]).max() < 0.05 and np.abs(selu.var[-1] - 1).max() < 0.15
    relu = SP.layer_statistics("relu", depth=20, width=256, init="kaiming", seeds=(0, 1))
    second = relu.pre_var + relu.pre_mean ** 2          # E[z^2], what Kaiming's gain keeps
    assert np.abs(np.log(second[-1])).max() < 0.6          # no exponential growth or decay over 20 layers
    lin = SP.layer_statistics("linear", depth=1, width=256, init=2.0, seeds=(0,), n_samples=2048)
    assert lin.pre_var[0, 0] == pytest.approx(4.0, rel=0.05)   # Var(Wx) = gain^2 Var(x)


def test_gaussian_expectation_against_closed_forms():
    E = SP.gaussian_expectation
    assert E(lambda z: z, 0.7, 2.0) == pytest.approx(0.7, abs=1e-10)
    assert E(lambda z: z * z, 0.7, 2.0) == pytest.approx(2.0 + 0.49, rel=1e-10)
    assert E(R.relu) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-10)
    assert E(np.exp, 0.0, 1.0) == pytest.approx(math.exp(0.5), rel=1e-10)
    assert E(R.relu, 2.0, 0.0) == 2.0
    with pytest.raises(ValueError):
        E(R.relu, 0.0, -1.0)


def test_moment_map_has_the_selu_fixed_point_and_relu_closed_form():
    mu, nu = SP.moment_map(R.selu, 0.0, 1.0)
    assert abs(mu) < 1e-9 and nu == pytest.approx(1.0, abs=1e-9)
    mu, nu = SP.moment_map(R.relu, 0.0, 1.0)
    assert mu == pytest.approx(1 / math.sqrt(2 * math.pi)) and nu == pytest.approx(0.5 - 1 / (2 * math.pi))
    traj = SP.moment_trajectory(R.selu, 1.0, 3.0, steps=40)
    assert traj.shape == (41, 2) and np.allclose(traj[-1], [0.0, 1.0], atol=1e-4)   # attracting


def test_random_layer_map_predicts_the_measured_first_layer():
    gain = math.sqrt(2)
    mu, nu = SP.random_layer_map(R.elu, 0.0, 1.0, gain=gain)
    st = SP.layer_statistics("elu", depth=1, width=512, init=gain, seeds=(0, 1, 2), n_samples=2048)
    assert st.mean[0].mean() == pytest.approx(mu, abs=0.02)
    assert st.var[0].mean() == pytest.approx(nu, rel=0.05)
