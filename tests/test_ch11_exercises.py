"""Grading fairness for chapter 11: other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("11_geglu")
VISIBLE = {"ex1-geglu": "visible: worked example", "ex2-geglu-grad": "visible: two small inputs",
           "ex3-split": "visible: worked example, both orders", "ex4-gate-half": "visible: two blocks"}
HIDDEN = {"ex1-geglu": "hidden: shapes, dtypes and large gates",
          "ex2-geglu-grad": "hidden: shapes, dtypes and large gates",
          "ex3-split": "hidden: shapes, dtypes and orders", "ex4-gate-half": "hidden: twelve blocks"}
POINTS = {"ex1-geglu": 2, "ex2-geglu-grad": 3, "ex3-split": 2, "ex4-gate-half": 3}

CORRECT = {
    "ex1-geglu": {
        "erf form (accurate enough for the product)": """
from scipy.special import erf
def geglu(x):
    n = x.shape[-1] // 2
    a, b = x[..., :n], x[..., n:]
    return (a * (1 + erf(a / 2 ** 0.5)) / 2 * b).astype(x.dtype)
""",
        "scipy's normal CDF (ndtr), computed in float64 and cast back": """
from scipy.special import ndtr
def geglu(x):
    a, b = np.split(x.astype(np.float64), 2, axis=-1)
    return (a * ndtr(a) * b).astype(x.dtype)
