"""Grading fairness for chapter 10 (SwiGLU and the GLU family): other correct solutions get full marks, typical
mistakes lose the exercise's points at the check that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("10_swiglu")
CHECKS = {
    "ex1-swiglu": ["visible: worked example", "hidden: random, extreme and zero inputs",
                   "hidden: no overflow warning at ±1000"],
    "ex2-llama-hidden": ["visible: worked example", "hidden: the Llama family and edge cases"],
    "ex3-gated-ffn": ["visible: worked example", "hidden: every variant at several sizes"],
    "ex4-ffn-backward": ["visible: worked example",
                         "hidden: random blocks, one token, h = 1, large gates, float32"],
}
POINTS = {"ex1-swiglu": 3, "ex2-llama-hidden": 2, "ex3-gated-ffn": 3, "ex4-ffn-backward": 3}

_FFN_HEAD = """
class ParamMatchedGLU(nn.Module):
    def __init__(self, d_model, d_ff, variant="swiglu"):
        super().__init__()
"""

# --------------------------------------------------------------------------- correct alternatives
CORRECT = {
    "ex1-swiglu": {
        "sigmoid through tanh": """
def swiglu(a, b):
    s = 0.5 * (1 + np.tanh(0.5 * a))
    return a * s * b, (s + a * s * (1 - s)) * b, a * s
""",
        "through logaddexp": """
def swiglu(a, b):
    s = np.exp(-np.logaddexp(0, -a))
    s_neg = np.exp(-np.logaddexp(0, a))
    silu = a * s
    return silu * b, (s + a * s * s_neg) * b, silu
""",
        "helper functions": """
def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))

def swiglu(a, b):
    silu = a * sigmoid(a)
    dsilu = sigmoid(a) * (1 + a * sigmoid(-a))
    return silu * b, dsilu * b, silu
""",
    },
    "ex2-llama-hidden": {
        "math.ceil": """
import math
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = int(8 * d_model / 3)
    if ffn_dim_multiplier:
        h = int(h * ffn_dim_multiplier)
    return multiple_of * math.ceil(h / multiple_of)
