"""Grading fairness for chapter 01 (vanishing gradients): other correct solutions get full marks, typical
mistakes lose the exercise's points at the check that should catch them, with a message that says why.
The pattern of tests/test_ch00_exercises.py."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("01_vanishing_gradients")
VISIBLE = {g: "visible: worked example" for g in ("ex1-dense-backward", "ex2-grad-norms", "ex3-saturation",
                                                  "ex4-bound")}
HIDDEN = {"ex1-dense-backward": "hidden: three activations, shapes, dtypes, |z| up to 1000",
          "ex2-grad-norms": "hidden: 1 to 21 layers, vanishing, saturated, dead units",
          "ex3-saturation": "hidden: three activations, weight scales, eps, z = 0",
          "ex4-bound": "hidden: random depths and widths, rank one, saturated"}
POINTS = {"ex1-dense-backward": 2, "ex2-grad-norms": 3, "ex3-saturation": 2, "ex4-bound": 3}
BOTH = lambda g: [VISIBLE[g], HIDDEN[g]]  # noqa: E731

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-dense-backward": {
        "sigmoid via tanh, derivative from a dict": """
SLOPES = {
    "sigmoid": lambda z: 0.25 * (1 - np.tanh(z / 2) ** 2),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: np.where(z > 0, 1, 0).astype(z.dtype),
}
def dense_backward(x, W, b, grad_out, activation):
    delta = grad_out * SLOPES[activation](x @ W.T + b)
    return delta @ W, delta.T @ x, np.sum(delta, axis=0)
""",
        "sigmoid' = 1 / (4 cosh^2(z/2)) (overflow warnings, right values), einsum": """
def dense_backward(x, W, b, grad_out, activation):
    z = np.einsum("ni,oi->no", x, W) + b
    if activation == "sigmoid":
        slope = 0.25 / np.cosh(z / 2) ** 2
    elif activation == "tanh":
        slope = 1 / np.cosh(z) ** 2
    else:
        slope = np.heaviside(z, 0).astype(z.dtype)
    delta = grad_out * slope
    return np.einsum("no,oi->ni", delta, W), np.einsum("no,ni->oi", delta, x), delta.sum(0)
""",
        "a masked two-branch sigmoid, loops over the batch": """
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    if activation == "sigmoid":
        s = np.empty_like(z)
        pos = z >= 0
        s[pos] = 1 / (1 + np.exp(-z[pos]))
        s[~pos] = np.exp(z[~pos]) / (1 + np.exp(z[~pos]))
        slope = s * (1 - s)
    elif activation == "tanh":
        slope = 1 - np.tanh(z) ** 2
    else:
        slope = (z > 0) * np.ones_like(z)
    delta = grad_out * slope
    gW = np.zeros_like(W)
    for i in range(len(x)):
        gW += np.outer(delta[i], x[i])
    return delta @ W, gW, delta.sum(axis=0)
""",
    },
    "ex2-grad-norms": {
        "tanh' from the cached outputs, sigmoid via tanh, sqrt of sums": """
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 0.5 * (1 + np.tanh(z / 2)), "tanh": np.tanh,
         "relu": lambda z: np.maximum(z, 0)}[activation]
    df_from_h = {"sigmoid": lambda h: h * (1 - h), "tanh": lambda h: 1 - h ** 2,
                 "relu": lambda h: (h > 0) * 1.0}[activation]
    hs = [x]
    for W, b in layers[:-1]:
        hs.append(f(hs[-1] @ W.T + b))
    z_out = hs[-1] @ layers[-1][0].T + layers[-1][1]
    delta = (z_out - y) / x.shape[0]
    out = []
    for l in range(len(layers) - 1, -1, -1):
        G = delta.T @ hs[l]
        out.append(np.sqrt(np.sum(G * G)))
        if l:
            delta = (delta @ layers[l][0]) * df_from_h(hs[l])
    return np.array(out[::-1])
