"""actlab.swishnet: SiLU's minimum, the monotone twin, and the digits experiments of chapter 09."""
import mpmath as mp
import numpy as np
import pytest
import torch

from actlab import swishnet as S


def test_the_minimum_of_silu():
    mp.mp.dps = 40
    root = mp.findroot(lambda x: 1 + x * (1 - 1 / (1 + mp.exp(-x))), -1.3)
    assert abs(S.SILU_ARGMIN - float(root)) < 1e-15
    assert S.SILU_MIN == pytest.approx(S.SILU_ARGMIN + 1, abs=1e-15)
    assert S.silu_argmin(1) == -2.0


def test_the_monotone_twin():
    x = torch.linspace(-8, 8, 16001, dtype=torch.float64, requires_grad=True)
    y = S.MonotoneSiLU()(x)
    assert torch.all(torch.diff(y) >= 0)
    right = x >= S.SILU_ARGMIN
    assert torch.equal(y[right], torch.nn.functional.silu(x[right]))
    assert torch.allclose(y[~right], torch.full_like(y[~right], S.SILU_MIN))
    y.sum().backward()
    assert torch.all(x.grad[~right] == 0) and torch.all(x.grad[right] >= -1e-12)
    near = (x - S.SILU_ARGMIN).abs() < 1e-2
    assert x.grad[near].abs().max() < 1e-2          # the derivative is continuous (0) at the minimum


def test_digits_data_is_a_seeded_standardized_split():
    d = S.digits_data(seed=3)
    assert d.X_train.shape == (1258, 64) and d.X_test.shape == (539, 64)
    assert np.allclose(d.X_train.mean(0), 0, atol=1e-12)
    assert np.array_equal(d.y_test, S.digits_data(seed=3).y_test)
    assert not np.array_equal(d.y_test, S.digits_data(seed=4).y_test)


def test_train_digits_records_losses_betas_and_preactivations():
    run = S.train_digits("swish_learned", seed=0, hidden=(16, 8), steps=4)
    assert run.losses.shape == (4,) and run.betas.shape == (5, 2)
    assert np.all(run.betas[0] == 1.0) and not np.all(run.betas[-1] == 1.0)
    assert [p.shape for p in run.preacts] == [(539, 16), (539, 8)]
    assert 0 <= run.test_accuracy <= 1 and np.isfinite(run.test_loss)
    plain = S.train_digits("silu_monotone", seed=0, hidden=(8,), steps=2)
    assert plain.betas.shape == (3, 0)
    with pytest.raises(ValueError, match="unknown activation"):
        S.train_digits("mish")


def test_learnable_swish_matches_the_reference_and_its_beta_gradient():
    from actlab import numpy_ref
    x = torch.linspace(-6, 6, 25, dtype=torch.float64).reshape(5, 5)
    m = S.LearnableSwish(1.5, num_parameters=5).double()
    y = m(x)
    assert m.beta.shape == (5,)
    assert np.allclose(y.detach().numpy(), numpy_ref.swish(x.numpy(), 1.5), rtol=1e-12)
    y.sum().backward()
    assert np.allclose(m.beta.grad.numpy(), numpy_ref.swish_grad_beta(x.numpy(), 1.5).sum(0), rtol=1e-10)
    assert S.LearnableSwish().beta.shape == ()
