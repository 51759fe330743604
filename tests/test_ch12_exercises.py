"""Grading fairness for chapter 12: other correct solutions get full marks, typical mistakes lose the
exercise's points at the check that should catch them, with a message that says why (pattern of
tests/test_ch00_exercises.py)."""

from exercise_harness import Chapter, fairness_tests

CH = Chapter("12_llm_activations")
VISIBLE = {"ex1-identify": "visible: torch's modules", "ex2-describe": "visible: three small blocks",
           "ex3-llama-params": "visible: LLaMA-7B"}
HIDDEN = {"ex1-identify": "hidden: torch and the transformers registry",
          "ex2-describe": "hidden: blocks of real architectures",
          "ex3-llama-params": "hidden: Llama 1, 2, 3 and random sizes"}
POINTS = {"ex1-identify": 3, "ex2-describe": 3, "ex3-llama-params": 2}

CORRECT = {
    "ex1-identify": {
        "numpy formulas with scipy's erf, a coarser grid": """
import numpy as np
from scipy.special import erf
def identify_activation(f):
    x = np.linspace(-6, 6, 601)
    with torch.no_grad():
        y = f(torch.from_numpy(x)).numpy()
    s = lambda t: 1 / (1 + np.exp(-t))
    forms = {"relu": np.maximum(x, 0), "gelu": 0.5 * x * (1 + erf(x / np.sqrt(2))),
             "gelu_tanh": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
             "gelu_sigmoid": x * s(1.702 * x), "silu": x * s(x), "sigmoid": s(x), "tanh": np.tanh(x),
             "identity": x}
    for name, v in forms.items():
        if np.max(np.abs(y - v)) <= 1e-6:
            return name
    return "unknown"
""",
        "torch's own functions as the candidates": """
import torch.nn.functional as F
def identify_activation(f):
    x = torch.linspace(-6, 6, 4001, dtype=torch.float64)
    cands = [("relu", F.relu), ("gelu", F.gelu), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
             ("gelu_sigmoid", lambda t: t * torch.sigmoid(1.702 * t)), ("silu", F.silu),
             ("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("identity", lambda t: t)]
    with torch.no_grad():
        y = f(x)
    hits = [n for n, g in cands if torch.allclose(y, g(x), rtol=0, atol=1e-6)]
    return hits[0] if hits else "unknown"
""",
    },
    "ex2-describe": {
        "from the parameter counts": """
def describe_mlp(mlp, d_model):
    mats = [p for p in mlp.parameters() if p.dim() == 2]
    weights = sum(p.numel() for p in mats)
    last = [m for m in mlp.modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"][-1]
    d_ff = last.in_features if isinstance(last, nn.Linear) else last.weight.shape[0]
    return weights == 3 * d_model * d_ff, d_ff
""",
        "by probing: the output projection's input width, counted with a hook": """
def describe_mlp(mlp, d_model):
    lin = [m for m in mlp.modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"]
    widths = []
    hooks = [m.register_forward_hook(lambda m, a, y: widths.append((a[0].shape[-1], y.shape[-1]))) for m in lin]
    with torch.no_grad():
        mlp(torch.zeros(1, d_model, dtype=next(mlp.parameters()).dtype))
    for h in hooks:
        h.remove()
    d_ff = widths[-1][0]
    return sum(o for _, o in widths[:-1]) == 2 * d_ff, d_ff
""",
    },
    "ex3-llama-params": {
        "math.ceil": """
import math
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    h = int(2 * 4 * d_model / 3)
    if ffn_dim_multiplier:
        h = int(ffn_dim_multiplier * h)
    return 3 * n_layers * d_model * (multiple_of * math.ceil(h / multiple_of))
""",
        "negative floor division": """
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    h = 8 * d_model // 3
    h = h if ffn_dim_multiplier is None else int(h * ffn_dim_multiplier)
    return n_layers * 3 * d_model * (-(-h // multiple_of) * multiple_of)
""",
    },
}

