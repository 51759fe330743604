"""Grading fairness for chapter 08 (GELU): other correct solutions get full marks, typical mistakes lose the
exercise's points at the checks that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""
import numpy as np
import pytest

from actlab import numpy_ref
from actlab.exercises import ch08
from exercise_harness import Chapter, fairness_tests

CH = Chapter("08_gelu")
R64, R32 = "hidden: random and the left tail (float64)", "hidden: random and the left tail (float32)"
EXT = "hidden: x = ±100, ±1000, no warnings"
CHECKS = {
    "ex1-gelu": ["visible: worked examples", R64, R32, EXT],
    "ex2-gelu-tanh": ["visible: worked examples", R64, R32, EXT],
    "ex3-gelu-function": ["visible: worked examples", R64, R32, "hidden: x = ±100, ±1000"],
    "ex4-max-error": ["visible: GELU vs its tanh form", "hidden: end points, narrow peaks, wide intervals"],
}
POINTS = {"ex1-gelu": 3, "ex2-gelu-tanh": 2, "ex3-gelu-function": 3, "ex4-max-error": 3}

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-gelu": {
        "erf on the right, erfc on the left": """
def gelu(x):
    s = math.sqrt(2.0)
    return np.where(x >= 0, 0.5 * x * (1 + sc.erf(x / s)), 0.5 * x * sc.erfc(-x / s))
""",
        "in float64, rounded back": """
def gelu(x):
    x64 = np.asarray(x, dtype=np.float64)
    return (x64 * 0.5 * sc.erfc(-x64 / np.sqrt(2))).astype(x.dtype)
""",
        "math.erfc, vectorized": """
def gelu(x):
    cdf = np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0)))(x.astype(np.float64))
    return (x.astype(np.float64) * cdf).astype(x.dtype)
""",
        "multiplication by 1/sqrt 2, imported erfc": """
from scipy.special import erfc
def gelu(x):
    return x * erfc(x * -0.7071067811865476) / 2
""",
    },
    "ex2-gelu-tanh": {
        "textbook on the right, 2 sigma(2u) on the left": """
def gelu_tanh(x):
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    e = np.exp(-2 * np.abs(u))
    return np.where(u >= 0, 0.5 * x * (1 + np.tanh(u)), x * e / (1 + e))
""",
        "in float64, rounded back": """
def gelu_tanh(x):
    x64 = x.astype(np.float64)
    v = 2 * np.sqrt(2 / np.pi) * x64 * (1 + 0.044715 * x64 * x64)
    e = np.exp(-np.abs(v))
    return (x64 * np.where(v >= 0, 1 / (1 + e), e / (1 + e))).astype(x.dtype)
""",
        "exp of the negative part only": """
def gelu_tanh(x):
    v = 2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    a = np.exp(np.minimum(v, 0.0))       # e^v where v <= 0
    b = np.exp(-np.maximum(v, 0.0))      # e^-v where v > 0
    return x * np.where(v > 0, 1 / (1 + b), a / (1 + a))
""",
    },
    "ex3-gelu-function": {
        "saves Phi and phi in forward": """
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * torch.special.erfc(-x / math.sqrt(2.0))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        ctx.save_for_backward(x, cdf, pdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad_output):
        x, cdf, pdf = ctx.saved_tensors
        return grad_output * (cdf + x * pdf)
""",
        "computes in float64, returns the input's dtype": """
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        x64 = x.double()
        return (x64 * torch.erfc(-x64 / math.sqrt(2.0)) / 2).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        x64 = x.double()
        d = torch.erfc(-x64 / math.sqrt(2.0)) / 2 + x64 * torch.exp(-x64 ** 2 / 2) / math.sqrt(2 * math.pi)
        return (grad_output.double() * d).to(x.dtype)
""",
        "a helper for Phi and phi": """
def _cdf_pdf(x):
    return 0.5 * torch.erfc(-x * (1 / math.sqrt(2))), torch.exp(-x * x / 2) * (1 / math.sqrt(2 * math.pi))

class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * _cdf_pdf(x)[0]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        cdf, pdf = _cdf_pdf(x)
        return g * cdf + g * x * pdf
""",
    },
    "ex4-max-error": {
        "grid, then golden-section search by hand": """
