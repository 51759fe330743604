"""Grading fairness for chapter 09 (Swish / SiLU): other correct solutions get full marks, typical mistakes lose
the exercise's points at the check that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("09_swish")
CHECKS = {
    "ex1-swish": ["visible: worked example", "hidden: random, extreme and zero inputs, several beta",
                  "hidden: no overflow warning at ±1000"],
    "ex2-swish-grads": ["visible: worked example", "hidden: random, extreme and zero inputs, several beta"],
    "ex3-swish-function": ["visible: worked example", "hidden: random shapes, upstream gradients, beta, extremes"],
    "ex4-newton": ["visible: worked example", "hidden: several beta and step counts"],
}
POINTS = {"ex1-swish": 2, "ex2-swish-grads": 3, "ex3-swish-function": 3, "ex4-newton": 3}

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-swish": {
        "sigmoid through tanh": """
def swish(x, beta=1.0):
    return x * (0.5 * (1 + np.tanh(0.5 * (beta * x))))
""",
        "through logaddexp": """
def swish(x, beta=1.0):
    return x * np.exp(-np.logaddexp(0, -(beta * x)))
""",
        "masked assignment of the two branches": """
def swish(x, beta=1.0):
    x = np.asarray(x)
    u = beta * x
    s = np.empty_like(u)
    pos = u >= 0
    s[pos] = 1 / (1 + np.exp(-u[pos]))
    e = np.exp(u[~pos])
    s[~pos] = e / (1 + e)
    return x * s
""",
    },
    "ex2-swish-grads": {
        "sigma (1 - sigma) and x**2": """
def swish_grads(x, beta=1.0):
    u = beta * x
    e = np.exp(-np.abs(u))
    s = np.where(u >= 0, 1 / (1 + e), e / (1 + e))
    ds = s * (1 - s)
    return s * (1 + u * (1 - s)), x ** 2 * ds
""",
        "through tanh": """
def swish_grads(x, beta=1.0):
    u = beta * x
    s = 0.5 * (1 + np.tanh(0.5 * u))
    ds = 0.25 * (1 - np.tanh(0.5 * u) ** 2)
    return s + u * ds, x * (x * ds)
""",
        "sigma(u) sigma(-u) with a helper": """
def _sig(u):
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1, e) / (1 + e)

def swish_grads(x, beta=1.0):
    u = beta * x
    ds = _sig(u) * _sig(-u)
    return _sig(u) + u * ds, x * x * ds
""",
    },
    "ex3-swish-function": {
        "recomputes sigma in backward": """
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x, beta)
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx, g):
        x, beta = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        ds = s * torch.sigmoid(-beta * x)
        return g * (s + beta * x * ds), torch.sum(g * x * x * ds).reshape(beta.shape)
""",
        "beta's gradient left elementwise (autograd sums it to beta's shape)": """
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        return g * (s + beta * x * ds), g * x * x * ds
""",
        "sigmoid through tanh, einsum for beta": """
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        s = 0.5 * (1 + torch.tanh(0.5 * beta * x))
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, beta, s = ctx.saved_tensors
        ds = s - s * s
        gb = torch.einsum("...,...->", grad_output, x * x * ds)
        return grad_output * s * (1 + beta * x * (1 - s)), gb
""",
    },
    "ex4-newton": {
        "math.exp on floats, sigma(-u) separately": """
import math
def newton_swish_minimum(beta, steps):
    def sig(u):
        return 1 / (1 + math.exp(-u)) if u >= 0 else math.exp(u) / (1 + math.exp(u))
    x, out = 0.0, [0.0]
    for _ in range(steps):
        u = beta * x
        x = x - (1 + u * sig(-u)) / (beta * sig(-u) * (1 - u * sig(u)))
        out.append(x)
    return np.array(out)
""",
        "preallocated array": """
