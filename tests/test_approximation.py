"""actlab.approximation: exact and approximate GELU / normal CDF, the largest error of an approximation, and
minimax fits of the approximations' coefficients (chapter 08)."""
import math
import warnings

import numpy as np
import pytest

from actlab import approximation as A
from actlab import numerics


def test_exact_gelu_is_accurate_in_the_left_tail():
    x = np.array([-37.0, -20.0, -10.0, -6.0, -1.0, 0.5, 3.0, 30.0])
    ref = numerics.reference("gelu", x)
    assert np.all(np.abs(A.gelu(x) / ref - 1) < 1e-12)
    assert A.normal_cdf(0.0) == 0.5


def test_tanh_form_is_the_textbook_formula_without_its_cancellation():
    x = np.linspace(-4, 4, 801)
    textbook = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    assert np.abs(A.gelu_tanh(x) - textbook).max() < 1e-15
    assert A.gelu_tanh(-10.0) < 0 and A.gelu_tanh(-10.0) > -1e-30     # textbook gives -0.0 here
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert A.gelu_tanh(np.array([-1e6, 1e6])).tolist() == [-0.0, 1e6]
        assert A.gelu_sigmoid(np.array([-1e6, 1e6])).tolist() == [-0.0, 1e6]


def test_taylor_coefficient():
    assert A.TAYLOR_C == pytest.approx((4 - math.pi) / (6 * math.pi), rel=1e-15)


def test_max_abs_error_finds_interior_end_point_and_narrow_maxima():
    e, x = A.max_abs_error(np.sin, np.zeros_like, 0.0, 3.0)
    assert e == pytest.approx(1.0, abs=1e-15) and x == pytest.approx(math.pi / 2, abs=1e-6)
    e, x = A.max_abs_error(lambda t: np.asarray(t) ** 2, np.zeros_like, -1.0, 2.0)
    assert (e, x) == (4.0, 2.0)                                    # at the right end point
    bump = lambda t: 1e-3 * np.exp(-((np.asarray(t) - 0.123456) / 1e-4) ** 2)  # narrower than the grid step
    e, x = A.max_abs_error(bump, np.zeros_like, -5.0, 5.0, n=20_001)
    assert e == pytest.approx(1e-3, rel=1e-9) and x == pytest.approx(0.123456, abs=1e-8)


def test_max_abs_error_of_the_published_approximations():
    e_tanh, x_tanh = A.max_abs_error(A.gelu_tanh, A.gelu, -10, 10)
    e_sig, x_sig = A.max_abs_error(A.gelu_sigmoid, A.gelu, -10, 10)
    assert e_tanh == pytest.approx(4.7324e-4, rel=1e-4) and abs(x_tanh) == pytest.approx(2.6989, abs=1e-3)
    assert e_sig == pytest.approx(2.0335e-2, rel=1e-4) and abs(x_sig) == pytest.approx(2.2704, abs=1e-3)


def test_max_abs_error_checks_its_arguments():
    with pytest.raises(ValueError, match="lo < hi"):
        A.max_abs_error(np.sin, np.cos, 1.0, 1.0)
    with pytest.raises(ValueError, match="not finite"):
        A.max_abs_error(lambda t: np.where(np.asarray(t) == 0, np.inf, 0.0), np.zeros_like, -1.0, 1.0, n=3)


def test_the_published_constants_are_minimax_fits_to_phi():
    c, err_c = A.minimax_coefficient(A.cdf_tanh, A.normal_cdf, (0.03, 0.06))
    k, err_k = A.minimax_coefficient(A.cdf_sigmoid, A.normal_cdf, (1.5, 1.9))
    assert round(c, 6) == 0.044715 and err_c == pytest.approx(1.789e-4, rel=1e-3)
    assert round(k, 3) == 1.702 and err_k == pytest.approx(9.457e-3, rel=1e-3)
    c_gelu, _ = A.minimax_coefficient(A.gelu_tanh, A.gelu, (0.03, 0.06))
    assert abs(c_gelu - 0.044715) > 2e-4                           # not the best choice for GELU itself
