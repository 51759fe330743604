"""Grading fairness for chapter 02 (sigmoid): other correct solutions get full marks, typical mistakes lose
the exercise's points at the check that should catch them, with a message that says why. The pattern of
tests/test_ch00_exercises.py."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("02_sigmoid")
VISIBLE = "visible: worked example"
HIDDEN = {"ex1-sigmoid": ["hidden: random, extreme and infinite inputs, both dtypes",
                          "hidden: ±1000 and beyond without overflow warnings"],
          "ex2-sigmoid-grad": ["hidden: random, extreme and infinite inputs, both dtypes"],
          "ex3-bce": ["hidden: random, soft labels, extreme logits, both dtypes"],
          "ex4-logreg-grad": ["hidden: random, one sample, one feature, huge logits, float32"]}
POINTS = {"ex1-sigmoid": 2, "ex2-sigmoid-grad": 2, "ex3-bce": 3, "ex4-logreg-grad": 3}
ALL = lambda g: [VISIBLE] + HIDDEN[g]  # noqa: E731

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-sigmoid": {
        "via tanh: (1 + tanh(x/2)) / 2": """
def stable_sigmoid(x):
    return 0.5 * (1 + np.tanh(x / 2))
""",
        "two branches, each computed only where it applies": """
def stable_sigmoid(x):
    x = np.asarray(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1 + ex)
    return out
""",
        "exp(-logaddexp(0, -x))": """
def stable_sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))
""",
        "exp(min(x, 0)) / (1 + exp(-|x|))": """
def stable_sigmoid(x):
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))
""",
        "np.piecewise with two branches": """
def stable_sigmoid(x):
    x = np.asarray(x)
    return np.piecewise(x, [x >= 0, x < 0], [lambda t: 1 / (1 + np.exp(-t)), lambda t: np.exp(t) / (1 + np.exp(t))])
""",
    },
    "ex2-sigmoid-grad": {
        "σ(x) σ(-x) with a two-branch σ": """
def sigmoid_grad(x):
    def s(t):
        e = np.exp(-np.abs(t))
        return np.where(t >= 0, 1, e) / (1 + e)
    return s(x) * s(-x)
""",
        "σ(1 - σ) with σ via tanh": """
def sigmoid_grad(x):
    s = 0.5 * (1 + np.tanh(x / 2))
    return s * (1 - s)
""",
        "1 / (4 cosh²(x/2)) (overflow warnings, right values)": """
def sigmoid_grad(x):
    return 0.25 / np.cosh(x / 2) ** 2
""",
        "the textbook σ(1 - σ) with σ = 1/(1 + exp(-x)) (warns, right values)": """
def sigmoid_grad(x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)
""",
    },
    "ex3-bce": {
        "logaddexp(0, z) - y z": """
def bce_with_logits(z, y):
    return np.logaddexp(0, z) - y * z
""",
        "y softplus(-z) + (1 - y) softplus(z), softplus by logaddexp": """
def bce_with_logits(z, y):
    return y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
""",
        "two branches on the sign of z": """
def bce_with_logits(z, y):
    return np.where(z >= 0, (1 - y) * z, -y * z) + np.log1p(np.exp(-np.abs(z)))
""",
        "log(1 + exp(-|z|)) instead of log1p": """
def bce_with_logits(z, y):
    return np.maximum(z, 0) - z * y + np.log(1 + np.exp(-np.abs(z)))
""",
    },
    "ex4-logreg-grad": {
        "the textbook sigmoid (warns for huge logits, right values)": """
def logreg_grad(w, b, X, y):
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return X.T @ (p - y) / len(y), np.mean(p - y)
""",
        "a loop over the samples, sigmoid via tanh": """
def logreg_grad(w, b, X, y):
    gw, gb = np.zeros_like(w, dtype=X.dtype), X.dtype.type(0)
    for xi, yi in zip(X, y):
        r = 0.5 * (1 + np.tanh((xi @ w + b) / 2)) - yi
        gw = gw + r * xi
        gb = gb + r
    return gw / len(y), gb / len(y)