def newton_swish_minimum(beta, steps):
    xs = np.zeros(steps + 1)
    for n in range(steps):
        u = beta * xs[n]
        s = 0.5 * (1 + np.tanh(u / 2))
        xs[n + 1] = xs[n] - (1 + u * (1 - s)) / (beta * (1 - s) * (1 - u * s))
    return xs
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-swish": {
        "the naive formula (right values, overflow warnings)": ("""
def swish(x, beta=1.0):
    return x / (1 + np.exp(-beta * x))
""", ["hidden: no overflow warning at ±1000"], "overflow"),
        "ignores beta": ("""
def swish(x, beta=1.0):
    e = np.exp(-np.abs(x))
    return x * np.where(x >= 0, 1, e) / (1 + e)
""", CHECKS["ex1-swish"], "expected"),
        "a float64 constant turns float32 into float64": ("""
def swish(x, beta=1.0):
    u = beta * x
    e = np.exp(-np.abs(u))
    return x * np.where(u >= 0, np.float64(1.0), e) / (1 + e)
""", ["hidden: random, extreme and zero inputs, several beta", "hidden: no overflow warning at ±1000"],
            "expected dtype float32"),
        "calls scipy's expit": ("""
from scipy.special import expit
def swish(x, beta=1.0):
    return x * expit(beta * x)
""", ["hidden: random, extreme and zero inputs, several beta"], "must not use scipy.special"),
    },
    "ex2-swish-grads": {
        "forgets beta in d/dx": ("""
def swish_grads(x, beta=1.0):
    u = beta * x
    e = np.exp(-np.abs(u))
    s = np.where(u >= 0, 1, e) / (1 + e)
    ds = e / (1 + e) ** 2
    return s + x * ds, x * (x * ds)
""", CHECKS["ex2-swish-grads"], "dx: expected"),
        "one factor x missing in d/dbeta": ("""
def swish_grads(x, beta=1.0):
    u = beta * x
    e = np.exp(-np.abs(u))
    s = np.where(u >= 0, 1, e) / (1 + e)
    ds = e / (1 + e) ** 2
    return s + u * ds, x * ds
""", CHECKS["ex2-swish-grads"], "dbeta: expected"),
        "the quotient rule on the naive formula": ("""
def swish_grads(x, beta=1.0):
    e = np.exp(-beta * x)
    return (1 + e + beta * x * e) / (1 + e) ** 2, x * x * e / (1 + e) ** 2
""", ["hidden: random, extreme and zero inputs, several beta"], "got nan"),
        "returns the pair swapped": ("""
def swish_grads(x, beta=1.0):
    u = beta * x
    e = np.exp(-np.abs(u))
    s = np.where(u >= 0, 1, e) / (1 + e)
    ds = e / (1 + e) ** 2
    return x * (x * ds), s + u * ds
""", CHECKS["ex2-swish-grads"], "dx: expected"),
    },
    "ex3-swish-function": {
        "forgets the upstream gradient": ("""
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        return s + beta * x * ds, (x * x * ds).sum()
""", ["hidden: random shapes, upstream gradients, beta, extremes"], "x.grad: expected"),
        "no gradient for beta": ("""
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, beta, s = ctx.saved_tensors
        return g * (s + beta * x * s * (1 - s)), None
""", CHECKS["ex3-swish-function"], "no gradient reached beta"),
        "forward through torch's silu": ("""
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return torch.nn.functional.silu(beta * x) / beta

    @staticmethod
    def backward(ctx, g):
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        return g * (s + beta * x * ds), (g * x * x * ds).sum()
""", ["hidden: random shapes, upstream gradients, beta, extremes"], "must not use torch.nn.functional.silu"),
    },
    "ex4-newton": {
        "Newton on the derivative f' instead of g": ("""
def newton_swish_minimum(beta, steps):
    xs = [0.0]
    for _ in range(steps):
        x = xs[-1]
        s = 1 / (1 + np.exp(-beta * x))
        fp = s + beta * x * s * (1 - s)
        fpp = beta * s * (1 - s) * (2 + beta * x * (1 - 2 * s))
        xs.append(x - fp / fpp)
    return np.array(xs)
""", CHECKS["ex4-newton"], "expected"),
        "g' without the factor beta": ("""
def newton_swish_minimum(beta, steps):
    xs = [0.0]
    for _ in range(steps):
        u = beta * xs[-1]
        s = 1 / (1 + np.exp(-u))
        xs.append(xs[-1] - (1 + u * (1 - s)) / ((1 - s) * (1 - u * s)))
    return np.array(xs)
""", ["hidden: several beta and step counts"], "expected"),
        "returns only the last iterate": ("""
def newton_swish_minimum(beta, steps):
    x = 0.0
    for _ in range(steps):
        u = beta * x
        s = 1 / (1 + np.exp(-u))
        x = x - (1 + u * (1 - s)) / (beta * (1 - s) * (1 - u * s))
    return np.array([x])
""", CHECKS["ex4-newton"], "expected shape (4,)"),
        "steps of scipy's newton": ("""
from scipy.optimize import newton
from scipy.special import expit
def newton_swish_minimum(beta, steps):
    g = lambda x: 1 + beta * x * (1 - expit(beta * x))
    dg = lambda x: beta * expit(-beta * x) * (1 - beta * x * expit(beta * x))
    xs = [0.0]
    for _ in range(steps):
        xs.append(newton(g, xs[-1], fprime=dg, maxiter=1, disp=False))
    return np.array(xs)
""", ["hidden: several beta and step counts"], "must not use scipy.optimize"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)
