"""Grading fairness for chapter 00: other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why.

Pattern for every chapter: one ``CORRECT`` and one ``WRONG`` table per exercise (solution source -> the checks
that must fail and a phrase the first failure's message must contain), run through ``exercise_harness``."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("00_why_activation")
VISIBLE = {"ex1-collapse": "visible: worked example", "ex2-parity": "visible: XOR",
           "ex3-pieces": "visible: worked example and |x|", "ex4-interpolant": "visible: worked example"}
HIDDEN = {"ex1-collapse": "hidden: random and edge-case stacks", "ex2-parity": "hidden: n = 1 to 8 bits",
          "ex3-pieces": "hidden: random, shared, cancelling and far-away kinks",
          "ex4-interpolant": "hidden: random and edge-case knots"}
POINTS = {"ex1-collapse": 2, "ex2-parity": 2, "ex3-pieces": 3, "ex4-interpolant": 3}

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-collapse": {
        "functools.reduce": """
import functools
def collapse(layers):
    return functools.reduce(lambda acc, l: (l[0] @ acc[0], l[0] @ acc[1] + l[1]), layers[1:], layers[0])
""",
        "from the identity, in the layers' dtype": """
def collapse(layers):
    W0, b0 = layers[0]
    W, b = np.eye(W0.shape[1], dtype=W0.dtype), np.zeros(W0.shape[1], dtype=b0.dtype)
    for Wl, bl in layers:
        W, b = Wl @ W, Wl @ b + bl
    return W, b
""",
        "the closed form of the theorem": """
def collapse(layers):
    def tail(l):  # W_L ... W_(l+1); None when empty
        out = None
        for Wk, _ in layers[l + 1:]:
            out = Wk if out is None else Wk @ out
        return out
    last = len(layers) - 1
    W = layers[0][0] if last == 0 else tail(0) @ layers[0][0]
    b = sum(bl if l == last else tail(l) @ bl for l, (_, bl) in enumerate(layers))
    return W, b
""",
        "right to left with multi_dot, as lists": """
def collapse(layers):
    Ws = [W for W, _ in layers]
    W = np.linalg.multi_dot(Ws[::-1]) if len(Ws) > 1 else Ws[0]
    b = layers[0][1]
    for Wl, bl in layers[1:]:
        b = Wl @ b + bl
    return W, b
""",
    },
    "ex2-parity": {
        "units scaled by 2": """
def parity_net(n):
    w2 = np.array([1.0] + [2.0 * (-1) ** k for k in range(1, n)]) / 2
    return 2 * np.ones((n, n)), -2.0 * np.arange(n), w2, 0.0
""",
        "units in reverse order, w2 as a row, b2 as an array": """
def parity_net(n):
    k = np.arange(n)[::-1]
    w2 = np.where(k == 0, 1.0, 2.0 * (-1.0) ** k)
    return np.ones((n, n)), -k.astype(float), w2[None, :], np.array([0.0])
""",
        "XOR as |x1 - x2|, the zigzag otherwise": """
def parity_net(n):
    if n == 2:
        return np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2), np.array([1.0, 1.0]), 0.0
    W1 = np.ones((n, n)); b1 = -np.arange(n, dtype=float)
    w2 = np.array([1.0] + [2.0 * (-1) ** k for k in range(1, n)])
    return W1, b1, w2, 0.0
""",
        "mirrored: the zigzag in n - s": """
def parity_net(n):
    zig = np.array([1.0] + [2.0 * (-1) ** k for k in range(1, n)])
    if n % 2 == 0:   # parity(s) = parity(n - s)
        return -np.ones((n, n)), n - np.arange(n, dtype=float), zig, 0.0
    return -np.ones((n, n)), n - np.arange(n, dtype=float), -zig, 1.0   # = 1 - parity(n - s)
""",
    },
    "ex3-pieces": {
        "exact fractions": """
from fractions import Fraction
def count_linear_pieces(w, b, v):
    jumps = {}
    for wk, bk, vk in zip(w, b, v):
        if wk and vk:
            t = -Fraction(float(bk)) / Fraction(float(wk))
            jumps[t] = jumps.get(t, 0) + Fraction(float(vk)) * abs(Fraction(float(wk)))
    return 1 + sum(j != 0 for j in jumps.values())