""",
        "einsum and np.average": """
def logreg_grad(w, b, X, y):
    z = np.einsum("nd,d->n", X, w) + b
    r = np.exp(-np.logaddexp(0, -z)) - y
    return np.einsum("nd,n->d", X, r) / X.shape[0], np.average(r)
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-sigmoid": {
        "the naive formula 1 / (1 + exp(-x)) (overflow warnings)": ("""
def stable_sigmoid(x):
    return 1 / (1 + np.exp(-x))
""", [VISIBLE, HIDDEN["ex1-sigmoid"][1]], "overflow encountered in exp"),
        "np.where over two unguarded branches (warnings, NaN not selected)": ("""
def stable_sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
""", [VISIBLE, HIDDEN["ex1-sigmoid"][1]], "this check requires no warnings"),
        "exp(x) / (1 + exp(x)) (NaN for large x)": ("""
def stable_sigmoid(x):
    return np.exp(x) / (1 + np.exp(x))
""", ALL("ex1-sigmoid"), "got nan"),
        "float64 constants turn float32 into float64": ("""
def stable_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)
""", ALL("ex1-sigmoid"), "expected dtype float32"),
        "calls scipy.special.expit": ("""
from scipy.special import expit
def stable_sigmoid(x):
    return expit(x)
""", [HIDDEN["ex1-sigmoid"][0]], "must not use scipy.special.expit"),
        "calls torch.sigmoid": ("""
import torch
def stable_sigmoid(x):
    return torch.sigmoid(torch.from_numpy(np.asarray(x))).numpy()
""", [HIDDEN["ex1-sigmoid"][0]], "must not use torch.sigmoid"),
        "calls the library": ("""
from actlab.numpy_ref import sigmoid as stable_sigmoid
""", [HIDDEN["ex1-sigmoid"][0]], "must not use actlab"),
    },
    "ex2-sigmoid-grad": {
        "a wrong derivative: σ(1 + σ)": ("""
def sigmoid_grad(x):
    s = 0.5 * (1 + np.tanh(x / 2))
    return s * (1 + s)
""", ALL("ex2-sigmoid-grad"), "expected 0.0, got 2.0"),
        "a missing factor: σ only": ("""
def sigmoid_grad(x):
    return 0.5 * (1 + np.tanh(x / 2))
""", ALL("ex2-sigmoid-grad"), "expected 0.0, got 1.0 at x[1] = 1000.0"),
        "the textbook exp(-x) / (1 + exp(-x))² (NaN at -1000)": ("""
def sigmoid_grad(x):
    return np.exp(-x) / (1 + np.exp(-x)) ** 2
""", ALL("ex2-sigmoid-grad"), "got nan"),
        "1 - σ² (the tanh rule)": ("""
def sigmoid_grad(x):
    s = 0.5 * (1 + np.tanh(x / 2))
    return 1 - s ** 2
""", ALL("ex2-sigmoid-grad"), "expected 0.0, got 1.0 at x[2] = -1000.0"),
        "calls the library": ("""
import actlab
def sigmoid_grad(x):
    return actlab.numpy_ref.sigmoid_grad(x)
""", HIDDEN["ex2-sigmoid-grad"], "must not use actlab"),
    },
    "ex3-bce": {
        "the textbook -y log σ - (1 - y) log(1 - σ)": ("""
def bce_with_logits(z, y):
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1, e) / (1 + e)
    return -y * np.log(s) - (1 - y) * np.log(1 - s)
""", ALL("ex3-bce"), "got inf"),
        "softplus with an overflowing exp": ("""
def bce_with_logits(z, y):
    return np.log1p(np.exp(z)) - y * z
""", HIDDEN["ex3-bce"], "expected 1000.0, got inf"),
        "a sign error: + y z": ("""
def bce_with_logits(z, y):
    return np.maximum(z, 0) + z * y + np.log1p(np.exp(-np.abs(z)))
""", ALL("ex3-bce"), "expected 1000.0, got -1000.0"),
        "forgets the max(z, 0) term": ("""
def bce_with_logits(z, y):
    return -z * y + np.log1p(np.exp(-np.abs(z)))
""", ALL("ex3-bce"), "expected"),
        "computes in float64 and returns float64": ("""
def bce_with_logits(z, y):
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
""", HIDDEN["ex3-bce"], "expected dtype float32"),
    },
    "ex4-logreg-grad": {
        "sums instead of averaging (a missing 1/n)": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w + b) / 2))
    return X.T @ (p - y), np.sum(p - y)