def max_abs_error(f, g, lo, hi):
    e = lambda t: abs(f(t) - g(t))
    x = np.linspace(lo, hi, 100_001)
    i = int(np.argmax(np.abs(f(x) - g(x))))
    a, b = x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]
    r = (math.sqrt(5) - 1) / 2
    for _ in range(200):
        c, d = b - r * (b - a), a + r * (b - a)
        if e(c) >= e(d):
            b = d
        else:
            a = c
    best = max([(e(x[i]), x[i]), (e((a + b) / 2), (a + b) / 2)])
    return best
""",
        "the top five grid peaks, each refined with fminbound": """
from scipy.optimize import fminbound
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 50_001)
    err = np.abs(f(x) - g(x))
    best = (err.max(), x[err.argmax()])
    for i in np.argsort(err)[-5:]:
        a, b = x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]
        t = fminbound(lambda s: -abs(f(s) - g(s)), a, b, xtol=1e-12)
        best = max(best, (abs(f(t) - g(t)), t))
    return best
""",
        "numpy scalars and a list": """
from scipy.optimize import minimize_scalar
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 300_001)
    err = np.abs(f(x) - g(x))
    i = np.argmax(err)
    a, b = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
    res = minimize_scalar(lambda t: -abs(f(t) - g(t)), bounds=(a, b), method="bounded",
                          options={"xatol": 1e-12})
    return [np.float64(-res.fun), np.float64(res.x)] if -res.fun > err[i] else [err[i], x[i]]
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-gelu": {
        "the textbook formula with erf": ("""
def gelu(x):
    return 0.5 * x * (1 + sc.erf(x / math.sqrt(2.0)))
""", ["visible: worked examples", R64, R32], "expected -5.9195"),
        "np.sqrt(2) turns float32 into float64": ("""
def gelu(x):
    return 0.5 * x * sc.erfc(-x / np.sqrt(2))
""", ["visible: worked examples", R32, EXT], "expected dtype float32"),
        "calls scipy's ndtr": ("""
from scipy.special import ndtr
def gelu(x):
    return x * ndtr(x)
""", [R64], "must not use scipy.special.ndtr"),
        "the tanh approximation instead of the exact function": ("""
def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
""", ["visible: worked examples", R64, R32], "expected"),
        "forgets the factor 1/2": ("""
def gelu(x):
    return x * sc.erfc(-x / math.sqrt(2.0))
""", ["visible: worked examples", R64, R32, EXT], "expected"),
    },
    "ex2-gelu-tanh": {
        "the textbook expression (cancels)": ("""
def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
""", ["visible: worked examples", R64, R32], "expected -2.2917"),
        "a naive sigmoid (overflows)": ("""
def gelu_tanh(x):
    v = 2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    return x / (1 + np.exp(-v))
""", [EXT], "overflow"),
        "a wrong cubic coefficient": ("""
def gelu_tanh(x):
    v = 2 * math.sqrt(2 / math.pi) * (x + 0.0447 * x ** 3)
    e = np.exp(-np.abs(v))
    return x * np.where(v >= 0, 1.0, e) / (1.0 + e)
""", ["visible: worked examples", R64, R32], "expected"),
        "the exact GELU instead of the tanh form": ("""
def gelu_tanh(x):
    return 0.5 * x * sc.erfc(-x / math.sqrt(2.0))
""", ["visible: worked examples", R64, R32], "expected"),
    },
    "ex3-gelu-function": {
        "the textbook erf formula": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (0.5 * (1 + torch.erf(x / math.sqrt(2.0))) + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi))
""", ["visible: worked examples", R64, R32], "GELU(x): expected"),
        "ignores grad_output (right only for an upstream gradient of 1)": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * torch.special.erfc(-x / math.sqrt(2.0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 0.5 * torch.special.erfc(-x / math.sqrt(2.0)) + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)
""", ["visible: worked examples", R64, R32, "hidden: x = ±100, ±1000"], "GELU'(x): expected"),
        "the derivative without x phi(x)": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * torch.special.erfc(-x / math.sqrt(2.0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 0.5 * torch.special.erfc(-x / math.sqrt(2.0))
""", ["visible: worked examples", R64, R32], "GELU'(x): expected"),
        "Phi + phi, the factor x missing": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * torch.special.erfc(-x / math.sqrt(2.0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (0.5 * torch.special.erfc(-x / math.sqrt(2.0)) + torch.exp(-x * x / 2) / math.sqrt(2 * math.pi))
""", ["visible: worked examples", R64, R32], "GELU'(x): expected"),
        "torch's gelu inside": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.gelu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (0.5 * torch.special.erfc(-x / math.sqrt(2.0)) + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi))
