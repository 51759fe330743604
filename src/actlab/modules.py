"""``nn.Module`` wrappers over :mod:`actlab.functional`, and the feed-forward blocks of a Transformer.

The activation modules are thin, like ``torch.nn.modules.activation``: they hold the hyper-parameters and call
the function. ``FeedForward`` is the classic two-layer block; ``GLUFeedForward`` the gated block of PaLM and
Llama, (act(xW) * xV) W2, with Llama's rule for its hidden size (:func:`llama_hidden_size`).
"""
from __future__ import annotations

import torch
from torch import nn

from actlab import functional as F

__all__ = [
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "SELU", "Softplus", "Softmax", "LogSoftmax", "GELU", "SiLU",
    "Swish", "GLU", "SwiGLU", "GeGLU", "FeedForward", "GLUFeedForward", "llama_hidden_size", "GLU_VARIANTS",
]


class Sigmoid(nn.Module):
    r"""Applies :math:`\sigma(x) = 1/(1 + e^{-x})` elementwise (see :func:`actlab.sigmoid`).

    Shape: input ``(*)``, output ``(*)``, the same shape.

    Example::

        >>> m = Sigmoid()
        >>> y = m(torch.randn(2, 3))
    """

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(nn.Module):
    r"""Applies :math:`\tanh x = (e^{2x} - 1)/(e^{2x} + 1)` elementwise (see :func:`actlab.tanh`).

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = Tanh()
        >>> y = m(torch.randn(2, 3))
    """

    def forward(self, x):
        return F.tanh(x)


class ReLU(nn.Module):
    r"""Applies :math:`\max(x, 0)` elementwise (see :func:`actlab.relu`).

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = ReLU()
        >>> y = m(torch.randn(2, 3))
    """

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(nn.Module):
    r"""Applies :math:`x` for :math:`x > 0` and :math:`\gamma x` otherwise (see :func:`actlab.leaky_relu`).

    Args:
        negative_slope: :math:`\gamma`. Default: 0.01.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = LeakyReLU(0.1)
        >>> y = m(torch.randn(2, 3))
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(nn.Module):
    r"""Applies :math:`x` for :math:`x > 0` and :math:`\alpha(e^x - 1)` otherwise (see :func:`actlab.elu`).

    Args:
        alpha: :math:`\alpha`. Default: 1.0.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = ELU(alpha=1.0)
        >>> y = m(torch.randn(2, 3))
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SELU(nn.Module):
    r"""Applies :math:`\lambda\,\mathrm{ELU}_\alpha(x)` with the self-normalising constants (see :func:`actlab.selu`).

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = SELU()
        >>> y = m(torch.randn(2, 3))
    """

    def forward(self, x):
        return F.selu(x)


class Softplus(nn.Module):
    r"""Applies :math:`\frac{1}{\beta}\log(1 + e^{\beta x})`, linear above ``threshold`` (see :func:`actlab.softplus`).

    Args:
        beta: :math:`\beta`. Default: 1.0.
        threshold: values with :math:`\beta x` above it are passed through. Default: 20.0.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = Softplus(beta=2.0)
        >>> y = m(torch.randn(2, 3))
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(nn.Module):
    r"""Applies :math:`e^{x_i}/\sum_j e^{x_j}` along ``dim`` (see :func:`actlab.softmax`).

    Args:
        dim: the dimension that sums to 1. Default: -1.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = Softmax(dim=1)
        >>> p = m(torch.randn(2, 3))
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(nn.Module):
    r"""Applies :math:`\log\mathrm{softmax}(x)` along ``dim`` (see :func:`actlab.log_softmax`).

    Args:
        dim: the dimension to normalise over. Default: -1.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = LogSoftmax(dim=1)
        >>> logp = m(torch.randn(2, 3))
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class GELU(nn.Module):
    r"""Applies :math:`x\,\Phi(x)` or one of its approximations elementwise (see :func:`actlab.gelu`).

    Args:
        approximate: ``"none"``, ``"tanh"`` or ``"sigmoid"``. Default: ``"none"``.

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = GELU(approximate="tanh")
        >>> y = m(torch.randn(2, 3))
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = F._check_gelu_form(approximate)

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(nn.Module):
    r"""Applies :math:`x\,\sigma(x)` elementwise (see :func:`actlab.silu`).

    Shape: input ``(*)``, output ``(*)``.

    Example::

        >>> m = SiLU()
        >>> y = m(torch.randn(2, 3))
    """

    def forward(self, x):
        return F.silu(x)