""",
    },
    "ex2-geglu-grad": {
        "saves the halves and recomputes in backward": """
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        a, b = x.chunk(2, -1)
        return a * 0.5 * (1 + torch.erf(a / 2 ** 0.5)) * b

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        a, b = x.chunk(2, -1)
        cdf = 0.5 * (1 + torch.erf(a / 2 ** 0.5))
        pdf = torch.exp(-a * a / 2) / (2 * torch.pi) ** 0.5
        return torch.cat([g * b * (cdf + a * pdf), g * a * cdf], -1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""",
        "torch.special.ndtr for Phi": """
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        n = x.shape[-1] // 2
        a, b = x[..., :n], x[..., n:]
        ctx.save_for_backward(a, b)
        return a * torch.special.ndtr(a) * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        phi = torch.exp(-0.5 * a ** 2) * (2 * torch.pi) ** -0.5
        return torch.cat([g * b * (torch.special.ndtr(a) + a * phi), g * a * torch.special.ndtr(a)], dim=-1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""",
    },
    "ex3-split": {
        "slicing and transposing by hand": """
def split_fused(weight, order="gate_up"):
    n = weight.shape[0] // 2
    top, bottom = weight[:n].T, weight[n:].T
    return (top, bottom) if order == "gate_up" else (bottom, top)
""",
        "transpose first, then split the columns": """
def split_fused(weight, order="gate_up"):
    W, V = np.hsplit(weight.T, 2)
    return (W.copy(), V.copy()) if order == "gate_up" else (V.copy(), W.copy())
""",
    },
    "ex4-gate-half": {
        "scipy's log_softmax and ndtr": """
from scipy.special import log_softmax, ndtr
def gate_half(U, W2, X, y):
    h = X @ U
    n = h.shape[1] // 2
    loss = []
    for g, u in ((h[:, :n], h[:, n:]), (h[:, n:], h[:, :n])):
        lp = log_softmax((g * ndtr(g) * u) @ W2, axis=1)
        loss.append(-np.take_along_axis(lp, y[:, None], 1).mean())
    return 0 if loss[0] <= loss[1] else 1
""",
        "compares the likelihoods in torch": """
import torch.nn.functional as F
def gate_half(U, W2, X, y):
    h = torch.tensor(X @ U, dtype=torch.float64)
    g0, g1 = h.chunk(2, 1)
    W2t, yt = torch.tensor(W2, dtype=torch.float64), torch.tensor(y)
    l0 = F.cross_entropy((g0 * torch.special.ndtr(g0) * g1) @ W2t, yt)
    l1 = F.cross_entropy((g1 * torch.special.ndtr(g1) * g0) @ W2t, yt)
    return int(l1 < l0)
""",
    },
}

WRONG = {
    "ex1-geglu": {
        "the gate on the second half": ("""
def geglu(x):
    b, a = np.split(x, 2, axis=-1)
    return 0.5 * a * erfc(-a / 2 ** 0.5) * b
""", ["visible: worked example", "hidden: shapes, dtypes and large gates"], "expected"),
        "the tanh form instead of the exact GELU": ("""
def geglu(x):
    a, b = np.split(x, 2, axis=-1)
    return 0.5 * a * (1 + np.tanh((2 / np.pi) ** 0.5 * (a + 0.044715 * a ** 3))) * b
""", ["visible: worked example", "hidden: shapes, dtypes and large gates"], "expected"),
        "a float64 constant changes the dtype": ("""
def geglu(x):
    a, b = np.split(x, 2, axis=-1)
    return 0.5 * a * erfc(-a / np.sqrt(2)) * b
""", ["hidden: shapes, dtypes and large gates"], "expected dtype float32"),
        "calls the library": ("""
import actlab
def geglu(x):
    return actlab.numpy_ref.geglu(*np.split(x, 2, axis=-1))
""", ["hidden: shapes, dtypes and large gates"], "must not use actlab"),
    },
    "ex2-geglu-grad": {
        "forgets the a·φ(a) term": ("""
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, -1)
        cdf = 0.5 * torch.erfc(-a / 2 ** 0.5)
        ctx.save_for_backward(b * cdf, a * cdf)
        return a * cdf * b

    @staticmethod
    def backward(ctx, g):
        d_a, d_b = ctx.saved_tensors
        return torch.cat([g * d_a, g * d_b], -1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""", ["visible: two small inputs", "hidden: shapes, dtypes and large gates"], "dy/dx: expected"),
        "ignores grad_output (right only for an upstream gradient of 1)": ("""
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, -1)
        cdf = 0.5 * torch.erfc(-a / 2 ** 0.5)
        pdf = torch.exp(-0.5 * a * a) / (2 * torch.pi) ** 0.5
        ctx.save_for_backward(b * (cdf + a * pdf), a * cdf)
        return a * cdf * b

    @staticmethod
    def backward(ctx, g):
        d_a, d_b = ctx.saved_tensors
        return torch.cat([d_a, d_b], -1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""", ["visible: two small inputs", "hidden: shapes, dtypes and large gates"], "dy/dx: expected"),
        "returns the halves of the gradient in the wrong order": ("""
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, -1)
        cdf = 0.5 * torch.erfc(-a / 2 ** 0.5)
        pdf = torch.exp(-0.5 * a * a) / (2 * torch.pi) ** 0.5
        ctx.save_for_backward(b * (cdf + a * pdf), a * cdf)
        return a * cdf * b

    @staticmethod
    def backward(ctx, g):
        d_a, d_b = ctx.saved_tensors
        return torch.cat([g * d_b, g * d_a], -1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""", ["visible: two small inputs", "hidden: shapes, dtypes and large gates"], "dy/dx: expected 0.5, got 0.0"),
        "uses torch's gelu in forward and backward": ("""
class GeGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, -1)
        ctx.save_for_backward(a, b)
        return torch.nn.functional.gelu(a) * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        with torch.enable_grad():
            a_ = a.detach().requires_grad_()
            (d,) = torch.autograd.grad(torch.nn.functional.gelu(a_).sum(), a_)
        return torch.cat([g * b * d, g * torch.nn.functional.gelu(a)], -1)


def geglu_torch(x):
    return GeGLUFunction.apply(x)
""", ["hidden: shapes, dtypes and large gates"], "must not use torch.nn.functional.gelu"),
    },
    "ex3-split": {
        "forgets the transpose": ("""
def split_fused(weight, order="gate_up"):
    W, V = np.split(weight, 2, axis=0)
    return (W, V) if order == "gate_up" else (V, W)
""", ["visible: worked example, both orders", "hidden: shapes, dtypes and orders"],
            "W (gate): expected 2.0, got 1.0"),
        "ignores the order": ("""
def split_fused(weight, order="gate_up"):
    W, V = np.split(weight, 2, axis=0)
    return W.T, V.T
""", ["visible: worked example, both orders", "hidden: shapes, dtypes and orders"], "expected"),
        "splits the columns (the inputs) instead of the rows": ("""
def split_fused(weight, order="gate_up"):
    W, V = np.split(weight.T, 2, axis=0)
    return (W, V) if order == "gate_up" else (V, W)
""", ["visible: worked example, both orders", "hidden: shapes, dtypes and orders"], "expected shape (2, 2), got shape (1, 4)"),
    },
    "ex4-gate-half": {
        "always answers 'first half'": ("""
def gate_half(U, W2, X, y):
    return 0
""", ["hidden: twelve blocks"], "expected 1, got 0"),
        "picks the half with the smaller norm": ("""
def gate_half(U, W2, X, y):
    n = U.shape[1] // 2
    return int(np.linalg.norm(U[:, n:]) < np.linalg.norm(U[:, :n]))
""", ["visible: two blocks", "hidden: twelve blocks"], "expected"),
        "applies GELU to the up half (the swapped reading) and keeps the better loss": ("""
def gate_half(U, W2, X, y):
    first, second = np.split(X @ U, 2, axis=1)
    losses = []
    for g, u in ((first, second), (second, first)):
        z = (0.5 * g * erfc(-g / 2 ** 0.5) * u) @ W2
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        losses.append(-logp[np.arange(len(y)), y].mean())
    return int(np.argmax(losses))
""", ["visible: two blocks", "hidden: twelve blocks"], "expected"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: [VISIBLE[g], HIDDEN[g]] for g in POINTS}, CORRECT, WRONG)