""", ["visible: worked examples", R64, R32], "expected"),
        "no backward": ("""
class GELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 0.5 * x * torch.special.erfc(-x / math.sqrt(2.0))
""", ["visible: worked examples", R64, R32, "hidden: x = ±100, ±1000"], "NotImplementedError"),
    },
    "ex4-max-error": {
        "a coarse grid, no refinement": ("""
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 2001)
    err = np.abs(f(x) - g(x))
    return err.max(), x[err.argmax()]
""", ["visible: GELU vs its tanh form", "hidden: end points, narrow peaks, wide intervals"], "expected 0.000473"),
        "the signed difference, no absolute value": ("""
from scipy.optimize import minimize_scalar
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 200_001)
    err = f(x) - g(x)
    i = int(np.argmax(err))
    a, b = x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]
    res = minimize_scalar(lambda t: -(f(t) - g(t)), bounds=(a, b), method="bounded")
    return -res.fun, res.x
""", ["visible: GELU vs its tanh form", "hidden: end points, narrow peaks, wide intervals"], "expected 0.000473"),
        "interior points only (misses a maximum at an end point)": ("""
from scipy.optimize import minimize_scalar
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 200_001)[1:-1]
    err = np.abs(f(x) - g(x))
    i = int(np.argmax(err))
    a, b = x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]
    res = minimize_scalar(lambda t: -abs(f(t) - g(t)), bounds=(a, b), method="bounded",
                          options={"xatol": 1e-12})
    return -res.fun, res.x
""", ["hidden: end points, narrow peaks, wide intervals"], "expected 0.000152755"),
        "returns (x, error)": ("""
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 1_000_001)
    err = np.abs(f(x) - g(x))
    return x[err.argmax()], err.max()
""", ["visible: GELU vs its tanh form", "hidden: end points, narrow peaks, wide intervals"], "expected 0.000473"),
        "an x outside the interval": ("""
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo - 1, hi + 1, 1_000_001)
    err = np.abs(f(x) - g(x))
    return err.max(), x[err.argmax()]
""", ["hidden: end points, narrow peaks, wide intervals"], "outside the interval"),
        "returns the error only": ("""
def max_abs_error(f, g, lo, hi):
    x = np.linspace(lo, hi, 1_000_001)
    return float(np.abs(f(x) - g(x)).max())
""", ["visible: GELU vs its tanh form", "hidden: end points, narrow peaks, wide intervals"],
            "return a tuple (max_error, x_at_max)"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)


# --------------------------------------------------------------------------- the exercise support itself
def test_curves_are_reproducible_by_name():
    c = ch08.Curve("gelu_tanh")
    assert repr(c) == "gelu_tanh" and c == ch08.Curve("gelu_tanh") and hash(c) == hash(ch08.Curve("gelu_tanh"))
    assert isinstance(c(1.0), float) and c(np.array([1.0, 2.0])).shape == (2,)
    with pytest.raises(ValueError, match="unknown curve"):
        ch08.Curve("tanh_gelu")


@pytest.mark.parametrize("output, message", [
    (0.5, "return a tuple (max_error, x_at_max)"),
    ((1.0, 2.0, 3.0), "of length 3"),
    ((np.ones(2), 0.0), "single numbers"),
    ((1e-3, 11.0), "outside the interval [-10, 10]"),
])
def test_eval_max_error_says_what_is_wrong(output, message):
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        ch08.eval_max_error(output, ch08.Curve("gelu"), ch08.Curve("gelu_tanh"), -10.0, 10.0)


@pytest.mark.parametrize("form", ["exact", "tanh"])
def test_gelu_inputs_avoid_subnormal_results(form):
    ref = (lambda x: numpy_ref.gelu(x)) if form == "exact" else (lambda x: numpy_ref.gelu(x, approximate="tanh"))
    for case in ch08.gelu_inputs(seed=3, form=form):
        x = case.args[0]
        y = ref(x.astype(np.float64))
        tiny = np.finfo(x.dtype).tiny
        assert not np.any((y != 0) & (np.abs(y) < tiny)), case.id