""",
        "negative floor division, Meta's form": """
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    hidden_dim = 4 * d_model
    hidden_dim = int(2 * hidden_dim / 3)
    if ffn_dim_multiplier is not None:
        hidden_dim = int(ffn_dim_multiplier * hidden_dim)
    return -(-hidden_dim // multiple_of) * multiple_of
""",
        "a loop": """
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = int(2 * 4 * d_model / 3)
    h = int(h * ffn_dim_multiplier) if ffn_dim_multiplier is not None else h
    while h % multiple_of:
        h += 1
    return h
""",
    },
    "ex3-gated-ffn": {
        "if-chain in forward, erf for GELU": _FFN_HEAD + """
        h = (2 * d_ff) // 3
        self.variant = variant
        self.w, self.v = nn.Linear(d_model, h, bias=False), nn.Linear(d_model, h, bias=False)
        self.w2 = nn.Linear(h, d_model, bias=False)

    def forward(self, x):
        a = self.w(x)
        if self.variant == "glu":
            g = 1 / (1 + torch.exp(-a))
        elif self.variant == "bilinear":
            g = a
        elif self.variant == "reglu":
            g = a.clamp(min=0)
        elif self.variant == "geglu":
            g = 0.5 * a * (1 + torch.erf(a / 2 ** 0.5))
        else:
            g = a * torch.sigmoid(a)
        return self.w2(g * self.v(x))
""",
        "activation modules in a ModuleDict": _FFN_HEAD + """
        h = int(2 * d_ff / 3)
        self.w = nn.Linear(d_model, h, bias=False)
        self.v = nn.Linear(d_model, h, bias=False)
        self.w2 = nn.Linear(h, d_model, bias=False)
        acts = nn.ModuleDict({"glu": nn.Sigmoid(), "bilinear": nn.Identity(), "reglu": nn.ReLU(),
                              "geglu": nn.GELU(), "swiglu": nn.SiLU()})
        self.act = acts[variant]

    def forward(self, x):
        return self.w2(self.act(self.w(x)) * self.v(x))
""",
    },
    "ex4-ffn-backward": {
        "einsum, sigma (1 - sigma)": """
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    s = np.where(a >= 0, 1, e) / (1 + e)
    silu, dsilu = a * s, s * (1 + a * (1 - s))
    H = np.einsum("nd,hd->nh", g, W2)
    da, db = H * b * dsilu, H * silu
    return (np.einsum("nh,dh->nd", da, W) + np.einsum("nh,dh->nd", db, V),
            np.einsum("nd,nh->dh", x, da), np.einsum("nd,nh->dh", x, db),
            np.einsum("nh,nd->hd", silu * b, g))
""",
        "transposes of products": """
def swiglu_ffn_backward(x, W, V, W2, g):
    a = x @ W
    sig = 0.5 * (1 + np.tanh(a / 2))
    b = x @ V
    H = (W2 @ g.T).T
    da = H * b * (sig + a * sig * (1 - sig))
    db = H * a * sig
    return (W @ da.T).T + (V @ db.T).T, (da.T @ x).T, (db.T @ x).T, (g.T @ (a * sig * b)).T
""",
    },
}

# --------------------------------------------------------------------------- typical mistakes
# source -> (checks that must fail, a phrase the first failed check's message must contain)
WRONG = {
    "ex1-swiglu": {
        "the naive formula and its quotient-rule derivative": ("""
def swiglu(a, b):
    e = np.exp(-a)
    return a / (1 + e) * b, (1 + e + a * e) / (1 + e) ** 2 * b, a / (1 + e)
""", CHECKS["ex1-swiglu"][1:], "got nan"),
        "forgets b in dy/da": ("""
def swiglu(a, b):
    e = np.exp(-np.abs(a))
    s = np.where(a >= 0, 1, e) / (1 + e)
    return a * s * b, s + a * e / (1 + e) ** 2, a * s
""", CHECKS["ex1-swiglu"], "dy_da: expected"),
        "returns only y": ("""
def swiglu(a, b):
    e = np.exp(-np.abs(a))
    return a * np.where(a >= 0, 1, e) / (1 + e) * b
""", CHECKS["ex1-swiglu"], "expected a tuple of 3"),
        "a float64 constant": ("""
def swiglu(a, b):
    e = np.exp(-np.abs(a))
    s = np.where(a >= 0, np.float64(1), e) / (1 + e)
    return a * s * b, (s + a * e / (1 + e) ** 2) * b, a * s
""", CHECKS["ex1-swiglu"][1:], "expected dtype float32"),
    },
    "ex2-llama-hidden": {
        "rounds down": ("""
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = int(8 * d_model / 3)
    if ffn_dim_multiplier is not None:
        h = int(ffn_dim_multiplier * h)
    return multiple_of * (h // multiple_of)
""", CHECKS["ex2-llama-hidden"], "expected 11008, got 10752"),
        "rounds to the nearest multiple": ("""
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = int(8 * d_model / 3)
    if ffn_dim_multiplier is not None:
        h = int(ffn_dim_multiplier * h)
    return multiple_of * round(h / multiple_of)
""", ["hidden: the Llama family and edge cases"], "expected 13824, got 13568"),
        "ignores the multiplier": ("""
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = int(8 * d_model / 3)
    return -(-h // multiple_of) * multiple_of
""", CHECKS["ex2-llama-hidden"], "expected 28672, got 24576"),
        "rounds 8d/3 instead of truncating": ("""
def llama_hidden_size(d_model, multiple_of=256, ffn_dim_multiplier=None):
    h = round(8 * d_model / 3)
    if ffn_dim_multiplier is not None:
        h = round(ffn_dim_multiplier * h)
    return -(-h // multiple_of) * multiple_of
""", ["hidden: the Llama family and edge cases"], "expected 266, got 267"),
        "calls the library": ("""
from actlab.modules import llama_hidden_size
""", ["hidden: the Llama family and edge cases"], "must not use actlab.modules.llama_hidden_size"),
    },
    "ex3-gated-ffn": {
        "hidden size 8d/3 instead of 2 d_ff / 3": (_FFN_HEAD + """
        h = 8 * d_model // 3
        self.w, self.v = nn.Linear(d_model, h, bias=False), nn.Linear(d_model, h, bias=False)
        self.w2 = nn.Linear(h, d_model, bias=False)

    def forward(self, x):
        return self.w2(nn.functional.silu(self.w(x)) * self.v(x))
""", CHECKS["ex3-gated-ffn"], "w.weight has shape (16, 6); expected (10, 6)"),
        "keeps the biases": (_FFN_HEAD + """
        h = 2 * d_ff // 3
        self.w, self.v, self.w2 = nn.Linear(d_model, h), nn.Linear(d_model, h), nn.Linear(h, d_model)
        self.f = {"glu": torch.sigmoid, "bilinear": lambda a: a, "reglu": torch.relu,
                  "geglu": nn.functional.gelu, "swiglu": nn.functional.silu}[variant]

    def forward(self, x):
        return self.w2(self.f(self.w(x)) * self.v(x))
""", CHECKS["ex3-gated-ffn"], "parameter count: expected 180, got 206"),
        "gates the value projection instead": (_FFN_HEAD + """
        h = 2 * d_ff // 3
        self.w, self.v = nn.Linear(d_model, h, bias=False), nn.Linear(d_model, h, bias=False)
        self.w2 = nn.Linear(h, d_model, bias=False)
        self.f = {"glu": torch.sigmoid, "bilinear": lambda a: a, "reglu": torch.relu,
                  "geglu": nn.functional.gelu, "swiglu": nn.functional.silu}[variant]

    def forward(self, x):
        return self.w2(self.w(x) * self.f(self.v(x)))
""", CHECKS["ex3-gated-ffn"], "output: expected"),
        "the tanh GELU for geglu": (_FFN_HEAD + """
        h = 2 * d_ff // 3
        self.w, self.v = nn.Linear(d_model, h, bias=False), nn.Linear(d_model, h, bias=False)
        self.w2 = nn.Linear(h, d_model, bias=False)
        self.f = {"glu": torch.sigmoid, "bilinear": lambda a: a, "reglu": torch.relu,
                  "geglu": lambda a: nn.functional.gelu(a, approximate="tanh"),
                  "swiglu": nn.functional.silu}[variant]

    def forward(self, x):
        return self.w2(self.f(self.w(x)) * self.v(x))
""", ["hidden: every variant at several sizes"], "output: expected"),
        "wraps the library's block": (_FFN_HEAD + """
        from actlab import modules
        self.lib = modules.GLUFeedForward(d_model, 2 * d_ff // 3, variant=variant)
        self.w, self.v, self.w2 = self.lib.w, self.lib.v, self.lib.w2

    def forward(self, x):
        return self.lib(x)
""", ["hidden: every variant at several sizes"], "must not use actlab.modules"),
    },
    "ex4-ffn-backward": {
        "forgets b in the gate's gradient": ("""
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    sig = np.where(a >= 0, 1, e) / (1 + e)
    H = g @ W2.T
    da, db = H * (sig + a * e / (1 + e) ** 2), H * a * sig
    return da @ W.T + db @ V.T, x.T @ da, x.T @ db, (a * sig * b).T @ g
""", CHECKS["ex4-ffn-backward"], "dx: expected"),
        "dx only through W": ("""
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    sig = np.where(a >= 0, 1, e) / (1 + e)
    H = g @ W2.T
    da, db = H * b * (sig + a * e / (1 + e) ** 2), H * a * sig
    return da @ W.T, x.T @ da, x.T @ db, (a * sig * b).T @ g
""", CHECKS["ex4-ffn-backward"], "dx: expected"),
        "silu' taken as sigma": ("""
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    sig = np.where(a >= 0, 1, e) / (1 + e)
    H = g @ W2.T
    da, db = H * b * sig, H * a * sig
    return da @ W.T + db @ V.T, x.T @ da, x.T @ db, (a * sig * b).T @ g
""", CHECKS["ex4-ffn-backward"], "dx: expected"),
        "W2's gradient transposed": ("""
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    sig = np.where(a >= 0, 1, e) / (1 + e)
    H = g @ W2.T
    da, db = H * b * (sig + a * e / (1 + e) ** 2), H * a * sig
    return da @ W.T + db @ V.T, x.T @ da, x.T @ db, g.T @ (a * sig * b)
""", CHECKS["ex4-ffn-backward"], "dW2: expected"),
        "a float64 constant": ("""
def swiglu_ffn_backward(x, W, V, W2, g):
    a, b = x @ W, x @ V
    e = np.exp(-np.abs(a))
    sig = np.where(a >= 0, np.float64(1), e) / (1 + e)
    H = g @ W2.T
    da, db = H * b * (sig + a * e / (1 + e) ** 2), H * a * sig
    return da @ W.T + db @ V.T, x.T @ da, x.T @ db, (a * sig * b).T @ g
""", ["hidden: random blocks, one token, h = 1, large gates, float32"], "expected dtype float32"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, CHECKS, CORRECT, WRONG)
