"""Grading fairness for chapter 07 (softmax): other correct solutions get full marks, typical mistakes lose the
exercise's points at the checks that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("07_softmax")
R64, R32 = "hidden: random axes, scales and masks (float64)", "hidden: random axes, scales and masks (float32)"
EXT = "hidden: logits of ±1000, no warnings"
CHECKS = {
    "ex1-softmax": ["visible: worked examples", R64, R32, EXT],
    "ex2-log-softmax": ["visible: worked examples", R64, R32, EXT],
    "ex3-jvp": ["visible: worked examples", "hidden: random axes and dtypes, extremes, 100,000 logits"],
    "ex4-cross-entropy": ["visible: worked examples", "hidden: random batches (float64)",
                          "hidden: random batches (float32)", EXT],
    "ex5-multilabel": ["visible: worked example", "hidden: random logits, per-label thresholds, empty rows", EXT],
}
POINTS = {"ex1-softmax": 3, "ex2-log-softmax": 3, "ex3-jvp": 3, "ex4-cross-entropy": 3, "ex5-multilabel": 2}

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-softmax": {
        "exp(z - log-sum-exp), no division": """
def softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    return np.exp(z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True)))
""",
        "row by row after moveaxis": """
def softmax(x, axis=-1):
    y = np.moveaxis(x, axis, -1)
    out = np.empty_like(y)
    for idx in np.ndindex(y.shape[:-1]):
        e = np.exp(y[idx] - y[idx].max())
        out[idx] = e / e.sum()
    return np.moveaxis(out, -1, axis)
""",
        "in float64, cast back": """
def softmax(x, axis=-1):
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)
""",
        "expand_dims instead of keepdims": """
def softmax(x, axis=-1):
    e = np.exp(x - np.expand_dims(np.max(x, axis=axis), axis))
    return e / np.expand_dims(e.sum(axis=axis), axis)
""",
    },
    "ex2-log-softmax": {
        "x - (m + log S): the textbook log-sum-exp": """
def log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))
""",
        "log1p of the terms other than the maximum": """
def log_softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return z - np.log1p(np.sum(e, axis=axis, keepdims=True) - 1)
""",
        "in float64, cast back": """
def log_softmax(x, axis=-1):
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(x.dtype)
""",
        "calls its own logsumexp helper": """
def logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))

def log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return (x - m) - (logsumexp(x, axis) - m)
""",
    },
    "ex3-jvp": {
        "p * v - p * <p, v>": """
def softmax_jvp(x, v, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    return p * v - p * (p * v).sum(axis=axis, keepdims=True)
""",
        "via moveaxis and einsum for the inner product": """
def softmax_jvp(x, v, axis=-1):
    xs, vs = np.moveaxis(x, axis, -1), np.moveaxis(v, axis, -1)
    e = np.exp(xs - xs.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    inner = np.einsum("...i,...i->...", p, vs)[..., None]
    return np.moveaxis(p * (vs - inner), -1, axis)
""",
        "a helper softmax written by the student": """
def my_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)

def softmax_jvp(x, v, axis=-1):
    p = my_softmax(x, axis)
    return p * (v - np.sum(p * v, axis=axis, keepdims=True))
""",
    },
    "ex4-cross-entropy": {
        "one-hot matrix and a float loss": """
def cross_entropy(logits, labels):
    n, k = logits.shape
    Y = np.eye(k, dtype=logits.dtype)[labels]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(Y * logp).sum() / n), (np.exp(logp) - Y) / n
""",
        "loss via take_along_axis, grad via softmax": """