""",
        "all gradients first, recursion as a function": """
def grad_norms(layers, x, y, activation):
    def f(z):
        if activation == "sigmoid":
            return np.exp(-np.logaddexp(0, -z))
        return np.tanh(z) if activation == "tanh" else np.maximum(z, 0)
    def df(z):
        if activation == "sigmoid":
            return f(z) * f(-z)
        return 1 - np.tanh(z) ** 2 if activation == "tanh" else (z > 0).astype(float)
    def down(l, delta, hs, zs):
        grads = [delta.T @ hs[l]]
        if l == 0:
            return grads
        return down(l - 1, (delta @ layers[l][0]) * df(zs[l - 1]), hs, zs) + grads
    hs, zs = [x], []
    for W, b in layers:
        zs.append(hs[-1] @ W.T + b)
        hs.append(f(zs[-1]))
    grads = down(len(layers) - 1, (zs[-1] - y) / len(x), hs, zs)
    return np.array([np.linalg.norm(G, "fro") for G in grads])
""",
    },
    "ex3-saturation": {
        "thresholds on |z| from cosh: |z| > 2 acosh(1/sqrt(eps)) for sigmoid": """
def saturation(layers, x, activation, eps=0.01):
    out, h = [], x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        if activation == "sigmoid":
            sat = np.abs(z) > 2 * np.arccosh(1 / np.sqrt(eps))   # 1/(4 cosh^2(z/2)) < eps/4
            h = 0.5 * (1 + np.tanh(z / 2))
        elif activation == "tanh":
            sat = np.abs(z) > np.arccosh(1 / np.sqrt(eps))       # 1/cosh^2(z) < eps
            h = np.tanh(z)
        else:
            sat = z <= 0
            h = np.maximum(z, 0)
        out.append(sat.sum() / sat.size)
    return np.array(out)
""",
        "slopes from the outputs h": """
def saturation(layers, x, activation, eps=0.01):
    fracs = []
    h = x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        if activation == "sigmoid":
            h = 1 / (1 + np.exp(-z))
            fracs.append(np.count_nonzero(h * (1 - h) < eps / 4) / z.size)
        elif activation == "tanh":
            h = np.tanh(z)
            fracs.append(np.count_nonzero(1 - h * h < eps) / z.size)
        else:
            h = np.maximum(z, 0)
            fracs.append(np.count_nonzero(h == 0) / z.size)
    return np.array(fracs, dtype=np.float64)
""",
    },
    "ex4-bound": {
        "explicit diagonal matrices, singular values": """
def jacobian_and_bound(layers, x):
    J, h, norms = np.eye(x.shape[0]), x, []
    for W, b in layers:
        s = 1 / (1 + np.exp(-(W @ h + b)))
        J = np.diag(s * (1 - s)) @ W @ J
        h = s
        norms.append(np.linalg.svd(W, compute_uv=False)[0])
    return np.linalg.svd(J, compute_uv=False)[0], 0.25 ** len(layers) * np.prod(norms)
""",
        "the transposed product W_1^T D_1 ... W_L^T D_L (backward mode)": """
