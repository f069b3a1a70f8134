"""C++/BLAS kernels: the same functions, signatures and results as ``fastgd.reference``.

Every function validates its arguments before computing (a ``TypeError``/``ValueError`` naming the
argument, the expected and the received shape/dtype), never changes dtype, releases the GIL while
it computes, and reads C-contiguous arrays without copying. Fortran-ordered matrices are read by
BLAS with a transpose flag; other strided inputs are copied once. ``out=`` writes into a given
C-contiguous array; elementwise kernels may run in place (``out`` is the input).
``csr_linear_forward``/``csr_linear_backward`` take a sparse ``X`` as its three CSR arrays
(``X.indptr, X.indices, X.data`` of a scipy.sparse CSR matrix, int32 or int64 indices).

Example:
    >>> import numpy as np, fastgd
    >>> X = np.ones((4, 3), np.float32); W = np.ones((3, 2), np.float32); b = np.zeros(2, np.float32)
    >>> fastgd.ops.linear_forward(X, W, b)
    array([[3., 3.], ...], dtype=float32)
"""

from __future__ import annotations

from ._core import (
    adagrad_step,
    adam_step,
    batchnorm_backward,
    batchnorm_forward,
    bce_with_logits,
    csr_linear_backward,
    csr_linear_forward,
    dropout,
    dropout_backward,
    elu,
    elu_backward,
    gelu,
    gelu_backward,
    huber,
    l1,
    layernorm_backward,
    layernorm_forward,
    leaky_relu,
    leaky_relu_backward,
    linear_backward,
    linear_forward,
    mse,
    mse_gradient,
    nadam_step,
    poisson_nll,
    radam_step,
    relu,
    relu_backward,
    rmsprop_step,
    sgd_step,
    sigmoid,
    sigmoid_backward,
    silu,
    silu_backward,
    smooth_l1,
    softmax,
    softmax_backward,
    softmax_cross_entropy,
    softplus,
    softplus_backward,
    tanh,
    tanh_backward,
)

__all__ = [
    "adagrad_step",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "bce_with_logits",
    "csr_linear_backward",
    "csr_linear_forward",
    "dropout",
    "dropout_backward",
    "elu",
    "elu_backward",
    "gelu",
    "gelu_backward",
    "huber",
    "l1",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu",
    "leaky_relu_backward",
    "linear_backward",
    "linear_forward",
    "mse",
    "mse_gradient",
    "nadam_step",
    "poisson_nll",
    "radam_step",
    "relu",
    "relu_backward",
    "rmsprop_step",
    "sgd_step",
    "sigmoid",
    "sigmoid_backward",
    "silu",
    "silu_backward",
    "smooth_l1",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
    "softplus",
    "softplus_backward",
    "tanh",
    "tanh_backward",
]