WRONG = {
    "ex1-identify": {
        "a loose tolerance mixes up exact and tanh GELU": ("""
def identify_activation(f):
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    forms = {"relu": x.clamp(min=0), "gelu": 0.5 * x * torch.erfc(-x / 2 ** 0.5),
             "gelu_tanh": 0.5 * x * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x + 0.044715 * x ** 3))),
             "gelu_sigmoid": x * torch.sigmoid(1.702 * x), "silu": x * torch.sigmoid(x),
             "sigmoid": torch.sigmoid(x), "tanh": torch.tanh(x), "identity": x}
    y = f(x)
    for k, v in forms.items():
        if (y - v).abs().max() <= 1e-3:
            return k
    return "unknown"
""", ["visible: torch's modules", "hidden: torch and the transformers registry"], "expected 'gelu_tanh', got 'gelu'"),
        "never answers 'unknown'": ("""
def identify_activation(f):
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    forms = {"relu": x.clamp(min=0), "gelu": 0.5 * x * torch.erfc(-x / 2 ** 0.5),
             "gelu_tanh": 0.5 * x * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x + 0.044715 * x ** 3))),
             "gelu_sigmoid": x * torch.sigmoid(1.702 * x), "silu": x * torch.sigmoid(x),
             "sigmoid": torch.sigmoid(x), "tanh": torch.tanh(x), "identity": x}
    y = f(x)
    return min(forms, key=lambda k: (y - forms[k]).abs().max().item())
""", ["visible: torch's modules", "hidden: torch and the transformers registry"], "expected 'unknown', got 'relu'"),
        "reads the class name": ("""
def identify_activation(f):
    return {"GELU": "gelu", "SiLU": "silu", "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
            "Identity": "identity"}.get(type(f).__name__, "unknown")
""", ["visible: torch's modules", "hidden: torch and the transformers registry"], "expected 'gelu_tanh', got 'gelu'"),
        "calls the library": ("""
from actlab.model_zoo import identify_activation as _ident
def identify_activation(f):
    return _ident(f, tol=1e-6)
""", ["hidden: torch and the transformers registry"], "must not use actlab"),
    },
    "ex2-describe": {
        "counts nn.Linear modules only (misses Conv1D and fused projections)": ("""
def describe_mlp(mlp, d_model):
    lin = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    return len(lin) == 3, lin[-1].in_features
""", ["hidden: blocks of real architectures"], "raised IndexError"),
        "takes d_ff from the first projection's output": ("""
def describe_mlp(mlp, d_model):
    sizes = [(m.in_features, m.out_features) if isinstance(m, nn.Linear) else tuple(m.weight.shape)
             for m in mlp.modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"]
    return len(sizes) == 3, sizes[0][1]
""", ["hidden: blocks of real architectures"], "case 'Phi-3: Phi3MLP (d = 32)': gated: expected True"),
        "Conv1D read as if it were nn.Linear": ("""
def describe_mlp(mlp, d_model):
    sizes = [(m.weight.shape[1], m.weight.shape[0]) for m in mlp.modules()
             if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"]
    d_ff = sizes[-1][0]
    return sum(o for _, o in sizes[:-1]) == 2 * d_ff, d_ff
""", ["hidden: blocks of real architectures"], "d_ff: expected 88, got 32"),
    },
    "ex3-llama-params": {
        "rounds down": ("""
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    h = int(2 * 4 * d_model / 3)
    if ffn_dim_multiplier is not None:
        h = int(ffn_dim_multiplier * h)
    return 3 * n_layers * d_model * (h // multiple_of * multiple_of)
""", ["visible: LLaMA-7B", "hidden: Llama 1, 2, 3 and random sizes"], "expected 4328521728, got 4227858432"),
        "applies the multiplier after rounding": ("""
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    h = int(2 * 4 * d_model / 3)
    h = multiple_of * ((h + multiple_of - 1) // multiple_of)
    if ffn_dim_multiplier is not None:
        h = int(ffn_dim_multiplier * h)
    return 3 * n_layers * d_model * h
""", ["hidden: Llama 1, 2, 3 and random sizes"], "expected"),
        "counts two matrices per block": ("""
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    h = int(2 * 4 * d_model / 3)
    if ffn_dim_multiplier is not None:
        h = int(ffn_dim_multiplier * h)
    return 2 * n_layers * d_model * (multiple_of * ((h + multiple_of - 1) // multiple_of))
""", ["visible: LLaMA-7B", "hidden: Llama 1, 2, 3 and random sizes"], "expected 4328521728, got 2885681152"),
        "no rounding at all": ("""
def llama_ffn_params(d_model, n_layers, multiple_of=256, ffn_dim_multiplier=None):
    return 3 * n_layers * d_model * int(8 * d_model / 3)
""", ["visible: LLaMA-7B", "hidden: Llama 1, 2, 3 and random sizes"], "expected 4328521728"),
    },
}


(test_the_instructor_solution_gets_full_marks_and_the_stub_none, test_correct_alternatives_get_full_marks,
 test_typical_mistakes_lose_the_points_at_the_right_check) = fairness_tests(
    CH, POINTS, {g: [VISIBLE[g], HIDDEN[g]] for g in POINTS}, CORRECT, WRONG)
