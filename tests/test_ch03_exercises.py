"""Grading fairness for chapter 03 (tanh): other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why.

Pattern (tests/test_ch00_exercises.py): one ``CORRECT`` and one ``WRONG`` table per exercise (solution source ->
the checks that must fail and a phrase the first failure's message must contain), run through
``exercise_harness``."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("03_tanh")
CHECKS = {
    "ex1-tanh": ["visible: worked example", "hidden: random inputs, float32 and float64",
                 "hidden: ±89, ±90, ±710, ±1000, ±inf: finite, no warnings"],
    "ex2-tanh-grad": ["visible: worked example", "hidden: random and extreme inputs, float32 and float64",
                      "hidden: ±89 to ±inf: exactly 0"],
    "ex3-scaled-tanh": ["visible: worked example", "hidden: random x and upstream gradients, extremes"],
    "ex4-sigmoid-to-tanh": ["visible: worked example and a 4-layer net",
                            "hidden: random, deep, wide and saturated networks"],
}
POINTS = {"ex1-tanh": 2, "ex2-tanh-grad": 2, "ex3-scaled-tanh": 2, "ex4-sigmoid-to-tanh": 3}
ALL = CHECKS  # shorthand in the WRONG tables

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-tanh": {
        "two branches without expm1": """
def stable_tanh(x):
    t = np.exp(-2 * np.abs(x))
    return np.sign(x) * (1 - t) / (1 + t)
""",
        "through a stable sigmoid: 2 sigma(2x) - 1": """
def stable_tanh(x):
    e = np.exp(-2 * np.abs(x))
    s = np.where(x >= 0, 1, e) / (1 + e)   # sigma(2x), two branches
    return 2 * s - 1
""",
        "copysign and expm1": """
def stable_tanh(x):
    u = np.expm1(-2 * np.abs(x))
    return np.copysign(-u / (2 + u), x)
""",
        "clip to ±20, then the textbook formula": """
def stable_tanh(x):
    x = np.clip(x, -20, 20)   # tanh(20) rounds to 1 in float64 already
    return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
""",
        "np.where over the sign, float32 constants": """
def stable_tanh(x):
    t = np.exp(np.float32(-2) * np.abs(x)).astype(x.dtype)
    r = (1 - t) / (1 + t)
    return np.where(x < 0, -r, r)
""",
    },
    "ex2-tanh-grad": {
        "(1 - y)(1 + y)": """
def tanh_grad(x):
    y = np.tanh(x)
    return (1 - y) * (1 + y)
""",
        "4 sigma'(2x), from exp(-2|x|)": """
def tanh_grad(x):
    e = np.exp(-2 * np.abs(x))
    return 4 * e / (1 + e) ** 2
""",
        "1 / cosh^2 (overflows to inf, and 1/inf = 0 is right)": """
def tanh_grad(x):
    return 1 / np.cosh(x) ** 2
""",
    },
    "ex3-scaled-tanh": {
        "saves the output y": """
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = A * torch.tanh(B * x)
        ctx.save_for_backward(y)
        return y
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * B * (A - y * y / A)
""",
        "saves x and recomputes tanh in backward": """
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return A * torch.tanh(B * x)
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * A * B * (1 - torch.tanh(B * x) ** 2)
""",
        "forward from scratch with exp(-2|Bx|), backward with 1/cosh^2": """
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        t = torch.exp(-2 * (B * x).abs())
        return A * torch.sign(x) * (1 - t) / (1 + t)
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * A * B / torch.cosh(B * x) ** 2
""",
    },
    "ex4-sigmoid-to-tanh": {
        "the theorem's factors a, o, c": """
def sigmoid_to_tanh(layers):
    out = []
    for l, (W, b) in enumerate(layers):
        a, o = (1.0, 0.0) if l == 0 else (0.5, 0.5)
        c = 0.5 if l < len(layers) - 1 else 1.0
        out.append((c * a * W, c * (b + W @ np.full(W.shape[1], o))))
    return out
""",
        "tracks the affine map from t to h as a (scale, shift) pair": """
def sigmoid_to_tanh(layers):
    scale, shift, out = 1.0, 0.0, []        # the layer's input h = scale * (its input) + shift
    for l, (W, b) in enumerate(layers):
        W2, b2 = W * scale, b + W.sum(axis=1) * shift
        if l < len(layers) - 1:
            W2, b2 = W2 / 2, b2 / 2
            scale, shift = 0.5, 0.5
        out.append((W2, b2))
    return out
""",
        "tuples, and the first and last layers written out": """