import math
def jacobian_and_bound(layers, x):
    slopes, h = [], x
    for W, b in layers:
        e = np.exp(-np.abs(W @ h + b))
        h = np.where(W @ h + b >= 0, 1, e) / (1 + e)
        slopes.append(e / (1 + e) ** 2)
    JT = np.eye(len(h))
    for (W, _), d in reversed(list(zip(layers, slopes))):
        JT = W.T @ (d[:, None] * JT)
    bound = math.prod(np.linalg.norm(W, ord=2) / 4 for W, _ in layers)
    return float(np.linalg.norm(JT, ord=2)), bound
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-dense-backward": {
        "forgets the slope f'(z) (a missing factor)": ("""
def dense_backward(x, W, b, grad_out, activation):
    return grad_out @ W, grad_out.T @ x, grad_out.sum(axis=0)
""", BOTH("ex1-dense-backward"), "grad_x: expected 0.0, got 1.0"),
        "grad_W transposed (x^T delta)": ("""
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    delta = grad_out * (1 - np.tanh(z) ** 2 if activation == "tanh" else (z > 0) * 1.0)
    return delta @ W, x.T @ delta, delta.sum(axis=0)
""", BOTH("ex1-dense-backward"), "grad_W: expected shape (1, 2), got shape (2, 1)"),
        "grad_b not summed over the batch": ("""
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    delta = grad_out * (z > 0)
    return delta @ W, delta.T @ x, delta
""", BOTH("ex1-dense-backward"), "grad_b: expected shape (1,), got shape (1, 1)"),
        "relu'(0) = 1": ("""
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1, e) / (1 + e)
    slope = {"sigmoid": s * (1 - s), "tanh": 1 - np.tanh(z) ** 2, "relu": (z >= 0) * 1.0}[activation]
    delta = grad_out * slope
    return delta @ W, delta.T @ x, delta.sum(axis=0)
""", BOTH("ex1-dense-backward"), "grad_x: expected 0.0, got 1.0"),
        "the naive sigmoid derivative (NaN when saturated)": ("""
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    if activation == "sigmoid":
        slope = np.exp(-z) / (1 + np.exp(-z)) ** 2
    elif activation == "tanh":
        slope = 1 - np.tanh(z) ** 2
    else:
        slope = (z > 0).astype(z.dtype)
    delta = grad_out * slope
    return delta @ W, delta.T @ x, delta.sum(axis=0)
""", [HIDDEN["ex1-dense-backward"]], "got nan"),
        "a float64 mask turns float32 into float64": ("""
def dense_backward(x, W, b, grad_out, activation):
    z = x @ W.T + b
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1, e) / (1 + e)
    slope = {"sigmoid": s * (1 - s), "tanh": 1 - np.tanh(z) ** 2,
             "relu": (z > 0).astype(np.float64)}[activation]
    delta = grad_out * slope
    return delta @ W, delta.T @ x, delta.sum(axis=0)
""", [HIDDEN["ex1-dense-backward"]], "expected dtype float32"),
        "lets torch's autograd do it": ("""
import torch
def dense_backward(x, W, b, grad_out, activation):
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    h = getattr(torch, activation)(xt @ Wt.T + bt)
    h.backward(torch.tensor(grad_out))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()
""", [HIDDEN["ex1-dense-backward"]], "must not use torch"),
    },
    "ex2-grad-norms": {
        "forgets the 1/n of the mean (a missing factor)": ("""
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    df = {"sigmoid": lambda z: f(z) * (1 - f(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "relu": lambda z: (z > 0) * 1.0}[activation]
    zs, hs = [], [x]
    for l, (W, b) in enumerate(layers):
        zs.append(hs[-1] @ W.T + b)
        hs.append(f(zs[-1]))
    delta, out = zs[-1] - y, []
    for l in reversed(range(len(layers))):
        out.insert(0, np.linalg.norm(delta.T @ hs[l]))
        if l:
            delta = (delta @ layers[l][0]) * df(zs[l - 1])
    return np.array(out)
""", [HIDDEN["ex2-grad-norms"]], "expected"),
        "forgets the slopes f'(z)": ("""
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    hs = [x]
    for W, b in layers[:-1]:
        hs.append(f(hs[-1] @ W.T + b))
    delta = (hs[-1] @ layers[-1][0].T + layers[-1][1] - y) / len(x)
    out = []
    for l in reversed(range(len(layers))):
        out.insert(0, np.linalg.norm(delta.T @ hs[l]))
        delta = delta @ layers[l][0]
    return np.array(out)
""", BOTH("ex2-grad-norms"), "expected 8.94427190999916, got"),
        "returns the norms from the output down": ("""
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    df = {"sigmoid": lambda z: f(z) * (1 - f(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "relu": lambda z: (z > 0) * 1.0}[activation]
    zs, hs = [], [x]
    for W, b in layers:
        zs.append(hs[-1] @ W.T + b)
        hs.append(f(zs[-1]))
    delta, out = (zs[-1] - y) / len(x), []
    for l in reversed(range(len(layers))):
        out.append(np.linalg.norm(delta.T @ hs[l]))
        if l:
            delta = (delta @ layers[l][0]) * df(zs[l - 1])
    return np.array(out)
""", BOTH("ex2-grad-norms"), "expected 8.94427190999916, got 14.0"),
        "takes the slope at h instead of z": ("""
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    df = {"sigmoid": lambda z: f(z) * (1 - f(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "relu": lambda z: (z > 0) * 1.0}[activation]
    zs, hs = [], [x]
    for W, b in layers:
        zs.append(hs[-1] @ W.T + b)
        hs.append(f(zs[-1]))
    delta, out = (zs[-1] - y) / len(x), []
    for l in reversed(range(len(layers))):
        out.insert(0, np.linalg.norm(delta.T @ hs[l]))
        if l:
            delta = (delta @ layers[l][0]) * df(hs[l])
    return np.array(out)
""", [HIDDEN["ex2-grad-norms"]], "expected"),
        "applies the activation to the output layer too": ("""
def grad_norms(layers, x, y, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    df = {"sigmoid": lambda z: f(z) * (1 - f(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "relu": lambda z: (z > 0) * 1.0}[activation]
    zs, hs = [], [x]
    for W, b in layers:
        zs.append(hs[-1] @ W.T + b)
        hs.append(f(zs[-1]))
    delta, out = (hs[-1] - y) / len(x) * df(zs[-1]), []
    for l in reversed(range(len(layers))):
        out.insert(0, np.linalg.norm(delta.T @ hs[l]))
        if l:
            delta = (delta @ layers[l][0]) * df(zs[l - 1])
    return np.array(out)
""", BOTH("ex2-grad-norms"), "expected 2.23606797749979, got"),
        "lets torch's autograd do it": ("""
import torch
def grad_norms(layers, x, y, activation):
    Ws = [torch.tensor(W, requires_grad=True) for W, _ in layers]
    h = torch.tensor(x)
    for l, (W, (_, b)) in enumerate(zip(Ws, layers)):
        h = h @ W.T + torch.tensor(b)
        if l < len(Ws) - 1:
            h = getattr(torch, activation)(h)
    (((h - torch.tensor(y)) ** 2).sum() / (2 * len(x))).backward()
    return np.array([W.grad.norm().item() for W in Ws])
""", [HIDDEN["ex2-grad-norms"]], "must not use torch"),
    },
    "ex3-saturation": {
        "an absolute threshold f'(z) < eps (forgets max f')": ("""
def saturation(layers, x, activation, eps=0.01):
    out, h = [], x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}
        h = f[activation](z)
        slope = {"sigmoid": h * (1 - h), "tanh": 1 - h ** 2, "relu": (z > 0) * 1.0}[activation]
        out.append(np.mean(slope < eps))
    return np.array(out)
""", [HIDDEN["ex3-saturation"]], "expected"),
        "counts the output layer too": ("""
def saturation(layers, x, activation, eps=0.01):
    out, h = [], x
    for W, b in layers:
        z = h @ W.T + b
        h = np.tanh(z)
        out.append(np.mean(1 - h ** 2 < eps))
    return np.array(out)
""", BOTH("ex3-saturation"), "expected shape (1,), got shape (2,)"),
        "relu saturated only where z < 0": ("""
def saturation(layers, x, activation, eps=0.01):
    out, h = [], x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        if activation == "relu":
            h, sat = np.maximum(z, 0), z < 0
        elif activation == "tanh":
            h = np.tanh(z)
            sat = 1 - h ** 2 < eps
        else:
            h = 1 / (1 + np.exp(-z))
            sat = h * (1 - h) < eps / 4
        out.append(np.mean(sat))
    return np.array(out)
""", BOTH("ex3-saturation"), "expected 0.75, got 0.25"),
        "one fraction for the whole network": ("""
def saturation(layers, x, activation, eps=0.01):
    sat, h = [], x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}
        h = f[activation](z)
        top = 0.25 if activation == "sigmoid" else 1.0
        slope = {"sigmoid": h * (1 - h), "tanh": 1 - h ** 2, "relu": (z > 0) * 1.0}[activation]
        sat.append((slope < eps * top).ravel())
    return np.mean(np.concatenate(sat))
""", BOTH("ex3-saturation"), "expected shape (1,), got shape ()"),
        "ignores eps (always 1 %)": ("""
def saturation(layers, x, activation, eps=0.01):
    out, h = [], x
    for W, b in layers[:-1]:
        z = h @ W.T + b
        f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}
        h = f[activation](z)
        top = 0.25 if activation == "sigmoid" else 1.0
        slope = {"sigmoid": h * (1 - h), "tanh": 1 - h ** 2, "relu": (z > 0) * 1.0}[activation]
        out.append(np.mean(slope < 0.01 * top))
    return np.array(out)
""", [HIDDEN["ex3-saturation"]], "use the eps you are given"),
    },
    "ex4-bound": {
        "Frobenius norms instead of spectral norms": ("""
def jacobian_and_bound(layers, x):
    J, h, bound = np.eye(len(x)), x, 1.0
    for W, b in layers:
        h = 1 / (1 + np.exp(-(W @ h + b)))
        J = (h * (1 - h))[:, None] * (W @ J)
        bound *= np.linalg.norm(W) / 4
    return np.linalg.norm(J), bound
""", BOTH("ex4-bound"), "norm: expected 0.5, got 0.559"),
        "forgets the 1/4 in the bound": ("""
def jacobian_and_bound(layers, x):
    J, h, bound = np.eye(len(x)), x, 1.0
    for W, b in layers:
        h = 1 / (1 + np.exp(-(W @ h + b)))
        J = (h * (1 - h))[:, None] * (W @ J)
        bound *= np.linalg.norm(W, 2)
    return np.linalg.norm(J, 2), bound
""", BOTH("ex4-bound"), "bound: expected 0.5, got 2.0"),
        "sigma instead of sigma' in the Jacobian": ("""
def jacobian_and_bound(layers, x):
    J, h, bound = np.eye(len(x)), x, 1.0
    for W, b in layers:
        h = 1 / (1 + np.exp(-(W @ h + b)))
        J = h[:, None] * (W @ J)
        bound *= np.linalg.norm(W, 2) / 4
    return np.linalg.norm(J, 2), bound
""", BOTH("ex4-bound"), "norm: expected 0.5, got 1.0"),
        "multiplies the Jacobians in the wrong order": ("""
def jacobian_and_bound(layers, x):
    J, h, bound = np.eye(len(x)), x, 1.0
    for W, b in layers:
        h = 1 / (1 + np.exp(-(W @ h + b)))
        J = J @ ((h * (1 - h))[:, None] * W)
        bound *= np.linalg.norm(W, 2) / 4
    return np.linalg.norm(J, 2), bound
""", [HIDDEN["ex4-bound"]], "raised ValueError"),
        "lets torch compute the Jacobian": ("""
import torch
def jacobian_and_bound(layers, x):
    def net(v):
        for W, b in layers:
            v = torch.sigmoid(torch.tensor(W) @ v + torch.tensor(b))
        return v
    J = torch.autograd.functional.jacobian(net, torch.tensor(x)).numpy()
    return np.linalg.norm(J, 2), np.prod([np.linalg.norm(W, 2) / 4 for W, _ in layers])
""", [HIDDEN["ex4-bound"]], "must not use torch"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: BOTH(g) for g in POINTS}, CORRECT, WRONG)