class Swish(nn.Module):
    r"""Applies :math:`x\,\sigma(\beta x)` elementwise; :math:`\beta` may be learned (see :func:`actlab.swish`).

    Args:
        beta: initial :math:`\beta`. Default: 1.0.
        learnable: make :math:`\beta` a parameter (a scalar, or one per channel with ``num_parameters``).
            Default: False.
        num_parameters: number of learned :math:`\beta` values; they broadcast against the last dimension.
            Default: 1.

    Shape: input ``(*, C)`` (``C == num_parameters`` when it is above 1), output the same shape.

    Example::

        >>> m = Swish(beta=1.0, learnable=True)
        >>> y = m(torch.randn(2, 3)); y.sum().backward()   # m.beta.grad is set
    """

    def __init__(self, beta: float = 1.0, learnable: bool = False, num_parameters: int = 1):
        super().__init__()
        self.learnable = learnable
        if learnable:
            shape = () if num_parameters == 1 else (num_parameters,)
            self.beta = nn.Parameter(torch.full(shape, float(beta)))
        else:
            if num_parameters != 1:
                raise ValueError("Swish: num_parameters > 1 needs learnable=True")
            self.beta = float(beta)

    def forward(self, x):
        beta = self.beta.to(x.dtype) if isinstance(self.beta, torch.Tensor) and x.dtype != self.beta.dtype else self.beta
        return F.swish(x, beta)

    def extra_repr(self):
        return f"learnable={self.learnable}" + ("" if self.learnable else f", beta={self.beta}")


class GLU(nn.Module):
    r"""Splits the input in two halves :math:`[a; b]` along ``dim`` and returns :math:`a \otimes \sigma(b)`
    (see :func:`actlab.glu`).

    Args:
        dim: the dimension to split. Default: -1.

    Shape: input ``(*, 2N, *)``, output ``(*, N, *)``.

    Example::

        >>> m = GLU()
        >>> y = m(torch.randn(4, 6))      # (4, 3)
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class SwiGLU(nn.Module):
    r"""Splits the input in two halves :math:`[a; b]` along ``dim`` and returns :math:`\mathrm{SiLU}(a) \otimes b`
    (the first half is the gate input; see :func:`actlab.swiglu`).

    Args:
        dim: the dimension to split. Default: -1.

    Shape: input ``(*, 2N, *)``, output ``(*, N, *)``.

    Example::

        >>> m = SwiGLU()
        >>> y = m(torch.randn(4, 6))      # (4, 3)
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        a, b = _halves(x, self.dim, "SwiGLU")
        return F.swiglu(a, b)

    def extra_repr(self):
        return f"dim={self.dim}"


class GeGLU(nn.Module):
    r"""Splits the input in two halves :math:`[a; b]` along ``dim`` and returns :math:`\mathrm{GELU}(a) \otimes b`
    (the first half is the gate input; see :func:`actlab.geglu`).

    Args:
        dim: the dimension to split. Default: -1.
        approximate: the GELU form, ``"none"``, ``"tanh"`` or ``"sigmoid"``. Default: ``"none"``.

    Shape: input ``(*, 2N, *)``, output ``(*, N, *)``.

    Example::

        >>> m = GeGLU()
        >>> y = m(torch.randn(4, 6))      # (4, 3)
    """

    def __init__(self, dim: int = -1, approximate: str = "none"):
        super().__init__()
        self.dim, self.approximate = dim, F._check_gelu_form(approximate)

    def forward(self, x):
        a, b = _halves(x, self.dim, "GeGLU")
        return F.geglu(a, b, self.approximate)

    def extra_repr(self):
        return f"dim={self.dim}, approximate={self.approximate!r}"


def _halves(x, dim, name):
    if x.dim() == 0 or x.shape[dim] % 2:
        raise ValueError(f"{name}: the size along dim {dim} must be even to split it in two halves, "
                         f"got shape {tuple(x.shape)}")
    return x.chunk(2, dim)


# ------------------------------------------------------------------------------------------ feed-forward blocks
_ACTIVATIONS = {
    "relu": ReLU, "gelu": GELU, "gelu_tanh": lambda: GELU("tanh"), "silu": SiLU, "swish": SiLU, "tanh": Tanh,
    "sigmoid": Sigmoid, "elu": ELU, "selu": SELU, "leaky_relu": LeakyReLU, "softplus": Softplus,
}


def _activation(activation):
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)} "
                             "or pass an nn.Module")
        return _ACTIVATIONS[activation]()
    raise TypeError(f"activation must be a name or an nn.Module, got {type(activation).__name__}")


class FeedForward(nn.Module):
    r"""The Transformer's position-wise feed-forward block, :math:`\mathrm{FFN}(x) = f(xW_1 + b_1)\,W_2 + b_2`.

    Args:
        d_model: input and output size :math:`d`.
        d_hidden: hidden size (the original Transformer uses :math:`4d`). Default: ``4 * d_model``.
        activation: a name (``"relu"``, ``"gelu"``, ``"gelu_tanh"``, ``"silu"``, ...) or an ``nn.Module``.
            Default: ``"gelu"``.
        bias: whether the two linear maps have biases. Default: True.

    Shape: input ``(*, d_model)``, output ``(*, d_model)``. Parameters: :math:`2\,d\,d_h` (+ :math:`d_h + d` biases).

    Example::

        >>> ffn = FeedForward(64, activation="relu")
        >>> y = ffn(torch.randn(8, 64))
    """

    def __init__(self, d_model: int, d_hidden: int | None = None, activation="gelu", bias: bool = True):
        super().__init__()
        d_hidden = 4 * d_model if d_hidden is None else d_hidden
        self.w1 = nn.Linear(d_model, d_hidden, bias=bias)
        self.act = _activation(activation)
        self.w2 = nn.Linear(d_hidden, d_model, bias=bias)

    def forward(self, x):
        return self.w2(self.act(self.w1(x)))


