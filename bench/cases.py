"""Kernel benchmark cases shared by bench_kernels.py and compare.py: (name, size, args builder)."""

from __future__ import annotations

import numpy as np

SIZES = {"small": (10, 32), "medium": (256, 256), "large": (2048, 1024)}
GEMM = {"small": (10, 64, 32), "medium": (128, 784, 256), "large": (512, 1024, 1024)}


def kernel_cases(dtype=np.float32):
    """Yield (kernel name, size label, positional args) for every ops kernel."""
    rng = np.random.default_rng(0)
    for label, (n, i, o) in GEMM.items():
        X = rng.standard_normal((n, i)).astype(dtype)
        W = rng.standard_normal((i, o)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype)
        dZ = rng.standard_normal((n, o)).astype(dtype)
        yield "linear_forward", label, (X, W, b)
        yield "linear_backward", label, (X, W, dZ)
    for label, (n, c) in SIZES.items():
        Z = (rng.standard_normal((n, c)) * 3).astype(dtype)
        dA = rng.standard_normal((n, c)).astype(dtype)
        A = 1 / (1 + np.exp(-Z))
        T = np.tanh(Z)
        yield "relu", label, (Z,)
        yield "relu_backward", label, (Z, dA)
        yield "sigmoid", label, (Z,)
        yield "sigmoid_backward", label, (A, dA)
        yield "tanh", label, (Z,)
        yield "tanh_backward", label, (T, dA)
        yield "softmax", label, (Z,)
        yield "softmax_cross_entropy", label, (Z, rng.integers(0, c, n))
        yield "bce_with_logits", label, (Z, (rng.random((n, c)) > 0.5).astype(dtype))
        yield "mse", label, (Z, dA)
    for label, (n, d) in {"small": (100, 1), "medium": (65536, 16), "large": (1_000_000, 8)}.items():
        X = rng.standard_normal((n, d)).astype(dtype)
        yield "mse_gradient", label, (rng.standard_normal(d + 1).astype(dtype), X,
                                      rng.standard_normal(n).astype(dtype))
