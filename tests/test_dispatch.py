"""Proof that the activations are built from scratch: the aten operators each function dispatches, in its
forward and in its backward, recorded with a TorchDispatchMode, never include the operator it re-implements
(nor any other activation kernel)."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from actlab import functional as AF
from _actlab_cases import CASES, make_inputs

# every activation kernel (forward and backward) torch has: none of them may appear
FORBIDDEN = {
    "sigmoid", "sigmoid_", "sigmoid_backward", "special_expit", "logit", "logit_backward", "log_sigmoid_forward",
    "log_sigmoid_backward", "tanh", "tanh_", "tanh_backward", "relu", "relu_", "relu6", "threshold",
    "threshold_", "threshold_backward", "leaky_relu", "leaky_relu_", "leaky_relu_backward", "rrelu",
    "rrelu_with_noise", "prelu", "_prelu_kernel", "elu", "elu_", "elu_backward", "selu", "selu_", "celu",
    "celu_", "softplus", "softplus_backward", "gelu", "gelu_", "gelu_backward", "silu", "silu_",
    "silu_backward", "mish", "mish_backward", "hardtanh", "hardtanh_backward", "hardsigmoid", "hardswish",
    "softmax", "_softmax", "_softmax_backward_data", "log_softmax", "_log_softmax", "_log_softmax_backward_data",
    "special_softmax", "special_log_softmax", "logsumexp", "special_logsumexp", "glu", "glu_backward",
    "glu_jvp", "special_ndtr", "special_log_ndtr",
}


class Recorder(TorchDispatchMode):
    """Records the names of the aten overload packets dispatched while active."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.ops.add(name[:-1] if name.endswith("_") and not name.startswith("_") else name)   # exp_ -> exp
        return func(*args, **(kwargs or {}))


def record(case, xs):
    with Recorder() as fwd:
        y = case.ours(*xs)
    g = torch.ones_like(y)
    with Recorder() as bwd:
        torch.autograd.grad(y, xs, g)
    return fwd.ops, bwd.ops


@pytest.mark.parametrize("big", [False, True], ids=["small", "chunked"])
@pytest.mark.parametrize("name", list(CASES))
def test_never_calls_the_function_it_reimplements(name, big, monkeypatch):
    if big:
        monkeypatch.setattr(AF, "CHUNK", 16)      # the chunked path, cheaply
        monkeypatch.setattr(AF, "ONE_PIECE", 1)
    case = CASES[name]
    xs = make_inputs(case, (8, 6))
    fwd, bwd = record(case, xs)
    assert fwd and bwd, "the recorder saw nothing"
    assert not fwd & FORBIDDEN, f"{name} forward dispatched {sorted(fwd & FORBIDDEN)}"
    assert not bwd & FORBIDDEN, f"{name} backward dispatched {sorted(bwd & FORBIDDEN)}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "gelu", "gelu_tanh", "softmax", "log_softmax", "swiglu"])
def test_half_precision_paths_too(name, dtype):
    case = CASES[name]
    fwd, bwd = record(case, make_inputs(case, (8, 6), dtype))
    assert not (fwd | bwd) & FORBIDDEN


def test_the_recorder_does_see_torchs_own_kernels():
    """Negative control: torch's implementations are caught by the same recorder."""
    for name, expected in [("sigmoid", "sigmoid"), ("tanh", "tanh"), ("gelu", "gelu"), ("silu", "silu"),
                           ("softmax", "_softmax"), ("log_softmax", "_log_softmax"), ("relu", "relu"),
                           ("elu", "elu"), ("glu", "glu")]:
        case = CASES[name]
        with Recorder() as rec:
            case.torch(*make_inputs(case, (4, 6), requires_grad=False))
        assert expected in rec.ops, (name, rec.ops)


def test_the_formulas_are_visible():
    """Positive control: the elementary operators of the formulas are what gets dispatched."""
    expected = {"sigmoid": {"exp", "div"}, "tanh": {"expm1", "div"}, "gelu": {"erfc", "exp", "addcmul"},
                "softmax": {"amax", "exp", "sum", "div"}, "log_softmax": {"max", "exp", "log1p", "scatter"},
                "elu": {"expm1"}, "softplus": {"log1p", "exp"}, "relu": {"clamp"}}
    for name, ops in expected.items():
        fwd, _ = record(CASES[name], make_inputs(CASES[name], (4, 6)))
        assert ops <= fwd, (name, ops - fwd)