""",
        "vectorized with np.unique and np.add.at": """
def count_linear_pieces(w, b, v):
    keep = (w != 0) & (v != 0)
    kinks, inverse = np.unique(-b[keep] / w[keep], return_inverse=True)
    jumps = np.zeros(len(kinks))
    np.add.at(jumps, inverse, v[keep] * np.abs(w[keep]))
    return np.int64(1 + np.count_nonzero(jumps))
""",
        "sorted kinks and a running sum": """
def count_linear_pieces(w, b, v):
    items = sorted((-bk / wk, vk * abs(wk)) for wk, bk, vk in zip(w, b, v) if wk != 0 and vk != 0)
    pieces, i = 1, 0
    while i < len(items):
        t, total = items[i][0], 0.0
        while i < len(items) and items[i][0] == t:
            total += items[i][1]
            i += 1
        pieces += total != 0
    return pieces
""",
    },
    "ex4-interpolant": {
        "mirrored: units relu(x_k - x) anchored at the right end": """
def relu_interpolant(xs, ys):
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    s = np.diff(ys) / np.diff(xs)
    a = np.append(s[1:], 0.0) - s              # a_k = s_k - s_(k-1) for the knots x_1 .. x_m, s_m = 0
    return -np.ones(len(s)), xs[1:], a, float(ys[-1])
""",
        "units scaled by 2, zero-weight units dropped": """
def relu_interpolant(xs, ys):
    s = np.diff(ys) / np.diff(xs)
    v = np.diff(s, prepend=0.0)
    keep = v != 0
    return 2 * np.ones(keep.sum()), -2 * xs[:-1][keep], v[keep] / 2, ys[0]
""",
        "a Python loop": """
