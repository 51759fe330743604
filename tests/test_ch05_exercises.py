"""Grading fairness for chapter 05 (Leaky ReLU): other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why (the pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("05_leaky_relu")
VISIBLE = {"ex1-backward": "visible: worked example", "ex2-inverse": "visible: worked example",
           "ex3-mirror": "visible: one hidden layer", "ex4-prelu": "visible: worked example"}
HIDDEN = {"ex1-backward": "hidden: random layers, edge slopes", "ex2-inverse": "hidden: random layers and batches",
          "ex3-mirror": "hidden: depths 1 to 5, slopes 0.01 to 4",
          "ex4-prelu": "hidden: channels, shared slopes, dtypes"}
POINTS = {"ex1-backward": 2, "ex2-inverse": 2, "ex3-mirror": 3, "ex4-prelu": 3}
BOTH = lambda ex: [VISIBLE[ex], HIDDEN[ex]]  # noqa: E731

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-backward": {
        "a slope array cast to x's dtype": """
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    slope = np.where(z > 0, 1.0, gamma).astype(x.dtype)
    dz = G * slope
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""",
        "the blend identity gamma + (1 - gamma) [z > 0]": """
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = gamma * G + (1 - gamma) * G * (z > 0)
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""",
        "einsum": """
def leaky_layer_backward(x, W, b, G, gamma):
    z = np.einsum("ni,oi->no", x, W) + b
    dz = np.where(z > 0, G, G * x.dtype.type(gamma))
    return np.einsum("no,oi->ni", dz, W), np.einsum("no,ni->oi", dz, x), np.einsum("no->o", dz)
""",
        "one row at a time": """
def leaky_layer_backward(x, W, b, G, gamma):
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)
    for n in range(x.shape[0]):
        z = W @ x[n] + b
        dz = np.where(z > 0, G[n], gamma * G[n]).astype(x.dtype)
        dx[n] = W.T @ dz
        dW += np.outer(dz, x[n])
        db += dz
    return dx, dW, db
""",
    },
    "ex2-inverse": {
        "the inverse matrix": """
def invert_layer(W, b, y, gamma):
    z = np.where(y > 0, y, y / gamma)
    return (z - b) @ np.linalg.inv(W).T
""",
        "the slope 1/gamma and least squares": """
def invert_layer(W, b, y, gamma):
    z = np.where(y > 0, y, y * (1 / gamma)).astype(y.dtype)
    return np.linalg.lstsq(W, (z - b).T, rcond=None)[0].T
""",
        "a batch of one, reshaped back": """
def invert_layer(W, b, y, gamma):
    rows = np.atleast_2d(y)
    z = np.where(rows > 0, rows, rows / gamma)
    x = np.linalg.solve(W, (z - b).T).T
    return x.reshape(y.shape)
""",
    },
    "ex3-mirror": {
        "a different positive scale (2) in every hidden layer": """
def mirror_network(layers, gamma):
    if len(layers) == 1:
        return list(layers)
    out = [(-2 * layers[0][0], -2 * layers[0][1])]
    for W, b in layers[1:-1]:
        out.append((gamma * W, -2 * b))
    W, b = layers[-1]
    return out + [(-gamma / 2 * W, b)]
""",
        "a running factor": """
def mirror_network(layers, gamma):
    out, factor = [], 1.0      # h_prev = factor * h'_prev
    for l, (W, b) in enumerate(layers):
        if l == len(layers) - 1:
            out.append((factor * W, b))
        else:
            out.append((-factor * W, -b))
            factor = -gamma
    return out
""",
        "tuples, copied arrays": """
def mirror_network(layers, gamma):
    L = len(layers)
    res = []
    for l, (W, b) in enumerate(layers):
        W, b = W.copy(), b.copy()
        sign_in = 1.0 if l == 0 else -gamma
        if l < L - 1:
            res.append((-sign_in * W, -b))
        else:
            res.append((sign_in * W, b))
    return tuple(res)
""",
    },
    "ex4-prelu": {
        "clamps instead of where, dims listed by hand": """
class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        ab = a.view(1, -1, *([1] * (x.dim() - 2))) if a.numel() > 1 else a.view(())
        ctx.save_for_backward(x, ab)
        return x.clamp(min=0) + ab * x.clamp(max=0)

    @staticmethod
    def backward(ctx, g):
        x, ab = ctx.saved_tensors
        neg = (x <= 0).to(g.dtype)
        gx = g * (1 - neg) + g * neg * ab
        ga = g * x * neg
        if ab.dim() == 0:
            ga = ga.sum().reshape(1)
        else:
            ga = ga.sum(dim=[d for d in range(x.dim()) if d != 1])
        return gx, ga


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.register_parameter("weight", nn.Parameter(init * torch.ones(num_parameters)))

    def forward(self, x):
        return PReLUFunction.apply(x, self.weight)
