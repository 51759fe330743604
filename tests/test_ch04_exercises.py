"""Grading fairness for chapter 04 (ReLU): other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why.

Pattern (tests/test_ch00_exercises.py): one ``CORRECT`` and one ``WRONG`` table per exercise (solution source ->
the checks that must fail and a phrase the first failure's message must contain), run through
``exercise_harness``."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("04_relu")
CHECKS = {
    "ex1-relu": ["visible: relu on a few values", "visible: relu_grad, 0 at x = 0",
                 "hidden: relu on random and extreme inputs", "hidden: relu_grad on random and extreme inputs"],
    "ex2-dead-units": ["visible: worked example and two layers",
                       "hidden: random nets, exact zeros, single rows, dead layers"],
    "ex3-kaiming": ["visible: the worked example", "hidden: square and very unequal shapes"],
    "ex4-max-layer": ["visible: one pair", "hidden: d = 1 to 8 pairs"],
}
POINTS = {"ex1-relu": 2, "ex2-dead-units": 3, "ex3-kaiming": 2, "ex4-max-layer": 3}
ALL = CHECKS

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-relu": {
        "np.where and np.heaviside": """
def relu(x):
    return np.where(x > 0, x, 0)
def relu_grad(x):
    return np.heaviside(x, 0).astype(x.dtype)
""",
        "np.clip and a comparison times one": """
def relu(x):
    return np.clip(x, 0, None)
def relu_grad(x):
    return (x > 0) * np.ones_like(x)
""",
        "in place on a copy, and the sign of relu": """
def relu(x):
    y = x.copy()
    y[y < 0] = 0
    return y
def relu_grad(x):
    return np.sign(np.maximum(x, 0)).astype(x.dtype)
""",
    },
    "ex2-dead-units": {
        "units as rows (W @ h for each example)": """
def dead_units(X, layers):
    H, out = X.T, []
    for W, b in layers:
        Z = W @ H + b[:, None]
        out.append(~(Z > 0).any(axis=1))
        H = np.maximum(Z, 0)
    return out
""",
        "example by example, with Python loops": """
def dead_units(X, layers):
    alive = [np.zeros(W.shape[0], dtype=bool) for W, _ in layers]
    for x in X:
        h = x
        for k, (W, b) in enumerate(layers):
            z = W @ h + b
            alive[k] |= z > 0
            h = np.maximum(z, 0)
    return [~a for a in alive]
""",
        "the maximum over the data, as 0/1 integers in a tuple": """
def dead_units(X, layers):
    H, res = X, []
    for W, b in layers:
        Z = H @ W.T + b
        res.append((Z.max(axis=0) <= 0).astype(int))
        H = Z * (Z > 0)
    return tuple(res)
""",
    },
    "ex3-kaiming": {
        "standard normal times the std": """
