"""The nn.Module wrappers and the feed-forward blocks: same results as the functions, parameter counts,
Llama's hidden-size rule."""
import pytest
import torch

import actlab
from actlab import modules as M


@pytest.mark.parametrize("module,fn", [
    (M.Sigmoid(), actlab.sigmoid), (M.Tanh(), actlab.tanh), (M.ReLU(), actlab.relu),
    (M.LeakyReLU(0.2), lambda x: actlab.leaky_relu(x, 0.2)), (M.ELU(0.5), lambda x: actlab.elu(x, 0.5)),
    (M.SELU(), actlab.selu), (M.Softplus(2.0, 10.0), lambda x: actlab.softplus(x, 2.0, 10.0)),
    (M.Softmax(0), lambda x: actlab.softmax(x, 0)), (M.LogSoftmax(), lambda x: actlab.log_softmax(x, -1)),
    (M.GELU("tanh"), lambda x: actlab.gelu(x, "tanh")), (M.SiLU(), actlab.silu),
    (M.Swish(1.5), lambda x: actlab.swish(x, 1.5)), (M.GLU(), lambda x: actlab.glu(x, -1)),
    (M.SwiGLU(), lambda x: actlab.swiglu(*x.chunk(2, -1))),
    (M.GeGLU(approximate="tanh"), lambda x: actlab.geglu(*x.chunk(2, -1), approximate="tanh")),
], ids=lambda v: type(v).__name__ if isinstance(v, torch.nn.Module) else "")
def test_modules_call_the_functions(module, fn):
    x = torch.randn(4, 6, dtype=torch.float64)
    assert torch.equal(module(x), fn(x))
    assert repr(module).startswith(type(module).__name__)


def test_swish_learnable_beta():
    m = M.Swish(beta=1.0, learnable=True)
    assert [n for n, _ in m.named_parameters()] == ["beta"]
    x = torch.randn(8, 3)
    m(x).sum().backward()
    ref = torch.tensor(1.0, requires_grad=True)
    (x * torch.sigmoid(ref * x)).sum().backward()
    torch.testing.assert_close(m.beta.grad, ref.grad)
    per_channel = M.Swish(beta=1.0, learnable=True, num_parameters=3)
    per_channel(x).sum().backward()
    assert per_channel.beta.grad.shape == (3,)
    with pytest.raises(ValueError, match="learnable"):
        M.Swish(num_parameters=3)


def test_glu_modules_need_even_sizes():
    with pytest.raises(ValueError, match="even"):
        M.SwiGLU()(torch.randn(2, 5))
    with pytest.raises(ValueError, match="approximate"):
        M.GELU("fast")


def test_llama_hidden_size():
    assert M.llama_hidden_size(4096) == 11008                                   # Llama 7B
    assert M.llama_hidden_size(5120) == 13824                                   # Llama 13B
    assert M.llama_hidden_size(8192, 4096, 1.3) == 28672                        # Llama 2 70B
    assert M.llama_hidden_size(4096, 1024, 1.3) == 14336                        # Llama 3 8B
    assert M.llama_hidden_size(96, multiple_of=1) == 256                        # exactly 2/3 * 4d
    assert M.llama_hidden_size(100, multiple_of=64) % 64 == 0
    with pytest.raises(ValueError):
        M.llama_hidden_size(0)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_feedforward_shapes_and_parameters():
    d = 48
    ffn = M.FeedForward(d, activation="relu")
    assert ffn(torch.randn(2, 5, d)).shape == (2, 5, d)
    assert n_params(ffn) == 2 * d * 4 * d + 4 * d + d
    assert n_params(M.FeedForward(d, 100, activation=M.GELU(), bias=False)) == 2 * d * 100
    with pytest.raises(ValueError, match="unknown activation"):
        M.FeedForward(d, activation="swoosh")


@pytest.mark.parametrize("d", [3, 48, 96, 768])
def test_two_thirds_rule_keeps_the_parameter_count(d):
    """3 d (8d/3) = 2 d (4d): a GLU block with Llama's hidden size has a plain 4d block's parameters."""
    glu = M.GLUFeedForward(d, multiple_of=1)
    plain = M.FeedForward(d, 4 * d, bias=False)
    assert glu.d_hidden == 8 * d // 3
    assert n_params(glu) == n_params(plain) == 8 * d * d


def test_llama_7b_block_size():
    ffn = M.GLUFeedForward(4096)
    assert ffn.d_hidden == 11008
    assert n_params(ffn) == 3 * 4096 * 11008


@pytest.mark.parametrize("variant,act", [
    ("swiglu", actlab.silu), ("geglu", actlab.gelu), ("reglu", actlab.relu), ("glu", actlab.sigmoid),
    ("bilinear", lambda t: t)])
def test_glu_feedforward_variants(variant, act):
    torch.manual_seed(0)
    ffn = M.GLUFeedForward(32, variant=variant, multiple_of=16).double()
    x = torch.randn(5, 32, dtype=torch.float64, requires_grad=True)
    y = ffn(x)
    expected = ffn.w2(act(ffn.w(x)) * ffn.v(x))
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    assert all(p.grad is not None for p in ffn.parameters())


def test_glu_feedforward_bad_variant():
    with pytest.raises(ValueError, match="unknown variant"):
        M.GLUFeedForward(8, variant="swishglu")
