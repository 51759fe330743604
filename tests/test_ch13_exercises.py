"""Grading fairness for the capstone (pattern of tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("13_capstone")
VISIBLE = {"ex1-derivatives": "visible: two values at 0", "ex2-saturation": "visible: worked example",
           "ex3-paired": "visible: worked example", "ex4-gradient-flow": "visible: worked example"}
HIDDEN = {"ex1-derivatives": "hidden: eight activations, dtypes and extremes",
          "ex2-saturation": "hidden: random tables and edge cases",
          "ex3-paired": "hidden: 2 to 10 seeds, ties and gaps",
          "ex4-gradient-flow": "hidden: depths 1 to 6, three activations, saturated units"}
POINTS = {"ex1-derivatives": 3, "ex2-saturation": 2, "ex3-paired": 3, "ex4-gradient-flow": 3}

# ex4: a recursive backward through each layer, derivatives from z (not from h), sigmoid via tanh
_FLOW_RECURSIVE = """
def gradient_norms(weights, x, name):
    f = {"tanh": np.tanh, "sigmoid": lambda z: 0.5 + 0.5 * np.tanh(z / 2), "relu": lambda z: np.maximum(z, 0)}[name]
    df = {"tanh": lambda z: 1 / np.cosh(np.clip(z, -300, 300)) ** 2,
          "sigmoid": lambda z: 0.25 / np.cosh(np.clip(z, -600, 600) / 2) ** 2,
          "relu": lambda z: np.heaviside(z, 0.0)}[name]

    def back(h, ws):              # returns (dL/dh, [dL/dW for ws])
        z = h @ ws[0]
        if len(ws) == 1:
            delta = df(z)
            return delta @ ws[0].T, [h.T @ delta]
        g_next, grads = back(f(z), ws[1:])
        delta = g_next * df(z)
        return delta @ ws[0].T, [h.T @ delta] + grads

    return np.array([np.sqrt((g ** 2).sum()) for g in back(np.asarray(x, float), list(weights))[1]])
"""
_FLOW_OK = """
def gradient_norms(weights, x, name):
    def f(z):
        if name == "tanh":
            return np.tanh(z)
        if name == "sigmoid":
            e = np.exp(-np.abs(z))
            return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return np.maximum(z, 0.0)

    def slope(z, h):
        if name == "tanh":
            return 1 - h * h
        if name == "sigmoid":
            return h * (1 - h)
        return (z > 0).astype(np.float64)

    hs, zs = [np.asarray(x, dtype=np.float64)], []
    for w in weights:
        zs.append(hs[-1] @ w)
        hs.append(f(zs[-1]))
    delta = slope(zs[-1], hs[-1])
    norms = []
    for i in range(len(weights) - 1, -1, -1):
        norms.append(np.linalg.norm(hs[i].T @ delta))
        if i:
            delta = (delta @ weights[i].T) * slope(zs[i - 1], hs[i])
    return np.array(norms[::-1])
"""

_DERIV = """
def derivative(name, x):
    t = np.tanh(x / 2)
    s = (0.5 + 0.5 * t).astype(x.dtype)          # sigmoid via tanh: no overflow
    ex = np.exp(np.clip(x, None, 0))
    if name == "sigmoid":
        return (s * (1 - s)).astype(x.dtype)
    if name == "tanh":
        return (1 - np.tanh(x) ** 2).astype(x.dtype)
    if name == "relu":
        return np.heaviside(x, 0.0).astype(x.dtype)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, 0.01).astype(x.dtype)
    if name == "elu":
        return np.where(x > 0, 1.0, ex).astype(x.dtype)
    if name == "selu":
        return (1.0507009873554805 * np.where(x > 0, 1.0, 1.6732632423543772 * ex)).astype(x.dtype)
    if name == "gelu":
        xc = np.clip(x, -40, 40)
        return (0.5 * erfc(-x / 2 ** 0.5) + xc * np.exp(-xc * xc / 2) / np.sqrt(2 * np.pi)).astype(x.dtype)
    if name == "silu":
        return (s * (1 + x * (1 - s))).astype(x.dtype)
"""

CORRECT = {
    "ex1-derivatives": {"sigmoid via tanh, one branch per name": _DERIV},
    "ex2-saturation": {
        "counts with sums": """
def saturation(slopes, max_slope, eps=0.01):
    s = np.abs(slopes) < eps * max_slope
    n, u = s.shape
    return s.sum() / (n * u), sum(bool(s[:, j].all()) for j in range(u)) / u
""",
    },
    "ex4-gradient-flow": {"recursive, derivatives from z, sigmoid via tanh": _FLOW_RECURSIVE},
    "ex3-paired": {
        "t quantile by its inverse CDF name, lists": """
