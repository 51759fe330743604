"""The activations under test, each paired with torch's own implementation (the reference in agreement tests).

A case is a name -> Case(actlab function, torch function, kind, parameters); ``kind`` says how to build inputs:
``"unary"`` (any shape), ``"row"`` (reduces or splits along ``dim``: needs ndim > 0), ``"gate"`` (two inputs).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

import actlab


@dataclass(frozen=True)
class Case:
    ours: object
    torch: object
    kind: str = "unary"
    dim: int | None = None
    even: bool = False          # glu: the size along dim must be even
    smooth: bool = True         # false: has a kink (avoid x near 0 in gradcheck)
    params: dict = field(default_factory=dict)


def _swish_ref(beta):
    return lambda x: x * torch.sigmoid(beta * x)


CASES = {
    "sigmoid": Case(actlab.sigmoid, torch.sigmoid),
    "tanh": Case(actlab.tanh, torch.tanh),
    "relu": Case(actlab.relu, F.relu, smooth=False),
    "leaky_relu": Case(actlab.leaky_relu, F.leaky_relu, smooth=False),
    "leaky_relu_0.2": Case(lambda x: actlab.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2), smooth=False),
    "leaky_relu_steep": Case(lambda x: actlab.leaky_relu(x, 3.0), lambda x: F.leaky_relu(x, 3.0), smooth=False),
    "leaky_relu_0": Case(lambda x: actlab.leaky_relu(x, 0.0), lambda x: F.leaky_relu(x, 0.0), smooth=False),
    "leaky_relu_neg": Case(lambda x: actlab.leaky_relu(x, -0.3), lambda x: F.leaky_relu(x, -0.3), smooth=False),
    "elu": Case(actlab.elu, F.elu),
    "elu_0.5": Case(lambda x: actlab.elu(x, 0.5), lambda x: F.elu(x, 0.5), smooth=False),
    "selu": Case(actlab.selu, F.selu, smooth=False),
    "softplus": Case(actlab.softplus, F.softplus),
    "softplus_b2_t5": Case(lambda x: actlab.softplus(x, 2.0, 5.0), lambda x: F.softplus(x, 2.0, 5.0), smooth=False),
    "softmax": Case(lambda x: actlab.softmax(x, -1), lambda x: F.softmax(x, -1), "row", -1),
    "softmax_dim0": Case(lambda x: actlab.softmax(x, 0), lambda x: F.softmax(x, 0), "row", 0),
    "log_softmax": Case(lambda x: actlab.log_softmax(x, -1), lambda x: F.log_softmax(x, -1), "row", -1),
    "log_softmax_dim0": Case(lambda x: actlab.log_softmax(x, 0), lambda x: F.log_softmax(x, 0), "row", 0),
    "gelu": Case(actlab.gelu, F.gelu),
    "gelu_tanh": Case(lambda x: actlab.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "gelu_sigmoid": Case(lambda x: actlab.gelu(x, "sigmoid"), lambda x: x * torch.sigmoid(1.702 * x)),
    "silu": Case(actlab.silu, F.silu),
    "swish": Case(lambda x: actlab.swish(x, 1.7), _swish_ref(1.7)),
    "glu": Case(lambda x: actlab.glu(x, -1), lambda x: F.glu(x, -1), "row", -1, even=True),
    "glu_dim0": Case(lambda x: actlab.glu(x, 0), lambda x: F.glu(x, 0), "row", 0, even=True),
    "swiglu": Case(actlab.swiglu, lambda a, b: F.silu(a) * b, "gate"),
    "geglu": Case(actlab.geglu, lambda a, b: F.gelu(a) * b, "gate"),
    "geglu_tanh": Case(lambda a, b: actlab.geglu(a, b, "tanh"), lambda a, b: F.gelu(a, approximate="tanh") * b,
                       "gate"),
}

SMALL_SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (0, 3), (4, 0, 2)]
ROW_SHAPES = [(6,), (4, 6), (2, 6, 4), (0, 4), (6, 0)]
BIG_SHAPES = [(2, 70001), (300, 1000), (3, 50000, 2)]   # 18 to 37 chunks of 2^13: the chunked CPU path


def shapes_for(case, big=False):
    shapes = BIG_SHAPES if big else (ROW_SHAPES if case.kind == "row" else SMALL_SHAPES)
    if case.kind == "row":
        shapes = [s for s in shapes if len(s) > (case.dim if case.dim >= 0 else -case.dim - 1)]
        if case.even:
            shapes = [s for s in shapes if s[case.dim] % 2 == 0]
    return shapes


def make_inputs(case, shape, dtype=torch.float32, device="cpu", scale=3.0, seed=0, requires_grad=True):
    """Seeded inputs for a case (two for a gate), away from 0 for functions with a kink."""
    g = torch.Generator().manual_seed(seed)
    n = 2 if case.kind == "gate" else 1
    out = []
    for _ in range(n):
        x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
        if not case.smooth:
            x = x + torch.sign(x) * 0.05        # keep finite differences off the kink at 0
        out.append(x.to(dtype).to(device).requires_grad_(requires_grad))
    return out


def case_ids(cases):
    return list(cases)