def kaiming_normal(fan_out, fan_in, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((fan_out, fan_in)) * (2.0 / fan_in) ** 0.5
""",
        "the legacy numpy generator": """
def kaiming_normal(fan_out, fan_in, seed):
    np.random.seed(seed)
    return np.random.randn(fan_out, fan_in) * np.sqrt(2 / fan_in)
""",
        "torch's generator, returned as a tensor": """
def kaiming_normal(fan_out, fan_in, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64) * (2 / fan_in) ** 0.5
""",
        "float32 entries": """
def kaiming_normal(fan_out, fan_in, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(0, np.sqrt(2 / fan_in), (fan_out, fan_in)).astype(np.float32)
""",
    },
    "ex4-max-layer": {
        "the mirror image: b + relu(a - b) written as a + relu(b - a)": """
def max_layer(d):
    I, O = np.eye(d), np.zeros((d, d))
    W1 = np.vstack([np.hstack([-I, I]), np.hstack([I, O]), np.hstack([-I, O])])
    return W1, np.zeros(3 * d), np.hstack([I, I, -I]), np.zeros(d)
""",
        "units scaled by 2 and interleaved pair by pair": """
def max_layer(d):
    W1, W2 = np.zeros((3 * d, 2 * d)), np.zeros((d, 3 * d))
    for i in range(d):
        W1[3 * i, [i, d + i]] = [2.0, -2.0]      # relu(2(a - b))
        W1[3 * i + 1, d + i] = 2.0               # relu(2b)
        W1[3 * i + 2, d + i] = -2.0              # relu(-2b)
        W2[i, 3 * i:3 * i + 3] = [0.5, 0.5, -0.5]
    return W1, np.zeros(3 * d), W2, np.zeros(d)
""",
        "np.kron of the one-pair network, with lists": """
def max_layer(d):
    w1 = np.array([[1.0, -1.0], [0.0, 1.0], [0.0, -1.0]])
    W1 = np.hstack([np.kron(w1[:, :1], np.eye(d)), np.kron(w1[:, 1:], np.eye(d))])
    W2 = np.kron(np.array([[1.0, 1.0, -1.0]]), np.eye(d))
    return [W1, [0.0] * (3 * d), W2, [0.0] * d]
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
_RELU_OK = """
def relu(x):
    return np.maximum(x, 0)
"""
_GRAD_OK = """
def relu_grad(x):
    return (x > 0).astype(x.dtype)
"""
WRONG = {
    "ex1-relu": {
        "x * (x > 0): -inf * 0 is NaN": ("""
def relu(x):
    return x * (x > 0)
""" + _GRAD_OK, ALL["ex1-relu"][2:3], "got nan"),
        "slope 1 at x = 0": (_RELU_OK + """
def relu_grad(x):
    return (x >= 0).astype(x.dtype)
""", [ALL["ex1-relu"][1], ALL["ex1-relu"][3]], "expected 0.0, got 1.0"),
        "returns booleans for the slope": (_RELU_OK + """
def relu_grad(x):
    return x > 0
""", [ALL["ex1-relu"][1], ALL["ex1-relu"][3]], "expected dtype float32"),
        "the absolute value instead of relu": ("""
def relu(x):
    return np.abs(x)
""" + _GRAD_OK, [ALL["ex1-relu"][0], ALL["ex1-relu"][2]], "expected 0.0, got 2.0"),
        "computes in float64": ("""
def relu(x):
    return np.maximum(x.astype(np.float64), 0)
""" + _GRAD_OK, [ALL["ex1-relu"][0], ALL["ex1-relu"][2]], "expected dtype float32"),
        "calls the library": ("""
from actlab.numpy_ref import relu, relu_grad
""", ALL["ex1-relu"][2:], "must not use actlab.numpy_ref.relu"),
    },
    "ex2-dead-units": {
        "z < 0 instead of z <= 0 (misses units stuck at exactly 0)": ("""
def dead_units(X, layers):
    H, masks = X, []
    for W, b in layers:
        Z = H @ W.T + b
        masks.append(np.all(Z < 0, axis=0))
        H = np.maximum(Z, 0)
    return masks
""", ALL["ex2-dead-units"], "expected True, got False"),
        "dead on some example instead of on all": ("""
def dead_units(X, layers):
    H, masks = X, []
    for W, b in layers:
        Z = H @ W.T + b
        masks.append(np.any(Z <= 0, axis=0))
        H = np.maximum(Z, 0)
    return masks
""", ALL["ex2-dead-units"], "expected False, got True"),
        "forgets the relu between layers": ("""
def dead_units(X, layers):
    H, masks = X, []
    for W, b in layers:
        Z = H @ W.T + b
        masks.append(np.all(Z <= 0, axis=0))
        H = Z
    return masks
""", ALL["ex2-dead-units"], "expected"),
        "looks at the first example only": ("""
def dead_units(X, layers):
    h, masks = X[0], []
    for W, b in layers:
        z = W @ h + b
        masks.append(z <= 0)
        h = np.maximum(z, 0)
    return masks
""", ALL["ex2-dead-units"], "expected"),
        "returns the fraction of dead units": ("""
def dead_units(X, layers):
    H, out = X, []
    for W, b in layers:
        Z = H @ W.T + b
        out.append(np.all(Z <= 0, axis=0).mean())
        H = np.maximum(Z, 0)
    return out
""", ALL["ex2-dead-units"], "expected shape (3,)"),
    },
    "ex3-kaiming": {
        "variance 1 / fan_in (LeCun's, without ReLU's factor 2)": ("""
def kaiming_normal(fan_out, fan_in, seed):
    return np.random.default_rng(seed).normal(0, np.sqrt(1 / fan_in), (fan_out, fan_in))
""", ALL["ex3-kaiming"], "expected 0.125"),
        "fan_out instead of fan_in": ("""
def kaiming_normal(fan_out, fan_in, seed):
    return np.random.default_rng(seed).normal(0, np.sqrt(2 / fan_out), (fan_out, fan_in))
""", ALL["ex3-kaiming"], "expected 0.125"),
        "the variance used as the standard deviation": ("""
def kaiming_normal(fan_out, fan_in, seed):
    return np.random.default_rng(seed).normal(0, 2 / fan_in, (fan_out, fan_in))
""", ALL["ex3-kaiming"], "expected 0.125"),
        "Glorot's variance 2 / (fan_in + fan_out)": ("""
def kaiming_normal(fan_out, fan_in, seed):
    std = np.sqrt(2 / (fan_in + fan_out))
    return np.random.default_rng(seed).normal(0, std, (fan_out, fan_in))
""", ALL["ex3-kaiming"], "expected 0.125"),
        "the transposed shape": ("""
def kaiming_normal(fan_out, fan_in, seed):
    return np.random.default_rng(seed).normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
""", ALL["ex3-kaiming"], "expected shape (fan_out, fan_in) = (256, 128)"),
        "uniform on [0, 1) scaled (mean not 0)": ("""
def kaiming_normal(fan_out, fan_in, seed):
    return np.random.default_rng(seed).random((fan_out, fan_in)) * np.sqrt(6 / fan_in)
""", ALL["ex3-kaiming"], "must have mean 0"),
        "calls torch.nn.init": ("""
def kaiming_normal(fan_out, fan_in, seed):
    torch.manual_seed(seed)
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    return torch.nn.init.kaiming_normal_(w, nonlinearity="relu").numpy()
""", ALL["ex3-kaiming"][1:], "must not use torch.nn.init.kaiming_normal_"),
    },
    "ex4-max-layer": {
        "forgets negative b: relu(a - b) + relu(b)": ("""
def max_layer(d):
    I, O = np.eye(d), np.zeros((d, d))
    W1 = np.vstack([np.hstack([I, -I]), np.hstack([O, I])])
    return W1, np.zeros(2 * d), np.hstack([I, I]), np.zeros(d)
""", ALL["ex4-max-layer"], "expected"),
        "(a + b + |a - b|) / 2 with four units per pair": ("""
def max_layer(d):
    I = np.eye(d)
    W1 = np.vstack([np.hstack([I, I]), np.hstack([-I, -I]), np.hstack([I, -I]), np.hstack([-I, I])])
    return W1, np.zeros(4 * d), np.hstack([I, -I, I, I]) / 2, np.zeros(d)
""", ALL["ex4-max-layer"], "use at most 3 hidden units per pair"),
        "the sum relu(a) + relu(b)": ("""
def max_layer(d):
    I = np.eye(d)
    W1 = np.vstack([np.hstack([I, 0 * I]), np.hstack([0 * I, I])])
    return W1, np.zeros(2 * d), np.hstack([I, I]), np.zeros(d)
""", ALL["ex4-max-layer"], "expected"),
        "inputs read as interleaved pairs (a1, b1, a2, b2, ...)": ("""
def max_layer(d):
    W1, W2 = np.zeros((3 * d, 2 * d)), np.zeros((d, 3 * d))
    for i in range(d):
        W1[3 * i, [2 * i, 2 * i + 1]] = [1.0, -1.0]
        W1[3 * i + 1, 2 * i + 1] = 1.0
        W1[3 * i + 2, 2 * i + 1] = -1.0
        W2[i, 3 * i:3 * i + 3] = [1.0, 1.0, -1.0]
    return W1, np.zeros(3 * d), W2, np.zeros(d)
""", ALL["ex4-max-layer"][1:], "expected"),
        "W2 transposed": ("""
def max_layer(d):
    I, O = np.eye(d), np.zeros((d, d))
    W1 = np.block([[I, -I], [O, I], [O, -I]])
    return W1, np.zeros(3 * d), np.hstack([I, I, -I]).T, np.zeros(d)
""", ALL["ex4-max-layer"], "W2 must have shape (1, 3)"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)