import math
from scipy.stats import t as student
def paired_difference(a, b):
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    m = sum(d) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1))
    return m, student.ppf(0.975, df=n - 1) * sd / math.sqrt(n)
""",
    },
}

WRONG = {
    "ex4-gradient-flow": {
        "forgets the activation's slope on the way down": (_FLOW_OK.replace(
            "delta = (delta @ weights[i].T) * slope(zs[i - 1], hs[i])", "delta = delta @ weights[i].T"),
            ["hidden: depths 1 to 6, three activations, saturated units"], "expected"),
        "naive sigmoid overflows": (_FLOW_OK.replace(
            "e = np.exp(-np.abs(z))\n            return np.where(z >= 0, 1 / (1 + e), e / (1 + e))",
            "return 1 / (1 + np.exp(-z))"),
            ["hidden: depths 1 to 6, three activations, saturated units"], "warning"),
        "W instead of its transpose on the way down": (_FLOW_OK.replace(
            "delta @ weights[i].T", "delta @ weights[i]"),
            ["hidden: depths 1 to 6, three activations, saturated units"], ""),
        "gradient with respect to h instead of W": (_FLOW_OK.replace(
            "np.linalg.norm(hs[i].T @ delta)", "np.linalg.norm(delta @ weights[i].T)"),
            ["visible: worked example", "hidden: depths 1 to 6, three activations, saturated units"],
            "expected"),
    },
    "ex1-derivatives": {
        "naive sigmoid overflows to nan at -1000": ("""
def derivative(name, x):
    s = 1 / (1 + np.exp(-x))
    return {"sigmoid": s * (1 - s), "tanh": 1 - np.tanh(x) ** 2, "relu": (x > 0) * 1.0,
            "leaky_relu": np.where(x > 0, 1.0, 0.01), "elu": np.where(x > 0, 1.0, np.exp(x)),
            "selu": 1.0507 * np.where(x > 0, 1.0, 1.6733 * np.exp(x)),
            "gelu": 0.5 * erfc(-x / 2 ** 0.5) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi),
            "silu": s + x * s * (1 - s)}[name].astype(x.dtype)
""", ["hidden: eight activations, dtypes and extremes"], "expected"),
        "gelu' without the x·φ(x) term": (_DERIV.replace(
            "+ xc * np.exp(-xc * xc / 2) / np.sqrt(2 * np.pi)", ""),
            ["hidden: eight activations, dtypes and extremes"], "case 'gelu: random (4, 8) (float32, seed 13)'"),
        "calls scipy's expit": ("""
from scipy.special import expit
def derivative(name, x):
    s = expit(x)
    return (s * (1 - s)).astype(x.dtype)
""", ["visible: two values at 0", "hidden: eight activations, dtypes and extremes"], "expected 0.5, got 0.25"),
    },
    "ex2-saturation": {
        "uses <= instead of <": ("""
def saturation(slopes, max_slope, eps=0.01):
    s = np.abs(slopes) <= eps * max_slope
    return float(s.mean()), float(s.all(axis=0).mean())
""", ["hidden: random tables and edge cases"], "expected"),
        "dead = saturated on ANY input": ("""
def saturation(slopes, max_slope, eps=0.01):
    s = np.abs(slopes) < eps * max_slope
    return float(s.mean()), float(s.any(axis=0).mean())
""", ["hidden: random tables and edge cases"], "dead: expected 0.25, got 1.0"),
    },
    "ex3-paired": {
        "1.96 instead of Student's t": ("""
def paired_difference(a, b):
    d = np.asarray(a) - np.asarray(b)
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(len(d)))
""", ["visible: worked example", "hidden: 2 to 10 seeds, ties and gaps"], "half_width: expected"),
        "ddof = 0": ("""
from scipy import stats
def paired_difference(a, b):
    d = np.asarray(a) - np.asarray(b)
    return float(d.mean()), float(stats.t.ppf(0.975, len(d) - 1) * d.std() / np.sqrt(len(d)))
""", ["visible: worked example", "hidden: 2 to 10 seeds, ties and gaps"], "half_width: expected"),
        "unpaired: the spreads of a and b": ("""
from scipy import stats
def paired_difference(a, b):
    a, b = np.asarray(a), np.asarray(b)
    n = len(a)
    se = np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.975, n - 1) * se)
""", ["visible: worked example", "hidden: 2 to 10 seeds, ties and gaps"], "half_width: expected"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: [VISIBLE[g], HIDDEN[g]] for g in POINTS}, CORRECT, WRONG)
