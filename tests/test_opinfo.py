"""actlab against PyTorch's own test inputs: the OpInfo ``sample_inputs`` and ``reference_inputs`` of
``torch.testing._internal.common_methods_invocations.op_db`` for every op actlab re-implements (values and
gradients, float32 and float64, plus torch's half-precision samples)."""
import pytest
import torch

import actlab

pytest.importorskip("expecttest")   # needed by torch.testing._internal
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

# OpInfo name -> actlab function taking (input, *args, **kwargs) as torch does
OURS = {
    "sigmoid": actlab.sigmoid,
    "tanh": actlab.tanh,
    "nn.functional.relu": actlab.relu,
    "nn.functional.leaky_relu": actlab.leaky_relu,
    "nn.functional.elu": actlab.elu,
    "nn.functional.selu": actlab.selu,
    "nn.functional.softplus": actlab.softplus,
    "softmax": actlab.softmax,
    "log_softmax": actlab.log_softmax,
    "nn.functional.gelu": actlab.gelu,
    "nn.functional.silu": actlab.silu,
    "nn.functional.glu": actlab.glu,
}
OPS = {(op.name, op.variant_test_name): op for op in op_db
       if op.name in OURS and op.variant_test_name in ("", "with_dtype")}
assert {name for name, _ in OPS} == set(OURS), "an OpInfo went missing from op_db"
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _samples(op, dtype, requires_grad):
    # materialised first: some generators yield from inside `torch.no_grad()`, which would leak into our loop
    return [s for source in (op.sample_inputs, op.reference_inputs)
            for s in list(source("cpu", dtype, requires_grad=requires_grad))]


def _tolerances(dtype):
    return {torch.float16: dict(rtol=2e-3, atol=2e-3), torch.bfloat16: dict(rtol=2e-2, atol=2e-2)}.get(dtype, {})


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("key", sorted(OPS), ids=lambda k: "-".join(filter(None, k)))
def test_opinfo_samples(key, dtype):
    op = OPS[key]
    if dtype not in op.supported_dtypes("cpu"):
        pytest.skip(f"{op.name} has no {dtype} samples on the CPU")
    ours = OURS[op.name]
    grad = dtype in (torch.float32, torch.float64)
    n = 0
    for sample in _samples(op, dtype, requires_grad=grad):
        x = sample.input
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            continue
        # a fresh leaf with the same strides (some samples are views that autograd cannot reach through)
        x = x.detach().clone().requires_grad_(grad)
        if x.dim() == 0 and op.name == "nn.functional.glu":
            continue                                  # torch raises too; our error is tested elsewhere
        expected = op(x, *sample.args, **sample.kwargs)
        got = ours(x, *sample.args, **sample.kwargs)
        msg = f"{op.name} {tuple(x.shape)} args={sample.args} kwargs={sample.kwargs}"
        torch.testing.assert_close(got, expected, equal_nan=True, **_tolerances(dtype), msg=lambda m: f"{msg}: {m}")
        if grad and expected.requires_grad and expected.numel():
            g = torch.randn_like(expected)
            (g_ours,) = torch.autograd.grad(got, x, g)
            (g_ref,) = torch.autograd.grad(expected, x, g)
            # at a NaN input torch's backward takes the branch of its comparison (relu: `x <= 0 ? 0 : g`, so g);
            # actlab's gradient there is 0 (relu family) or NaN (elu family): compare the other entries
            keep = ~torch.isnan(x.detach()) if g_ours.shape == x.shape else torch.ones_like(g_ours, dtype=torch.bool)
            torch.testing.assert_close(g_ours[keep], g_ref[keep], equal_nan=True,
                                       msg=lambda m: f"{msg} grad: {m}")
        n += 1
    assert n > 0, f"no usable samples for {op.name}"