def cross_entropy(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(logits, labels[:, None], axis=1)
    p = np.exp(logits - lse)
    p[np.arange(len(labels)), labels] -= 1
    return np.mean(lse - picked), p / len(labels)
""",
        "a loop over samples": """
def cross_entropy(logits, labels):
    n = len(labels)
    loss, grad = 0.0, np.zeros_like(logits)
    for i in range(n):
        z = logits[i] - logits[i].max()
        lse = np.log(np.exp(z).sum())
        loss += lse - z[labels[i]]
        grad[i] = np.exp(z - lse)
        grad[i, labels[i]] -= 1
    return loss / n, grad / n
""",
    },
    "ex5-multilabel": {
        "a stable sigmoid, then the threshold": """
def predict_labels(logits, thresholds):
    e = np.exp(-np.abs(logits))
    p = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    on = p >= thresholds
    for i in np.flatnonzero(~on.any(axis=1)):
        on[i, np.argmax(logits[i])] = True
    return on
""",
        "integers 0/1 instead of booleans": """
def predict_labels(logits, thresholds):
    t = np.broadcast_to(np.asarray(thresholds, float), logits.shape[1:])
    on = (logits >= np.log(t) - np.log1p(-t)).astype(int)
    best = np.argmax(logits, axis=1)
    on[np.arange(len(on)), best] |= (on.sum(axis=1) == 0)
    return on
""",
        "scipy's expit (allowed: not from scratch)": """
from scipy.special import expit
def predict_labels(logits, thresholds):
    on = expit(logits) >= np.asarray(thresholds)
    empty = ~on.any(axis=1)
    on[empty, np.argmax(logits[empty], axis=1)] = True
    return on
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-softmax": {
        "the textbook formula (overflows)": ("""
def softmax(x, axis=-1):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)
""", ["visible: worked examples", R64, R32, EXT], "got nan"),
        "ignores axis": ("""
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
""", ["visible: worked examples", R64, R32, EXT], "expected"),
        "the global maximum instead of the maximum along the axis": ("""
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / np.sum(e, axis=axis, keepdims=True)
""", [R64, R32, EXT], "got nan"),
        "float64 result for float32 input": ("""
def softmax(x, axis=-1):
    x = x.astype(np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
""", ["visible: worked examples", R32, EXT], "expected dtype float32"),
        "calls scipy's softmax": ("""
from scipy.special import softmax as sp_softmax
def softmax(x, axis=-1):
    return sp_softmax(x, axis=axis)
""", [R64], "must not use scipy.special.softmax"),
    },
    "ex2-log-softmax": {
        "the log of the softmax": ("""
def log_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return np.log(e / np.sum(e, axis=axis, keepdims=True))
""", ["visible: worked examples", R64, R32, EXT], "got -inf"),
        "forgets the maximum inside the logarithm": ("""
def log_softmax(x, axis=-1):
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
""", ["visible: worked examples", R64, R32, EXT], "expected"),
        "sign error: LSE - x": ("""
def log_softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(z), axis=axis, keepdims=True)) - z
""", ["visible: worked examples", R64, R32, EXT], "expected"),
        "calls scipy's logsumexp": ("""
from scipy.special import logsumexp
def log_softmax(x, axis=-1):
    return x - logsumexp(x, axis=axis, keepdims=True)
""", [R64], "must not use scipy.special.logsumexp"),
    },
    "ex3-jvp": {
        "builds the Jacobian": ("""
def softmax_jvp(x, v, axis=-1):
    xs, vs = np.moveaxis(x, axis, -1), np.moveaxis(v, axis, -1)
    e = np.exp(xs - xs.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    J = p[..., :, None] * (np.eye(xs.shape[-1], dtype=x.dtype) - p[..., None, :])
    return np.moveaxis(np.einsum("...ij,...j->...i", J, vs), -1, axis)
""", ["hidden: random axes and dtypes, extremes, 100,000 logits"], "MemoryError"),
        "forgets the inner product: p * v": ("""
def softmax_jvp(x, v, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True) * v
""", ["visible: worked examples", "hidden: random axes and dtypes, extremes, 100,000 logits"], "expected 0.25"),
        "only the diagonal: p (1 - p) v": ("""
def softmax_jvp(x, v, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    return p * (1 - p) * v
""", ["visible: worked examples", "hidden: random axes and dtypes, extremes, 100,000 logits"], "expected -0.25"),
        "inner product over the whole array": ("""
def softmax_jvp(x, v, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    return p * (v - np.sum(p * v))
""", ["visible: worked examples", "hidden: random axes and dtypes, extremes, 100,000 logits"], "expected"),
        "autograd through torch": ("""
import torch
def softmax_jvp(x, v, axis=-1):
    t = torch.tensor(x, requires_grad=True)
    torch.softmax(t, axis).backward(torch.tensor(v))
    return t.grad.numpy()
""", ["hidden: random axes and dtypes, extremes, 100,000 logits"], "must not use torch"),
    },
    "ex4-cross-entropy": {
        "forgets to divide the gradient by n": ("""
def cross_entropy(logits, labels):
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    g = np.exp(logp)
    g[np.arange(n), labels] -= 1
    return -logp[np.arange(n), labels].mean(), g
""", ["visible: worked examples", "hidden: random batches (float64)", "hidden: random batches (float32)", EXT],
            "grad: expected"),
        "sums the loss instead of averaging": ("""
def cross_entropy(logits, labels):
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    g = np.exp(logp)
    g[np.arange(n), labels] -= 1
    return -logp[np.arange(n), labels].sum(), g / n
""", ["visible: worked examples", "hidden: random batches (float64)", "hidden: random batches (float32)", EXT],
            "loss: expected"),
        "the log of a naive softmax": ("""
def cross_entropy(logits, labels):
    n = logits.shape[0]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), labels]).mean()
    p[np.arange(n), labels] -= 1
    return loss, p / n
""", [EXT], "loss: expected"),
        "y - p: the wrong sign": ("""
def cross_entropy(logits, labels):
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    g = -np.exp(logp)
    g[np.arange(n), labels] += 1
    return -logp[np.arange(n), labels].mean(), g / n
""", ["visible: worked examples", "hidden: random batches (float64)", "hidden: random batches (float32)", EXT],
            "grad: expected"),
        "a float64 gradient for float32 logits": ("""
def cross_entropy(logits, labels):
    z = logits.astype(np.float64)
    n = z.shape[0]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    g = np.exp(logp)
    g[np.arange(n), labels] -= 1
    return -logp[np.arange(n), labels].mean(), g / n
""", ["hidden: random batches (float32)", EXT], "expected dtype float32"),
        "torch's cross_entropy and autograd": ("""
import torch
def cross_entropy(logits, labels):
    z = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(labels))
    loss.backward()
    return loss.item(), z.grad.numpy()
""", ["hidden: random batches (float64)"], "must not use"),
    },
    "ex5-multilabel": {
        "no rule for rows without a label": ("""
def predict_labels(logits, thresholds):
    t = np.asarray(thresholds, dtype=np.float64)
    return logits >= np.log(t / (1 - t))
""", ["visible: worked example", "hidden: random logits, per-label thresholds, empty rows", EXT], "expected True"),
        "compares the logits with the thresholds": ("""
def predict_labels(logits, thresholds):
    on = logits >= np.asarray(thresholds)
    empty = ~on.any(axis=1)
    on[empty, np.argmax(logits[empty], axis=1)] = True
    return on
""", ["hidden: random logits, per-label thresholds, empty rows", EXT], "expected"),
        "the naive sigmoid (overflow warnings)": ("""
def predict_labels(logits, thresholds):
    on = 1 / (1 + np.exp(-logits)) >= np.asarray(thresholds)
    empty = ~on.any(axis=1)
    on[empty, np.argmax(logits[empty], axis=1)] = True
    return on
""", [EXT], "overflow"),
        "one threshold for all labels (the first)": ("""
def predict_labels(logits, thresholds):
    t = float(np.ravel(thresholds)[0])
    on = logits >= np.log(t / (1 - t))
    empty = ~on.any(axis=1)
    on[empty, np.argmax(logits[empty], axis=1)] = True
    return on
""", ["hidden: random logits, per-label thresholds, empty rows", EXT], "expected"),
        "the best label by column instead of by row": ("""
def predict_labels(logits, thresholds):
    t = np.asarray(thresholds, dtype=np.float64)
    on = logits >= np.log(t / (1 - t))
    empty = ~on.any(axis=1)
    on[empty, np.argmax(logits, axis=0)[: empty.sum()] % logits.shape[1]] = True
    return on
""", ["visible: worked example", "hidden: random logits, per-label thresholds, empty rows", EXT], "expected"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)