""",
        "channels moved last": """
class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x, a)
        if a.numel() == 1:
            return torch.where(x > 0, x, a * x)
        xt = x.movedim(1, -1)
        return torch.where(xt > 0, xt, a * xt).movedim(-1, 1)

    @staticmethod
    def backward(ctx, g):
        x, a = ctx.saved_tensors
        if a.numel() == 1:
            return torch.where(x > 0, g, a * g), torch.where(x > 0, 0.0, g * x).sum().reshape(a.shape)
        xt, gt = x.movedim(1, -1), g.movedim(1, -1)
        gx = torch.where(xt > 0, gt, a * gt).movedim(-1, 1)
        ga = torch.where(xt > 0, 0.0, gt * xt).reshape(-1, a.numel()).sum(0)
        return gx, ga


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x):
        return PReLUFunction.apply(x, self.weight)
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
SOLUTION_PRELU_MODULE = """
class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_parameters,), init))

    def forward(self, x):
        return PReLUFunction.apply(x, self.weight)
"""


def prelu_function(forward: str, backward: str) -> str:
    return f"""
class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        ab = a.reshape((1, -1) + (1,) * (x.dim() - 2)) if a.numel() > 1 else a.reshape(())
        ctx.save_for_backward(x, ab)
        ctx.a_shape = a.shape
{forward}

    @staticmethod
    def backward(ctx, g):
        x, ab = ctx.saved_tensors
{backward}
""" + SOLUTION_PRELU_MODULE


GOOD_BACKWARD = """        gx = torch.where(x > 0, g, ab * g)
        ga = torch.where(x > 0, 0.0, x * g).sum_to_size(ab.shape).reshape(ctx.a_shape)
        return gx, ga"""
GOOD_FORWARD = "        return torch.where(x > 0, x, ab * x)"

# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-backward": {
        "the ReLU derivative (forgets gamma)": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = G * (z > 0)
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""", BOTH("ex1-backward"), "dx: expected 0.3, got 0.0"),
        "derivative 1 at z = 0 (z >= 0)": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = np.where(z >= 0, G, gamma * G)
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""", BOTH("ex1-backward"), "dx: expected"),
        "dW not transposed": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = np.where(z > 0, G, gamma * G)
    return dz @ W, x.T @ dz, dz.sum(axis=0)
""", BOTH("ex1-backward"), "dW: expected"),
        "max(sign(z), gamma): wrong for gamma > 1": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = G * np.maximum(np.sign(z), gamma).astype(x.dtype)
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""", [HIDDEN["ex1-backward"]], "a slope > 1 is allowed"),
        "float64 gradients for float32 inputs": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = G * np.where(z > 0, 1.0, gamma)
    return dz @ W, dz.T @ x, dz.sum(axis=0)
""", [HIDDEN["ex1-backward"]], "expected dtype float32"),
        "db not summed over the rows": ("""
def leaky_layer_backward(x, W, b, G, gamma):
    z = x @ W.T + b
    dz = np.where(z > 0, G, gamma * G)
    return dz @ W, dz.T @ x, dz
""", BOTH("ex1-backward"), "db: expected shape (2,), got shape (1, 2)"),
        "torch autograd instead of the derivation": ("""
import torch as T
def leaky_layer_backward(x, W, b, G, gamma):
    xt, Wt, bt = (T.tensor(a, requires_grad=True) for a in (x, W, b))
    h = T.nn.functional.leaky_relu(xt @ Wt.T + bt, gamma)
    h.backward(T.tensor(G))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()
""", [HIDDEN["ex1-backward"]], "must not use torch"),
    },
    "ex2-inverse": {
        "multiplies by gamma instead of dividing": ("""
def invert_layer(W, b, y, gamma):
    z = np.where(y > 0, y, gamma * y)
    return np.linalg.solve(W, (z - b).T).T
""", BOTH("ex2-inverse"), "expected"),
        "removes the bias before undoing the activation": ("""
def invert_layer(W, b, y, gamma):
    u = y - b
    z = np.where(u > 0, u, u / gamma)
    return np.linalg.solve(W, z.T).T
""", BOTH("ex2-inverse"), "expected -3.0"),
        "solves with W transposed": ("""
