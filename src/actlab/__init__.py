"""actlab: activation functions from scratch (numpy and torch, CPU and CUDA).

    >>> import torch, actlab
    >>> x = torch.linspace(-3, 3, 7, requires_grad=True)
    >>> actlab.gelu(x).sum().backward()      # hand-written backward, no autograd through the formula

Every function of :mod:`actlab.functional` is available as ``actlab.<name>``; :mod:`actlab.numpy_ref` holds
the numpy twins, :mod:`actlab.modules` the ``nn.Module`` wrappers and the GLU feed-forward blocks, and
:mod:`actlab.numerics` the ULP measurements and high-precision references.
"""
from actlab import functional, modules, numerics, numpy_ref
from actlab.functional import (
    elu, geglu, gelu, glu, leaky_relu, log_softmax, relu, selu, sigmoid, silu, softmax, softplus, swiglu,
    swish, tanh,
)

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "softmax", "log_softmax", "gelu",
    "silu", "swish", "glu", "swiglu", "geglu", "functional", "numpy_ref", "modules", "numerics",
]
__version__ = "0.1.0"