def sigmoid_to_tanh(layers):
    if len(layers) == 1:
        return [tuple(layers[0])]
    (W1, b1), *mid, (WL, bL) = layers
    res = [(W1 / 2, b1 / 2)]
    res += [(W / 4, b / 2 + W.sum(1) / 4) for W, b in mid]
    res.append((WL / 2, bL + WL.sum(1) / 2))
    return tuple(res)
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-tanh": {
        "the textbook formula (NaN beyond 88.7)": ("""
def stable_tanh(x):
    return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
""", ALL["ex1-tanh"], "expected -1.0, got nan"),
        "the e^(2x) variant (NaN beyond 44.4)": ("""
def stable_tanh(x):
    e = np.exp(2 * x)
    return (e - 1) / (e + 1)
""", ALL["ex1-tanh"][1:], "got nan"),
        "sinh / cosh": ("""
def stable_tanh(x):
    return np.sinh(x) / np.cosh(x)
""", ALL["ex1-tanh"], "got nan"),
        "forgets the sign (tanh is odd)": ("""
def stable_tanh(x):
    t = np.exp(-2 * np.abs(x))
    return (1 - t) / (1 + t)
""", ALL["ex1-tanh"], "expected -1.0, got 1.0"),
        "computes in float64": ("""
def stable_tanh(x):
    t = np.exp(-2 * np.abs(x.astype(np.float64)))
    return np.sign(x) * (1 - t) / (1 + t)
""", ALL["ex1-tanh"], "expected dtype float32"),
        "right values, but an overflow warning at +1000": ("""
def stable_tanh(x):
    e = np.exp(2 * x)
    return np.where(np.isinf(e), 1.0, (e - 1) / (e + 1))
""", ALL["ex1-tanh"][2:], "this check requires no warnings"),
        "calls np.tanh": ("""
def stable_tanh(x):
    return np.tanh(x)
""", ALL["ex1-tanh"][1:2], "must not use numpy.tanh"),
    },
    "ex2-tanh-grad": {
        "forgets the square": ("""
def tanh_grad(x):
    return 1 - np.tanh(x)
""", ALL["ex2-tanh-grad"], "expected 0.419974"),
        "the sigmoid's pattern y (1 - y)": ("""
def tanh_grad(x):
    y = np.tanh(x)
    return y * (1 - y)
""", ALL["ex2-tanh-grad"], "expected 1.0, got 0.0"),
        "1 - tanh^2 with the textbook tanh (NaN at large |x|)": ("""
def tanh_grad(x):
    y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
    return 1 - y ** 2
""", ALL["ex2-tanh-grad"][1:], "got nan"),
        "returns float64 for float32 input": ("""
def tanh_grad(x):
    return 1 - np.tanh(x.astype(float)) ** 2
""", ALL["ex2-tanh-grad"], "expected dtype float32"),
        "calls the library": ("""
from actlab.numpy_ref import tanh_grad
""", ALL["ex2-tanh-grad"][1:2], "must not use actlab.numpy_ref.tanh_grad"),
    },
    "ex3-scaled-tanh": {
        "ignores grad_output (right only for an upstream gradient of 1)": ("""
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = torch.tanh(B * x)
        ctx.save_for_backward(t)
        return A * t
    @staticmethod
    def backward(ctx, grad_output):
        (t,) = ctx.saved_tensors
        return A * B * (1 - t * t)
""", ALL["ex3-scaled-tanh"], "gradient: expected"),   # the checks backpropagate an upstream gradient != 1
        "forgets the inner factor B": ("""
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = torch.tanh(B * x)
        ctx.save_for_backward(t)
        return A * t
    @staticmethod
    def backward(ctx, grad_output):
        (t,) = ctx.saved_tensors
        return grad_output * A * (1 - t * t)
""", ALL["ex3-scaled-tanh"], "gradient: expected 1.14393"),
        "the sigmoid's derivative pattern t (1 - t)": ("""
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = torch.tanh(B * x)
        ctx.save_for_backward(t)
        return A * t
    @staticmethod
    def backward(ctx, grad_output):
        (t,) = ctx.saved_tensors
        return grad_output * A * B * t * (1 - t)
""", ALL["ex3-scaled-tanh"], "gradient: expected 1.14393"),
        "no hand-written backward: autograd differentiates torch.tanh": ("""
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction:
    @staticmethod
    def apply(x):
        return A * torch.tanh(B * x)
""", ALL["ex3-scaled-tanh"][1:], "must not use aten.tanh_backward"),
        "the slope of tanh at x instead of at Bx": ("""
A, B = 1.7159, 2.0 / 3.0
class ScaledTanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return A * torch.tanh(B * x)
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * A * B * (1 - torch.tanh(x) ** 2)
""", ALL["ex3-scaled-tanh"], "gradient: expected 0.755412"),
    },
    "ex4-sigmoid-to-tanh": {
        "halves every weight and bias": ("""
def sigmoid_to_tanh(layers):
    return [(W / 2, b / 2) for W, b in layers]
""", ALL["ex4-sigmoid-to-tanh"], "expected"),
        "rescales the weights but forgets the bias shift": ("""
def sigmoid_to_tanh(layers):
    out = []
    for l, (W, b) in enumerate(layers):
        a = 1.0 if l == 0 else 0.5
        c = 0.5 if l < len(layers) - 1 else 1.0
        out.append((c * a * W, c * b))
    return out
""", ALL["ex4-sigmoid-to-tanh"], "expected"),
        "treats the first layer like the middle ones": ("""
def sigmoid_to_tanh(layers):
    out = []
    for l, (W, b) in enumerate(layers):
        c = 0.5 if l < len(layers) - 1 else 1.0
        out.append((c * W / 2, c * (b + W.sum(axis=1) / 2)))
    return out
""", ALL["ex4-sigmoid-to-tanh"], "expected"),
        "halves the last layer's input too (it has no activation)": ("""
def sigmoid_to_tanh(layers):
    out = []
    for l, (W, b) in enumerate(layers):
        a, o = (1.0, 0.0) if l == 0 else (0.5, 0.5)
        out.append((W * a / 2, (b + o * W.sum(axis=1)) / 2))
    return out
""", ALL["ex4-sigmoid-to-tanh"], "expected"),
        "returns the layers unchanged": ("""
def sigmoid_to_tanh(layers):
    return layers
""", ALL["ex4-sigmoid-to-tanh"], "expected"),
        "drops the output layer": ("""
def sigmoid_to_tanh(layers):
    return [(W / 2, b / 2) for W, b in layers[:-1]]
""", ALL["ex4-sigmoid-to-tanh"], "return one (W, b) per layer"),
        "calls the library": ("""
from actlab.exercises.ch03 import sigmoid_to_tanh
""", ALL["ex4-sigmoid-to-tanh"][1:], "must not use actlab.exercises.ch03.sigmoid_to_tanh"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)