def invert_layer(W, b, y, gamma):
    z = np.where(y > 0, y, y / gamma)
    return np.linalg.solve(W.T, (z - b).T).T
""", BOTH("ex2-inverse"), "expected"),
        "only one output at a time (solve without transposing)": ("""
def invert_layer(W, b, y, gamma):
    z = np.where(y > 0, y, y / gamma)
    return np.linalg.solve(W, z - b)
""", [HIDDEN["ex2-inverse"]], "np.linalg.solve(W, (u - b).T).T"),
        "computes in float64 for float32 layers": ("""
def invert_layer(W, b, y, gamma):
    y, W, b = (np.asarray(a, dtype=float) for a in (y, W, b))
    z = np.where(y > 0, y, y / gamma)
    return np.linalg.solve(W, (z - b).T).T
""", [HIDDEN["ex2-inverse"]], "expected dtype float32"),
    },
    "ex3-mirror": {
        "the one-hidden-layer formula, middle layers untouched": ("""
def mirror_network(layers, gamma):
    if len(layers) == 1:
        return list(layers)
    (W1, b1), (WL, bL) = layers[0], layers[-1]
    return [(-W1, -b1)] + list(layers[1:-1]) + [(-gamma * WL, bL)]
""", [HIDDEN["ex3-mirror"]], "expected"),
        "divides by gamma instead of multiplying": ("""
def mirror_network(layers, gamma):
    out = [(-layers[0][0], -layers[0][1])]
    for W, b in layers[1:-1]:
        out.append((W / gamma, -b))
    W, b = layers[-1]
    return out + [(-W / gamma, b)]
""", BOTH("ex3-mirror"), "expected"),
        "forgets to negate the biases": ("""
def mirror_network(layers, gamma):
    out = [(-layers[0][0], layers[0][1])]
    for W, b in layers[1:-1]:
        out.append((gamma * W, b))
    W, b = layers[-1]
    return out + [(-gamma * W, b)]
""", BOTH("ex3-mirror"), "expected"),
        "returns the network unchanged": ("""
def mirror_network(layers, gamma):
    return layers
""", BOTH("ex3-mirror"), "expected"),
        "transposed weights": ("""
def mirror_network(layers, gamma):
    out = [(-layers[0][0].T, -layers[0][1])]
    for W, b in layers[1:-1]:
        out.append((gamma * W.T, -b))
    W, b = layers[-1]
    return out + [(-gamma * W.T, b)]
""", BOTH("ex3-mirror"), "layer 2: W must have shape (1, 2)"),
    },
    "ex4-prelu": {
        "no autograd.Function (autograd does the backward)": ("""
class PReLUFunction:
    pass

class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_parameters,), init))

    def forward(self, x):
        a = self.weight.reshape((1, -1) + (1,) * (x.dim() - 2)) if self.weight.numel() > 1 else self.weight
        return torch.where(x > 0, x, a * x)
""", BOTH("ex4-prelu"), "torch.autograd.Function"),
        "dL/da without grad_output": (prelu_function(GOOD_FORWARD, """
        gx = torch.where(x > 0, g, ab * g)
        ga = torch.where(x > 0, 0.0, x).sum_to_size(ab.shape).reshape(ctx.a_shape)
        return gx, ga"""), [HIDDEN["ex4-prelu"]], "dL/da: expected"),
        "dL/da summed over every axis, also per channel": (prelu_function(GOOD_FORWARD, """
        gx = torch.where(x > 0, g, ab * g)
        return gx, torch.where(x > 0, 0.0, x * g).sum()"""), BOTH("ex4-prelu"), "raised RuntimeError"),
        "dy/dx = 1 at x = 0": (prelu_function(GOOD_FORWARD, """
        gx = torch.where(x >= 0, g, ab * g)
        ga = torch.where(x > 0, 0.0, x * g).sum_to_size(ab.shape).reshape(ctx.a_shape)
        return gx, ga"""), BOTH("ex4-prelu"), "dL/dx: expected 0.25, got 1.0"),
        "torch's prelu inside forward": (prelu_function(
            "        return torch.nn.functional.prelu(x, ab.reshape(-1))", GOOD_BACKWARD),
            [HIDDEN["ex4-prelu"]], "must not use"),
        "weight is a plain tensor": ("""
class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        return x

    @staticmethod
    def backward(ctx, g):
        return g, None

class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = torch.full((num_parameters,), init)

    def forward(self, x):
        return PReLUFunction.apply(x, self.weight)
""", BOTH("ex4-prelu"), "needs a parameter self.weight"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: BOTH(g) for g in POINTS}, CORRECT, WRONG)