def llama_hidden_size(d_model: int, multiple_of: int = 256, ffn_dim_multiplier: float | None = None) -> int:
    r"""Llama's hidden size for a gated feed-forward block.

    Start from the plain block's :math:`4d`, take :math:`2/3` of it (a GLU block has three weight matrices
    instead of two, so this keeps the parameter count, :math:`3 \cdot d \cdot \tfrac{8d}{3} = 2 \cdot d \cdot 4d`),
    optionally scale it by ``ffn_dim_multiplier``, and round *up* to a multiple of ``multiple_of``
    (hardware-friendly sizes)::

        hidden = int(2 * 4 * d_model / 3)
        if ffn_dim_multiplier is not None: hidden = int(ffn_dim_multiplier * hidden)
        hidden = multiple_of * ceil(hidden / multiple_of)

    >>> llama_hidden_size(4096)      # Llama (1 and 2) 7B
    11008

    Reference: Touvron et al., *LLaMA: Open and Efficient Foundation Language Models*, 2023
    (``FeedForward`` in Meta's ``llama/model.py``).
    """
    if d_model <= 0 or multiple_of <= 0:
        raise ValueError(f"d_model and multiple_of must be positive, got {d_model} and {multiple_of}")
    hidden = int(2 * (4 * d_model) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def _bilinear(a, b):
    return a * b


GLU_VARIANTS = {
    "swiglu": F.swiglu,                                     # Shazeer 2020; PaLM, Llama
    "geglu": F.geglu,                                       # Shazeer 2020; T5 v1.1, Gemma (tanh form)
    "reglu": lambda a, b: F.relu(a) * b,
    "glu": lambda a, b: F.sigmoid(a) * b,                   # Dauphin et al. 2017
    "bilinear": _bilinear,                                  # no nonlinearity
}


class GLUFeedForward(nn.Module):
    r"""Gated feed-forward block: :math:`\mathrm{FFN}_{\mathrm{GLU}}(x) = \bigl(f(xW) \otimes xV\bigr)\,W_2`.

    ``variant`` picks :math:`f`: ``"swiglu"`` (SiLU), ``"geglu"`` (GELU), ``"reglu"`` (ReLU), ``"glu"``
    (sigmoid) or ``"bilinear"`` (identity).

    Args:
        d_model: input and output size :math:`d`.
        d_hidden: hidden size; by default Llama's rule :func:`llama_hidden_size` (:math:`\tfrac{2}{3}4d`
            rounded up to ``multiple_of``), which keeps the parameters of a plain :math:`4d` block.
        variant: the gate's activation. Default: ``"swiglu"``.
        multiple_of: rounding for the default hidden size. Default: 256.
        ffn_dim_multiplier: optional scale of the default hidden size (Llama 2 70B, Llama 3). Default: None.
        bias: whether the linear maps have biases (Llama, PaLM: none). Default: False.

    Shape: input ``(*, d_model)``, output ``(*, d_model)``. Parameters: :math:`3\,d\,d_h` without biases.

    Example::

        >>> ffn = GLUFeedForward(4096)      # d_hidden = 11008, as in Llama 7B
        >>> y = GLUFeedForward(64, variant="geglu", multiple_of=16)(torch.randn(8, 64))

    Reference:
        Shazeer, *GLU Variants Improve Transformer*, 2020. https://arxiv.org/abs/2002.05202
    """

    def __init__(self, d_model: int, d_hidden: int | None = None, variant: str = "swiglu", multiple_of: int = 256,
                 ffn_dim_multiplier: float | None = None, bias: bool = False):
        super().__init__()
        if variant not in GLU_VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {list(GLU_VARIANTS)}")
        self.variant = variant
        self.d_hidden = d_hidden or llama_hidden_size(d_model, multiple_of, ffn_dim_multiplier)
        self.w = nn.Linear(d_model, self.d_hidden, bias=bias)      # gate projection W
        self.v = nn.Linear(d_model, self.d_hidden, bias=bias)      # value projection V
        self.w2 = nn.Linear(self.d_hidden, d_model, bias=bias)     # output projection W2

    def forward(self, x):
        return self.w2(GLU_VARIANTS[self.variant](self.w(x), self.v(x)))

    def extra_repr(self):
        return f"variant={self.variant!r}, d_hidden={self.d_hidden}"
