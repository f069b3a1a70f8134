"""linear_forward / linear_backward against the NumPy twins, formulas and central differences."""

import numpy as np
import pytest
from conftest import close, numgrad
from fastgd import ops
from fastgd import reference as ref

SHAPES = [(1, 1, 1), (3, 5, 7), (17, 13, 11), (0, 4, 3), (5, 0, 3), (4, 3, 0), (128, 64, 32),
          (1000, 31, 1), (130, 4, 513)]  # 513 columns: db sums in column chunks of 256


@pytest.mark.parametrize("n,i,o", SHAPES)
def test_linear_matches_reference(rng, dtype, n, i, o):
    X = rng.standard_normal((n, i)).astype(dtype)
    W = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    dZ = rng.standard_normal((n, o)).astype(dtype)
    Z = ops.linear_forward(X, W, b)
    assert Z.dtype == dtype and Z.shape == (n, o)
    close(Z, ref.linear_forward(X, W, b), scale=max(i, 1))
    close(ops.linear_forward(X, W), X.astype(np.float64) @ W + 0, dtype, scale=max(i, 1))
    for got, want in zip(ops.linear_backward(X, W, dZ), ref.linear_backward(X, W, dZ)):
        assert got.dtype == dtype
        close(got, want, scale=max(n, i, o, 1))


# The direct small-GEMM loop (smallgemm.hpp) takes products of <= 65536 multiply-adds whose output
# width is a multiple of the vector width (256-bit: 8 floats / 4 doubles; on AVX-512 CPUs 512-bit
# first: 16 floats / 8 doubles); these shapes hit both widths, their row and column remainders,
# and both sides of the size threshold, in C and Fortran order.
SMALL_GEMM = [(10, 64, 32), (1, 8, 8), (5, 3, 16), (7, 9, 24), (13, 17, 40), (64, 32, 32),
              (65, 32, 32), (3, 1, 8), (6, 5, 4), (9, 11, 48)]
# Products with one output column or one inner index run as direct loops (dense.cpp narrow_gemm):
# the forward for any batch (in threads from 2^18 multiply-adds), dX = dZ·Wᵀ of one output (outer
# product) up to 2^18 elements, dW = Xᵀ·dZ up to 65536 multiply-adds; shapes on both sides.
NARROW = [(10, 32, 1), (1, 1, 1), (7, 3, 1), (3, 17, 1), (64, 1024, 1), (300, 1000, 1),
          (5000, 13, 1), (9, 1, 5), (700, 1, 400)]


@pytest.mark.parametrize("n,i,o", SMALL_GEMM + NARROW)
@pytest.mark.parametrize("order", ["C", "F"])
def test_small_gemm_path_matches_reference(rng, dtype, n, i, o, order):
    X = np.asarray(rng.standard_normal((n, i)).astype(dtype), order=order)
    W = np.asarray(rng.standard_normal((i, o)).astype(dtype), order=order)
    b = rng.standard_normal(o).astype(dtype)
    dZ = np.asarray(rng.standard_normal((n, o)).astype(dtype), order=order)
    close(ops.linear_forward(X, W, b), ref.linear_forward(X, W, b), scale=i)
    for got, want in zip(ops.linear_backward(X, W, dZ), ref.linear_backward(X, W, dZ)):
        close(got, want, scale=max(n, i, o))
    # beta = 1 with the bias in C: the product is added to what is there, not written over it
    Z = ops.linear_forward(X, W, np.full(o, 1e3, dtype))
    close(Z - dtype(1e3), X.astype(np.float64) @ W, dtype, scale=1e3)


@pytest.mark.parametrize("i", [1, 5, 32, 100, 1000])
def test_one_output_forward_does_not_depend_on_the_batch(rng, dtype, i):
    """A row's output is the same bits alone, in a small batch and in a large (threaded) one."""
    X = rng.standard_normal((600, i)).astype(dtype)
    W = rng.standard_normal((i, 1)).astype(dtype)
    b = rng.standard_normal(1).astype(dtype)
    whole = ops.linear_forward(X, W, b)
    parts = np.concatenate([ops.linear_forward(X[k:k + 7], W, b) for k in range(0, len(X), 7)])
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(ops.linear_forward(X[123:124], W, b), whole[123:124])


def test_linear_backward_central_differences(rng):
    X, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    dZ = rng.standard_normal((4, 2))
    dX, dW, db = ops.linear_backward(X, W, dZ)
    np.testing.assert_allclose(dX, numgrad(lambda x: np.sum(ops.linear_forward(x, W, b) * dZ), X), rtol=1e-6)
    np.testing.assert_allclose(dW, numgrad(lambda w: np.sum(ops.linear_forward(X, w, b) * dZ), W), rtol=1e-6)
    np.testing.assert_allclose(db, numgrad(lambda c: np.sum(ops.linear_forward(X, W, c) * dZ), b), rtol=1e-6)


def test_need_dx_false_and_out(rng, dtype):
    X = rng.standard_normal((6, 4)).astype(dtype)
    W = rng.standard_normal((4, 3)).astype(dtype)
    dZ = rng.standard_normal((6, 3)).astype(dtype)
    dX, dW, db = ops.linear_backward(X, W, dZ, need_dx=False)
    assert dX is None
    close(dW, X.T @ dZ)
    outs = (np.empty((6, 4), dtype), np.empty((4, 3), dtype), np.empty(3, dtype))
    res = ops.linear_backward(X, W, dZ, out=outs)
    assert all(r is o for r, o in zip(res, outs))
    close(outs[1], X.T @ dZ)
    Z = np.empty((6, 3), dtype)
    assert ops.linear_forward(X, W, None, out=Z) is Z
    close(Z, X @ W)


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_layouts(rng, dtype, layout):
    X = rng.standard_normal((9, 14)).astype(dtype)
    W = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    dZ = rng.standard_normal((9, 5)).astype(dtype)
    if layout == "F":
        Xl, Wl, dZl = np.asfortranarray(X[:, :7]), np.asfortranarray(W), np.asfortranarray(dZ)
    elif layout == "strided":
        Xl, Wl, dZl = X[:, ::2], np.repeat(W, 2, axis=1)[:, ::2], np.repeat(dZ, 2, axis=1)[:, ::2]
    else:
        Xl, Wl, dZl = X[:, :7].copy(), W.copy(), dZ.copy()
        for a in (Xl, Wl, dZl):
            a.setflags(write=False)
    Xc = np.ascontiguousarray(Xl)
    close(ops.linear_forward(Xl, Wl, b), ref.linear_forward(Xc, W, b), scale=10)
    for got, want in zip(ops.linear_backward(Xl, Wl, dZl), ref.linear_backward(Xc, W, dZ)):
        close(got, want, scale=10)


def test_float32_bias_gradient_accurate_at_large_batch():
    dZ = np.full((1_000_000, 2), 0.1, np.float32)
    X = np.ones((1_000_000, 1), np.float32)
    _, _, db = ops.linear_backward(X, np.ones((1, 2), np.float32), dZ, need_dx=False)
    exact = 1_000_000 * np.float64(np.float32(0.1))
    np.testing.assert_allclose(db, exact, rtol=1e-6)
