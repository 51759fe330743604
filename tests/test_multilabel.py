"""actlab.multilabel: the data, the two heads, the prediction rules and the metrics of chapter 07."""
import warnings

import numpy as np
import pytest

from actlab import multilabel as ml
from actlab import numpy_ref


def test_multilabel_data_is_seeded_and_every_row_has_a_label():
    X, Y = ml.make_multilabel(n=500, seed=3)
    X2, Y2 = ml.make_multilabel(n=500, seed=3)
    assert X.shape == (500, 8) and Y.shape == (500, 4) and Y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(Y, Y2)
    assert not np.array_equal(Y, ml.make_multilabel(n=500, seed=4)[1])
    counts = ml.label_counts(Y)
    assert min(counts) >= 1 and sum(counts.values()) == 500
    assert sum(v for k, v in counts.items() if k >= 2) > 150      # genuinely multi-label
    assert 0.3 < Y.mean() < 0.6                                   # about `rate`, raised by dropping empty rows


def test_multilabel_labels_are_a_fixed_function_of_x_within_a_seed():
    """The first n rows do not depend on n: a larger draw extends the same task (train/test splits)."""
    X, Y = ml.make_multilabel(n=2600, seed=1)
    Xs, Ys = ml.make_multilabel(n=600, seed=1)
    assert np.array_equal(X[:600], Xs) and np.array_equal(Y[:600], Ys)


def test_single_label_data_is_one_hot():
    X, Y = ml.make_single_label(n=300, n_classes=5, seed=0)
    assert X.shape == (300, 8) and Y.shape == (300, 5)
    assert np.all(Y.sum(1) == 1) and set(np.unique(Y)) == {0, 1}


def test_rate_must_be_a_probability():
    with pytest.raises(ValueError, match="rate"):
        ml.make_multilabel(rate=1.5)


def test_predict_labels_thresholds_the_sigmoid_and_keeps_one_label():
    rng = np.random.default_rng(0)
    z = 3 * rng.standard_normal((200, 5))
    t = np.array([0.2, 0.4, 0.5, 0.7, 0.95])
    on = ml.predict_labels(z, t)
    p = numpy_ref.sigmoid(z)
    rows = (p >= t).any(1)
    assert np.array_equal(on[rows], (p >= t)[rows])
    assert np.all(on.sum(1) >= 1)
    empty = ~rows
    assert empty.any() and np.all(on[empty].sum(1) == 1)
    assert np.array_equal(on[empty].argmax(1), z[empty].argmax(1))


def test_predict_labels_ties_and_extremes():
    z = np.array([[-1000.0, -5.0, -5.0], [1000.0, -1000.0, 0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on = ml.predict_labels(z, 0.5)
    assert on.tolist() == [[False, True, False], [True, False, True]]   # the first of tied maxima


@pytest.mark.parametrize("bad", [0.0, 1.0, [0.5, 1.2]])
def test_predict_labels_rejects_thresholds_outside_0_1(bad):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ml.predict_labels(np.zeros((2, 2)), bad)


def test_softmax_labels_cannot_predict_two_labels_at_one_half():
    rng = np.random.default_rng(1)
    P = numpy_ref.softmax(10 * rng.standard_normal((1000, 4)))
    assert ml.softmax_labels(P, 0.5).sum(1).max() == 1
    assert ml.softmax_labels(P, 0.2).sum(1).max() >= 2          # a lower threshold can


def test_metrics_on_a_small_example():
    Y = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    pred = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0]], dtype=bool)
    assert ml.subset_accuracy(pred, Y) == pytest.approx(1 / 3)
    assert ml.all_labels_recall(pred, Y) == pytest.approx(1 / 2)   # rows 0 and 2 have two labels; row 0 found
    assert np.isnan(ml.all_labels_recall(pred, Y, min_labels=3))


def test_heads_learn_and_only_the_softmax_head_sums_to_one():
    X, Y = ml.make_multilabel(n=1000, seed=0)
    sig = ml.train_head(X[:400], Y[:400], "sigmoid", seed=0, steps=120)
    soft = ml.train_head(X[:400], Y[:400], "softmax", seed=0, steps=120)
    assert sig.losses[-1] < 0.5 * sig.losses[0] and soft.losses[-1] < soft.losses[0]
    recall = ml.all_labels_recall(ml.predict_labels(sig.logits(X[400:])), Y[400:])
    assert recall > 0.6
    assert np.allclose(soft.probabilities(X[400:]).sum(1), 1.0)
    assert ml.all_labels_recall(ml.softmax_labels(soft.probabilities(X[400:]), 0.5), Y[400:]) == 0.0


def test_train_head_checks_its_arguments():
    X, Y = ml.make_multilabel(n=20, seed=0)
    with pytest.raises(ValueError, match="head must be"):
        ml.train_head(X, Y, "tanh")
    Y0 = Y.copy()
    Y0[0] = 0
    with pytest.raises(ValueError, match="at least one label"):
        ml.train_head(X, Y0, "softmax", steps=1)
    ml.train_head(X, Y0, "sigmoid", steps=1)     # a sigmoid head accepts a row without labels
