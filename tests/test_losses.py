"""softmax, softmax_cross_entropy, bce_with_logits, mse, mse_gradient."""

import warnings

import fastgd as fg
import numpy as np
import pytest
from conftest import close, numgrad
from fastgd import ops
from fastgd import reference as ref


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (7, 3), (13, 10), (0, 4), (5,), (300, 1000)], ids=str)
def test_softmax(rng, dtype, shape):
    Z = (rng.standard_normal(shape) * 5).astype(dtype)
    P = ops.softmax(Z)
    assert P.dtype == dtype
    close(P, ref.softmax(Z))
    if Z.size:
        close(P.sum(axis=-1), np.ones(P.shape[:-1]), scale=10)


def test_softmax_huge_logits(dtype):
    Z = np.array([[1e30, 0, -1e30], [1e4, 1e4, 1e4]], dtype) if dtype == np.float64 else \
        np.array([[1e30, 0, -1e30], [1e4, 1e4, 1e4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = ops.softmax(Z)
    np.testing.assert_allclose(P, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("label_dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
@pytest.mark.parametrize("n,c", [(1, 1), (1, 2), (9, 4), (64, 10), (0, 3), (1000, 7)])
def test_cross_entropy_labels(rng, dtype, label_dtype, n, c):
    logits = (rng.standard_normal((n, c)) * 3).astype(dtype)
    y = rng.integers(0, c, n).astype(label_dtype)
    loss, d = ops.softmax_cross_entropy(logits, y)
    rloss, rd = ref.softmax_cross_entropy(logits, y)
    assert isinstance(loss, float) and d.dtype == dtype and d.shape == (n, c)
    if n == 0:
        assert np.isnan(loss) and np.isnan(rloss)
    else:
        np.testing.assert_allclose(loss, rloss, rtol=1e-5 if dtype == np.float32 else 1e-12)
        # the formula: -mean(log softmax at the label)
        lp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(1, keepdims=True))
        np.testing.assert_allclose(loss, -lp[np.arange(n), y].mean(), rtol=1e-5)
    close(d, rd)


def test_cross_entropy_probabilities_and_gradcheck(rng):
    logits = rng.standard_normal((5, 4))
    t = rng.random((5, 4))
    t /= t.sum(1, keepdims=True)
    loss, d = ops.softmax_cross_entropy(logits, t)
    np.testing.assert_allclose(loss, ref.softmax_cross_entropy(logits, t)[0], rtol=1e-12)
    np.testing.assert_allclose(d, numgrad(lambda z: ops.softmax_cross_entropy(z, t)[0], logits), rtol=1e-6, atol=1e-9)
    y = np.array([0, 3, 1, 1, 2])
    np.testing.assert_allclose(ops.softmax_cross_entropy(logits, y)[1],
                               numgrad(lambda z: ops.softmax_cross_entropy(z, y)[0], logits), rtol=1e-6, atol=1e-9)
    # one-hot probabilities equal integer labels
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(ops.softmax_cross_entropy(logits, onehot)[0], ops.softmax_cross_entropy(logits, y)[0])


def test_cross_entropy_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0], [-1e30, 1e30, 0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = ops.softmax_cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    np.testing.assert_allclose(loss, (0 + 2e30) / 2, rtol=1e-6)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (10, 1), (33, 3), (0, 1), (100_000,)], ids=str)
def test_bce_with_logits(rng, dtype, shape):
    z = (rng.standard_normal(shape) * 5).astype(dtype)
    t = (rng.random(shape) > 0.5).astype(dtype)
    loss, d = ops.bce_with_logits(z, t)
    rloss, rd = ref.bce_with_logits(z, t)
    assert isinstance(loss, float) and d.dtype == dtype
    if z.size:
        np.testing.assert_allclose(loss, rloss, rtol=1e-5 if dtype == np.float32 else 1e-12)
    else:
        assert np.isnan(loss)
    close(d, rd)
    # integer and bool targets are converted to the logits' dtype, with the same result
    loss_i, _ = ops.bce_with_logits(z, t.astype(np.int64))
    loss_b, _ = ops.bce_with_logits(z, t.astype(bool))
    assert loss_i == loss_b == loss or (np.isnan(loss) and np.isnan(loss_i))


def test_bce_gradcheck_and_stability(rng):
    z, t = rng.standard_normal((4, 2)), rng.random((4, 2))
    np.testing.assert_allclose(ops.bce_with_logits(z, t)[1], numgrad(lambda a: ops.bce_with_logits(a, t)[0], z),
                               rtol=1e-6, atol=1e-9)
    big = np.array([1e4, -1e4, 1e4, -1e4, 40.0, -40.0])
    tt = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = ops.bce_with_logits(big, tt)
        l32, _ = ops.bce_with_logits(big.astype(np.float32), tt.astype(np.float32))
    exact = (0 + 0 + 1e4 + 1e4 + np.log1p(np.exp(-40)) * 2) / 6
    np.testing.assert_allclose([loss, l32], exact, rtol=1e-6)
    # tiny losses keep their relative accuracy (log1p, not log(1 + e))
    small, _ = ops.bce_with_logits(np.array([30.0]), np.array([1.0]))
    np.testing.assert_allclose(small, np.log1p(np.exp(-30.0)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1,), (5, 3), (0, 2), (1000, 10)], ids=str)
def test_mse(rng, dtype, shape):
    p = rng.standard_normal(shape).astype(dtype)
    t = rng.standard_normal(shape).astype(dtype)
    loss, d = ops.mse(p, t)
    rloss, rd = ref.mse(p, t)
    if p.size:
        np.testing.assert_allclose(loss, rloss, rtol=1e-6 if dtype == np.float32 else 1e-13)
        np.testing.assert_allclose(loss, np.mean((p.astype(np.float64) - t) ** 2), rtol=1e-6)
    else:
        assert np.isnan(loss)
    close(d, rd)
    p64, t64 = p.astype(np.float64), t.astype(np.float64)
    if 0 < p.size < 50:
        num = numgrad(lambda a: ops.mse(a, t64)[0], p64)
        np.testing.assert_allclose(ops.mse(p64, t64)[1], num, rtol=1e-6, atol=1e-9)


def test_float32_losses_accurate_at_large_batch(rng):
    n = 1_000_000
    p = rng.standard_normal(n).astype(np.float32)
    t = rng.standard_normal(n).astype(np.float32)
    exact = np.mean((p.astype(np.float64) - t) ** 2)
    np.testing.assert_allclose(ops.mse(p, t)[0], exact, rtol=1e-6)
    z = p * 3
    exact_bce = np.mean(np.maximum(z, 0) - z * (t > 0) + np.log1p(np.exp(-np.abs(z.astype(np.float64)))))
    np.testing.assert_allclose(ops.bce_with_logits(z, (t > 0).astype(np.float32))[0], exact_bce, rtol=1e-5)


@pytest.mark.parametrize("n,d,one_d", [(1, 1, False), (1, 1, True), (10, 1, True), (10, 1, False), (7, 3, False),
                                        (500, 16, False), (64, 8, False), (300, 100, False), (0, 2, False),
                                        (0, 1, True), (100_000, 1, True)])
def test_mse_gradient(rng, dtype, n, d, one_d):
    X = rng.standard_normal((n,) if one_d else (n, d)).astype(dtype)
    w = rng.standard_normal(d + 1).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    g = ops.mse_gradient(w, X, y)
    assert g.dtype == dtype and g.shape == w.shape
    close(g, ref.mse_gradient(w, X, y), scale=max(10, d))
    if 0 < n <= 10:
        X64, y64 = X.astype(np.float64).reshape(n, -1), y.astype(np.float64)
        num = numgrad(lambda v: np.mean((X64 @ v[1:] + v[0] - y64) ** 2), w.astype(np.float64))
        np.testing.assert_allclose(g, num, rtol=1e-4 if dtype == np.float32 else 1e-6, atol=1e-5)


def test_mse_gradient_float32_large_n(rng):
    n = 1_000_000
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X @ np.array([1, 2, 3], np.float32) + 0.5).astype(np.float32)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    Xd = X.astype(np.float64)
    r = Xd @ w[1:].astype(np.float64) + np.float64(w[0]) - y
    exact = np.concatenate(([r.sum()], Xd.T @ r)) * 2 / n
    np.testing.assert_allclose(ops.mse_gradient(w, X, y), exact, rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_mse_gradient_every_width_and_thread_split(rng, dtype, threads):
    """Every feature count around the vector widths (masked tails, 1..8 vectors, the GEMV path
    beyond), with row counts that split unevenly over fastgd's threads and leave row remainders."""
    old = fg.get_num_threads()
    fg.set_num_threads(threads)
    try:
        for d in [*range(1, 20), 31, 32, 33, 63, 64, 65, 80]:
            n = 2 * (1 << 17) // d + 13  # big enough to be split over the threads
            X = rng.standard_normal((n, d)).astype(dtype)
            w = rng.standard_normal(d + 1).astype(dtype)
            y = rng.standard_normal(n).astype(dtype)
            close(ops.mse_gradient(w, X, y), ref.mse_gradient(w, X, y), scale=max(10, d))
    finally:
        fg.set_num_threads(old)