def relu_interpolant(xs, ys):
    w, b, v, prev = [], [], [], 0.0
    for k in range(len(xs) - 1):
        slope = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        w.append(1.0); b.append(-xs[k]); v.append(slope - prev); prev = slope
    return np.array(w), np.array(b), np.array(v), ys[0]
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-collapse": {
        "multiplies in the wrong order": ("""
def collapse(layers):
    W, b = layers[0]
    for Wn, bn in layers[1:]:
        W, b = W @ Wn, Wn @ b + bn
    return W, b
""", ["visible: worked example", "hidden: random and edge-case stacks"], "raised ValueError"),
        "keeps only the last bias": ("""
def collapse(layers):
    W, _ = layers[0]
    for Wn, _ in layers[1:]:
        W = Wn @ W
    return W, layers[-1][1]
""", ["visible: worked example", "hidden: random and edge-case stacks"], "b: expected 5.0, got 3.0"),
        "starts from np.eye in float64": ("""
def collapse(layers):
    W, b = np.eye(layers[0][0].shape[1]), np.zeros(layers[0][0].shape[1])
    for Wl, bl in layers:
        W, b = Wl @ W, Wl @ b + bl
    return W, b
""", ["hidden: random and edge-case stacks"], "expected dtype float32"),
        "calls the library's collapse": ("""
from actlab.experiments import collapse_affine as collapse
""", ["hidden: random and edge-case stacks"], "must not use actlab.experiments.collapse_affine"),
    },
    "ex2-parity": {
        "slope changes of 1 instead of 2": ("""
def parity_net(n):
    return np.ones((n, n)), -np.arange(n, dtype=float), (-1.0) ** np.arange(n), 0.0
""", ["visible: XOR", "hidden: n = 1 to 8 bits"], "expected 0.0, got 1.0"),
        "kinks one step too far right": ("""
def parity_net(n):
    w2 = np.array([1.0] + [2.0 * (-1) ** k for k in range(1, n)])
    return np.ones((n, n)), -np.arange(1, n + 1, dtype=float), w2, 0.0
""", ["visible: XOR", "hidden: n = 1 to 8 bits"], "expected 1.0, got 0.0"),
        "only knows XOR": ("""
def parity_net(n):
    return np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2), np.array([1.0, 1.0]), 0.0
""", ["hidden: n = 1 to 8 bits"], "W1 must have shape (m, 1)"),
        "one unit too many": ("""
def parity_net(n):
    w2 = np.array([1.0] + [2.0 * (-1) ** k for k in range(1, n + 1)])
    return np.ones((n + 1, n)), -np.arange(n + 1, dtype=float), w2, 0.0
""", ["visible: XOR", "hidden: n = 1 to 8 bits"], "use at most n = 2 hidden units"),
        "forgets to return": ("""
def parity_net(n):
    W1, b1 = np.ones((n, n)), -np.arange(n, dtype=float)
""", ["visible: XOR", "hidden: n = 1 to 8 bits"], "return a tuple (W1, b1, w2, b2); got NoneType"),
    },
    "ex3-pieces": {
        "one piece per unit (ignores shared kinks)": ("""
def count_linear_pieces(w, b, v):
    return 1 + int(np.count_nonzero((w != 0) & (v != 0)))
""", ["visible: worked example and |x|", "hidden: random, shared, cancelling and far-away kinks"],
            "expected 3, got 4"),
        "merges shared kinks but ignores cancellation": ("""
def count_linear_pieces(w, b, v):
    keep = (w != 0) & (v != 0)
    return 1 + len(np.unique(-b[keep] / w[keep]))
""", ["hidden: random, shared, cancelling and far-away kinks"], "expected"),
        "samples f on a grid": ("""
def count_linear_pieces(w, b, v):
    x = np.linspace(-10, 10, 20001)
    bends = np.abs(np.diff(np.maximum(np.outer(x, w) + b, 0) @ v, 2)) > 1e-9
    return 1 + int(bends[0]) + int(np.sum(bends[1:] & ~bends[:-1]))
""", ["hidden: random, shared, cancelling and far-away kinks"], "expected"),
        "counts kinks, not pieces": ("""
def count_linear_pieces(w, b, v):
    keep = (w != 0) & (v != 0)
    return len(np.unique(-b[keep] / w[keep]))
""", ["visible: worked example and |x|", "hidden: random, shared, cancelling and far-away kinks"],
            "expected 3, got 2"),
        "returns a float": ("""
def count_linear_pieces(w, b, v):
    return 1.5
""", ["visible: worked example and |x|", "hidden: random, shared, cancelling and far-away kinks"],
            "expected the integer 3"),
    },
    "ex4-interpolant": {
        "uses the slopes as output weights": ("""
def relu_interpolant(xs, ys):
    s = np.diff(ys) / np.diff(xs)
    return np.ones_like(s), -xs[:-1], s, float(ys[0])
""", ["visible: worked example", "hidden: random and edge-case knots"], "expected"),
        "forgets the offset c": ("""
def relu_interpolant(xs, ys):
    s = np.diff(ys) / np.diff(xs)
    return np.ones_like(s), -xs[:-1], np.diff(s, prepend=0.0), 0.0
""", ["hidden: random and edge-case knots"], "expected"),
        "one unit per knot": ("""
def relu_interpolant(xs, ys):
    s = np.append(np.diff(ys) / np.diff(xs), 0.0)
    return np.ones_like(s), -xs, np.diff(s, prepend=0.0), float(ys[0])
""", ["visible: worked example", "hidden: random and edge-case knots"], "use at most len(xs) - 1 = 2 hidden units"),
        "kinks at the wrong knots": ("""
def relu_interpolant(xs, ys):
    s = np.diff(ys) / np.diff(xs)
    return np.ones_like(s), -xs[1:], np.diff(s, prepend=0.0), float(ys[0])
""", ["visible: worked example", "hidden: random and edge-case knots"], "expected"),
        "calls the library": ("""
import actlab.experiments as E
def relu_interpolant(xs, ys):
    return E.relu_interpolant(xs, ys)
""", ["hidden: random and edge-case knots"], "must not use actlab.experiments.relu_interpolant"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: [VISIBLE[g], HIDDEN[g]] for g in POINTS}, CORRECT, WRONG)