""", ALL("ex4-logreg-grad"), "grad_w: expected -0.75, got -1.5"),
        "y - p (the sign of the gradient)": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w + b) / 2))
    return X.T @ (y - p) / len(y), np.mean(y - p)
""", ALL("ex4-logreg-grad"), "grad_w: expected -0.75, got 0.75"),
        "an extra σ'(z) factor (the squared-error gradient)": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w + b) / 2))
    r = (p - y) * p * (1 - p)
    return X.T @ r / len(y), np.mean(r)
""", ALL("ex4-logreg-grad"), "grad_w: expected -0.75, got -0.1875"),
        "forgets the bias in the logit": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w) / 2))
    return X.T @ (p - y) / len(y), np.mean(p - y)
""", HIDDEN["ex4-logreg-grad"], "expected"),
        "X (p - y) instead of X^T (p - y)": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w + b) / 2))
    return (p - y) @ X.T / len(y), np.mean(p - y)
""", ALL("ex4-logreg-grad"), "grad_w"),
        "grad_b as a Python float (float64 where float32 is due)": ("""
def logreg_grad(w, b, X, y):
    p = 0.5 * (1 + np.tanh((X @ w + b) / 2))
    return X.T @ (p - y) / len(y), float(np.mean(p - y))
""", HIDDEN["ex4-logreg-grad"], "grad_b: expected dtype float32"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: ALL(g) for g in POINTS}, CORRECT, WRONG)


# --------------------------------------------------------------------------- the references themselves
def test_bce_reference_matches_torch_and_is_finite():
    import numpy as np
    import torch

    from actlab.exercises import ch02
    for case in ch02.logits_and_labels(seed=0).cases:
        z, y = case.args
        ours = ch02.bce_with_logits(z, y)
        ref = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(z, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), reduction="none").numpy()
        assert ours.dtype == z.dtype and np.all(np.isfinite(ours)), case.id
        np.testing.assert_allclose(ours, ref.astype(z.dtype), rtol=1e-6, atol=1e-6, err_msg=case.id)


def test_logreg_reference_matches_autograd():
    import numpy as np
    import torch

    from actlab.exercises import ch02
    for case in ch02.logreg_problems(seed=0).cases:
        w, b, X, y = case.args
        gw, gb = ch02.logreg_grad(w, b, X, y)
        wt = torch.tensor(np.asarray(w, np.float64), requires_grad=True)
        bt = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(np.asarray(X, np.float64)) @ wt + bt, torch.tensor(np.asarray(y, np.float64)))
        loss.backward()
        assert gw.dtype == X.dtype and isinstance(gb, X.dtype.type), case.id
        tol = 1e-5 if X.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=tol, atol=tol, err_msg=case.id)
        assert abs(gb - bt.grad.item()) <= tol, case.id


def test_overflow_inputs_really_overflow_a_naive_formula():
    """Each case overflows 1/(1 + exp(-x)) (large negative x) or exp(x)/(1 + exp(x)) (large positive x)."""
    import warnings

    import numpy as np

    from actlab.exercises import ch02
    for case in ch02.overflow_inputs().cases:
        x = case.args[0]
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="ignore"):
            warnings.simplefilter("always")
            1 / (1 + np.exp(-x)) if np.min(x) < 0 else np.exp(x) / (1 + np.exp(x))
        assert any("overflow" in str(w.message) for w in caught), case.id
