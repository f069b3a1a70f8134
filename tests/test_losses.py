"""softmax, softmax_cross_entropy, bce_with_logits, mse, l1, huber, smooth_l1, poisson_nll, mse_gradient;
sample and class weights; the fastgd.losses objects."""

import json
import math
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


# ------------------------------------------- l1, huber, smooth_l1, poisson_nll; weights (torch)

def _torch():
    return pytest.importorskip("torch")


# name -> (ops call, twin call, torch functional, torch module, target transform)
def _pointwise_table():
    torch = _torch()
    F, nn = torch.nn.functional, torch.nn
    return {
        "l1": (lambda p, t, **k: ops.l1(p, t, **k), lambda p, t, **k: ref.l1(p, t, **k),
               lambda p, t: F.l1_loss(p, t), nn.L1Loss()),
        "huber": (lambda p, t, **k: ops.huber(p, t, 0.7, **k), lambda p, t, **k: ref.huber(p, t, 0.7, **k),
                  lambda p, t: F.huber_loss(p, t, delta=0.7), nn.HuberLoss(delta=0.7)),
        "huber_default": (lambda p, t, **k: ops.huber(p, t, **k), lambda p, t, **k: ref.huber(p, t, **k),
                          lambda p, t: F.huber_loss(p, t), nn.HuberLoss()),
        "smooth_l1": (lambda p, t, **k: ops.smooth_l1(p, t, 0.5, **k), lambda p, t, **k: ref.smooth_l1(p, t, 0.5, **k),
                      lambda p, t: F.smooth_l1_loss(p, t, beta=0.5), nn.SmoothL1Loss(beta=0.5)),
        "smooth_l1_beta0": (lambda p, t, **k: ops.smooth_l1(p, t, 0.0, **k),
                            lambda p, t, **k: ref.smooth_l1(p, t, 0.0, **k),
                            lambda p, t: F.smooth_l1_loss(p, t, beta=0.0), nn.SmoothL1Loss(beta=0.0)),
        "poisson_nll": (lambda p, t, **k: ops.poisson_nll(p, t, **k), lambda p, t, **k: ref.poisson_nll(p, t, **k),
                        lambda p, t: F.poisson_nll_loss(p, t), nn.PoissonNLLLoss()),
        "poisson_nll_full": (lambda p, t, **k: ops.poisson_nll(p, t, log_input=False, full=True, eps=1e-6, **k),
                             lambda p, t, **k: ref.poisson_nll(p, t, log_input=False, full=True, eps=1e-6, **k),
                             lambda p, t: F.poisson_nll_loss(p, t, log_input=False, full=True, eps=1e-6),
                             nn.PoissonNLLLoss(log_input=False, full=True, eps=1e-6)),
        "mse": (lambda p, t, **k: ops.mse(p, t, **k), lambda p, t, **k: ref.mse(p, t, **k),
                lambda p, t: F.mse_loss(p, t), nn.MSELoss()),
    }


POINTWISE = ["l1", "huber", "huber_default", "smooth_l1", "smooth_l1_beta0", "poisson_nll", "poisson_nll_full", "mse"]


def _pointwise_inputs(rng, name, shape, dtype, scale):
    p = rng.standard_normal(shape) * scale
    t = rng.standard_normal(shape) * scale
    if name.startswith("poisson"):
        t = rng.poisson(3.0, shape).astype(np.float64)  # counts, some 0 and 1 (Stirling's mask)
        p = np.abs(p) + 0.1 if name.endswith("full") else np.clip(p, -20, 20)  # rates, or log-rates
    if name.startswith("smooth_l1") or name.startswith("huber") or name == "l1":
        t.flat[:2] = p.flat[:2]  # r = 0 exactly: sign(0) = 0, and the quadratic branch
    return p.astype(dtype), t.astype(dtype)


def _torch_value_grad(fn, p, t, sample_weight=None, module=None):
    torch = _torch()
    pt = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t)
    if sample_weight is None:
        loss = fn(pt, tt)
    else:  # reduction="none", then the weighted mean of the per-sample means
        per = module(pt, tt)
        per = per.reshape(len(p), -1).mean(dim=1) if per.ndim > 1 else per
        w = torch.tensor(sample_weight)
        loss = (w * per).sum() / w.sum()
    loss.backward()
    return loss.item(), pt.grad.numpy()


def _tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", POINTWISE)
@pytest.mark.parametrize("shape,scale", [((7, 3), 1.0), ((40,), 3.0), ((5, 2), 1e4), ((1, 1), 1.0)], ids=str)
def test_pointwise_losses_match_torch(rng, dtype, name, shape, scale):
    torch = _torch()
    kern, twin, functional, module = _pointwise_table()[name]
    p, t = _pointwise_inputs(rng, name, shape, dtype, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = kern(p, t)
    assert isinstance(loss, float) and d.dtype == dtype and d.shape == p.shape
    want, want_d = _torch_value_grad(functional, p, t)
    np.testing.assert_allclose(loss, want, **_tol(dtype))
    np.testing.assert_allclose(d, want_d, **_tol(dtype))
    np.testing.assert_allclose(module(torch.tensor(p), torch.tensor(t)).item(), loss, **_tol(dtype))
    rloss, rd = twin(p, t)
    np.testing.assert_allclose(rloss, loss, **_tol(dtype))
    close(d, rd)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_weighted_match_torch_and_numpy(rng, dtype, name):
    torch = _torch()
    kern, twin, _, module = _pointwise_table()[name]
    module = type(module)(**{k: getattr(module, k) for k in ("delta", "beta", "log_input", "full", "eps")
                             if hasattr(module, k)}, reduction="none")
    p, t = _pointwise_inputs(rng, name, (9, 3), dtype, 2.0)
    w = rng.random(9).astype(dtype)
    w[4] = 0
    loss, d = kern(p, t, sample_weight=w)
    want, want_d = _torch_value_grad(None, p, t, w, module)
    np.testing.assert_allclose(loss, want, **_tol(dtype))
    np.testing.assert_allclose(d, want_d, **_tol(dtype))
    assert not d[4].any()
    # the NumPy formula: Σ wᵢ ℓᵢ / Σ wᵢ with ℓᵢ the row means of the unreduced loss
    per = module(torch.tensor(p), torch.tensor(t)).numpy().astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(loss, (w * per).sum() / w.sum(), **_tol(dtype))
    rloss, rd = twin(p, t, sample_weight=w)
    np.testing.assert_allclose(rloss, loss, **_tol(dtype))
    close(d, rd)
    # scaling every weight changes nothing; uniform weights are the plain mean; a zero weight drops
    l2, d2 = kern(p, t, sample_weight=w * dtype(8))
    np.testing.assert_allclose(l2, loss, **_tol(dtype))
    np.testing.assert_allclose(d2, d, **_tol(dtype))
    lu, du = kern(p, t, sample_weight=np.full(9, 3, dtype))
    lp, dp = kern(p, t)
    np.testing.assert_allclose(lu, lp, **_tol(dtype))
    np.testing.assert_allclose(du, dp, **_tol(dtype))
    keep = w > 0
    lk, dk = kern(p[keep], t[keep], sample_weight=w[keep])
    np.testing.assert_allclose(lk, loss, **_tol(dtype))
    np.testing.assert_allclose(dk, d[keep], **_tol(dtype))
    # Σw = 0: loss 0 and a zero gradient
    lz, dz = kern(p, t, sample_weight=np.zeros(9, dtype))
    assert lz == 0.0 and not dz.any()


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_central_differences(rng, name):
    kern, *_ = _pointwise_table()[name]
    p, t = _pointwise_inputs(rng, name, (4, 3), np.float64, 1.5)
    p.flat[:2] += 0.3  # away from the kink at r = 0
    w = rng.random(4)
    for sw in (None, w):
        _, d = kern(p, t, sample_weight=sw)
        num = numgrad(lambda x, sw=sw: kern(x, t, sample_weight=sw)[0], p)
        np.testing.assert_allclose(d, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_nan_inf_propagate_as_in_torch(dtype, name):
    kern, _, functional, _ = _pointwise_table()[name]
    p = np.array([[np.nan, 0.5], [np.inf, -1.0], [2.0, -np.inf]], dtype)
    t = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 1.0]], dtype)
    if name.endswith("full"):
        p[1, 1] = 3.0
    with np.errstate(all="ignore"):
        loss, d = kern(p, t)
    want, want_d = _torch_value_grad(functional, p, t)
    np.testing.assert_allclose(loss, want, **_tol(dtype))  # NaN where torch gives NaN
    np.testing.assert_allclose(d, want_d, **_tol(dtype))


@pytest.mark.parametrize("layout", ["F", "step"])
@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_any_layout(rng, name, layout):
    kern, *_ = _pointwise_table()[name]
    p, t = _pointwise_inputs(rng, name, (6, 4), np.float64, 1.0)
    w = rng.random(12)[::2]  # a strided sample_weight
    relay = np.asfortranarray if layout == "F" else (lambda a: np.repeat(a, 2, axis=1)[:, ::2])
    assert not relay(p).flags.c_contiguous
    for sw in (None, w):
        loss, d = kern(relay(p), relay(t), sample_weight=sw)
        want, want_d = kern(p, t, sample_weight=None if sw is None else sw.copy())
        assert loss == want
        np.testing.assert_array_equal(d, want_d)


# CE: weight, label_smoothing, sample_weight; int labels and probabilities
CE_OPTIONS = [dict(), dict(weight=True), dict(label_smoothing=0.2), dict(weight=True, label_smoothing=0.35),
              dict(label_smoothing=1.0)]


def _ce_inputs(rng, dtype, n, c, probs, scale=3.0):
    z = (rng.standard_normal((n, c)) * scale).astype(dtype)
    if probs:
        y = rng.random((n, c)).astype(dtype)
        y /= y.sum(1, keepdims=True)
    else:
        y = rng.integers(0, c, n)
    return z, y


def _torch_ce(z, y, weight=None, label_smoothing=0.0, sample_weight=None):
    torch = _torch()
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y)
    wt = None if weight is None else torch.tensor(weight)
    if sample_weight is None:
        loss = torch.nn.functional.cross_entropy(zt, yt, weight=wt, label_smoothing=label_smoothing)
        module = torch.nn.CrossEntropyLoss(weight=wt, label_smoothing=label_smoothing)
        np.testing.assert_allclose(module(zt, yt).item(), loss.item(), rtol=1e-6)
    else:
        per = torch.nn.functional.cross_entropy(zt, yt, weight=wt, label_smoothing=label_smoothing, reduction="none")
        s = torch.tensor(sample_weight)
        if y.ndim == 1 and wt is not None:
            denominator = (s * wt[yt]).sum()  # torch's weighted mean, with the sample weights
        else:
            denominator = s.sum()
        loss = (s * per).sum() / denominator
    loss.backward()
    return loss.item(), zt.grad.numpy()


@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
@pytest.mark.parametrize("opts", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("scale", [3.0, 1e4])
def test_cross_entropy_weight_smoothing_match_torch(rng, dtype, probs, opts, scale):
    n, c = 11, 5
    z, y = _ce_inputs(rng, dtype, n, c, probs, scale)
    kw = dict(opts)
    if kw.get("weight"):
        kw["weight"] = (rng.random(c) * 2 + 0.1).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = ops.softmax_cross_entropy(z, y, **kw)
    assert np.isfinite(loss) and np.isfinite(d).all()
    want, want_d = _torch_ce(z, y, **kw)
    np.testing.assert_allclose(loss, want, rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(d, want_d, **_tol(dtype))
    rloss, rd = ref.softmax_cross_entropy(z, y, **kw)
    np.testing.assert_allclose(rloss, loss, rtol=1e-5 if dtype == np.float32 else 1e-10)
    close(d, rd, scale=10)
    # with sample weights: vs torch's unreduced loss, then Σ sᵢ ℓᵢ / Σ sᵢ·weight[yᵢ]
    s = rng.random(n).astype(dtype)
    s[2] = 0
    loss, d = ops.softmax_cross_entropy(z, y, sample_weight=s, **kw)
    want, want_d = _torch_ce(z, y, sample_weight=s, **kw)
    np.testing.assert_allclose(loss, want, rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(d, want_d, **_tol(dtype))
    rloss, rd = ref.softmax_cross_entropy(z, y, sample_weight=s, **kw)
    np.testing.assert_allclose(rloss, loss, rtol=1e-5 if dtype == np.float32 else 1e-10)
    close(d, rd, scale=10)


@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
def test_cross_entropy_weighted_central_differences_and_invariances(rng, probs):
    z, y = _ce_inputs(rng, np.float64, 6, 4, probs)
    w, s = rng.random(4) + 0.1, rng.random(6)
    kw = dict(weight=w, label_smoothing=0.15, sample_weight=s)
    _, d = ops.softmax_cross_entropy(z, y, **kw)
    np.testing.assert_allclose(d, numgrad(lambda x: ops.softmax_cross_entropy(x, y, **kw)[0], z), rtol=1e-6, atol=1e-9)
    base = ops.softmax_cross_entropy(z, y, weight=w, label_smoothing=0.15)
    for scaled in (dict(sample_weight=s * 5), dict(sample_weight=np.ones(6) * 2)):
        got = ops.softmax_cross_entropy(z, y, weight=w, label_smoothing=0.15, **scaled)
        if "sample_weight" in scaled and scaled["sample_weight"][0] == 2:
            np.testing.assert_allclose(got[0], base[0], rtol=1e-13)
            np.testing.assert_allclose(got[1], base[1], rtol=1e-12, atol=1e-15)
    got = ops.softmax_cross_entropy(z, y, weight=w * 3, label_smoothing=0.15, sample_weight=s * 5)
    if not probs:  # the class weights cancel in torch's weighted mean; with probabilities they do not
        np.testing.assert_allclose(got[0], ops.softmax_cross_entropy(z, y, **kw)[0], rtol=1e-12)
    zero = ops.softmax_cross_entropy(z, y, weight=w, sample_weight=np.zeros(6))
    assert zero[0] == 0.0 and not zero[1].any()
    # the NumPy formula for labels: Σ sᵢ wᵧ (lse − z_y) / Σ sᵢ wᵧ (no smoothing)
    if not probs:
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        want = -(s * w[y] * lp[np.arange(6), y]).sum() / (s * w[y]).sum()
        np.testing.assert_allclose(ops.softmax_cross_entropy(z, y, weight=w, sample_weight=s)[0], want, rtol=1e-12)


def test_cross_entropy_unweighted_path_unchanged(rng, dtype):
    """None for every new option is the old kernel: bit-identical results."""
    z, y = _ce_inputs(rng, dtype, 20, 6, False)
    a = ops.softmax_cross_entropy(z, y)
    b = ops.softmax_cross_entropy(z, y, weight=None, label_smoothing=0.0, sample_weight=None)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("pos_weight", [None, "k", "1"])
@pytest.mark.parametrize("shape,scale", [((8, 3), 3.0), ((8, 3), 1e4), ((12,), 3.0), ((6, 1), 1e4)], ids=str)
def test_bce_pos_weight_and_sample_weight_match_torch(rng, dtype, pos_weight, shape, scale):
    torch = _torch()
    F = torch.nn.functional
    z = (rng.standard_normal(shape) * scale).astype(dtype)
    t = rng.random(shape).astype(dtype)
    t.flat[::3] = np.round(t.flat[::3])
    k = shape[-1] if len(shape) == 2 else 1
    pw = None if pos_weight is None else (rng.random(k if pos_weight == "k" else 1) * 3).astype(dtype)
    pwt = None if pw is None else torch.tensor(pw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = ops.bce_with_logits(z, t, pos_weight=pw)
    zt = torch.tensor(z, requires_grad=True)
    want = F.binary_cross_entropy_with_logits(zt, torch.tensor(t), pos_weight=pwt)
    want.backward()
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, want.item(), rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(d, zt.grad.numpy(), **_tol(dtype))
    module = torch.nn.BCEWithLogitsLoss(pos_weight=pwt)
    np.testing.assert_allclose(module(torch.tensor(z), torch.tensor(t)).item(), loss, rtol=1e-5)
    rl, rd = ref.bce_with_logits(z, t, pos_weight=pw)
    np.testing.assert_allclose(rl, loss, rtol=1e-5 if dtype == np.float32 else 1e-10)
    close(d, rd)
    # sample weights over the rows
    s = rng.random(shape[0]).astype(dtype)
    loss, d = ops.bce_with_logits(z, t, pos_weight=pw, sample_weight=s)
    zt = torch.tensor(z, requires_grad=True)
    per = F.binary_cross_entropy_with_logits(zt, torch.tensor(t), pos_weight=pwt, reduction="none")
    per = per.mean(dim=1) if per.ndim == 2 else per
    want = (torch.tensor(s) * per).sum() / torch.tensor(s).sum()
    want.backward()
    np.testing.assert_allclose(loss, want.item(), rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(d, zt.grad.numpy(), **_tol(dtype))
    rl, rd = ref.bce_with_logits(z, t, pos_weight=pw, sample_weight=s)
    np.testing.assert_allclose(rl, loss, rtol=1e-5 if dtype == np.float32 else 1e-10)
    close(d, rd)


def test_bce_weighted_central_differences(rng):
    z, t = rng.standard_normal((5, 3)), rng.random((5, 3))
    kw = dict(pos_weight=rng.random(3) * 2, sample_weight=rng.random(5))
    np.testing.assert_allclose(ops.bce_with_logits(z, t, **kw)[1],
                               numgrad(lambda a: ops.bce_with_logits(a, t, **kw)[0], z), rtol=1e-6, atol=1e-9)


def test_weighted_losses_nan_propagates_and_zero_weight_drops_it():
    z = np.array([[np.nan, 1.0], [0.5, -0.5]])
    s = np.array([1.0, 2.0])
    loss, d = ops.softmax_cross_entropy(z, np.array([0, 1]), sample_weight=s)
    assert np.isnan(loss) and np.isnan(d[0]).all() and np.isfinite(d[1]).all()
    loss, d = ops.softmax_cross_entropy(z, np.array([0, 1]), sample_weight=np.array([0.0, 2.0]))
    assert np.isfinite(loss) and not d[0].any()
    np.testing.assert_allclose(loss, ops.softmax_cross_entropy(z[1:], np.array([1]))[0])
    loss, d = ops.mse(np.array([np.inf, 1.0]), np.zeros(2), sample_weight=np.array([0.0, 1.0]))
    assert loss == 1.0 and d[0] == 0


def test_loss_kernels_empty_batch_is_nan():
    e = np.zeros((0, 3))
    for fn in (ops.l1, ops.huber, ops.smooth_l1, ops.poisson_nll, ops.mse):
        assert np.isnan(fn(e, e)[0]) and np.isnan(fn(e, e, sample_weight=np.zeros(0))[0])
    assert np.isnan(ops.softmax_cross_entropy(e, np.zeros(0, int), weight=np.ones(3))[0])


# ------------------------------------------------------------------ fastgd.losses objects

def _loss_cases(dtype):
    """(fastgd loss, torch module with reduction="none", target kind) with non-default options."""
    torch = _torch()
    nn = torch.nn
    w3 = [0.5, 2.0, 1.0]
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    return {
        "mse": (fg.losses.MSELoss(), nn.MSELoss(reduction="none"), "real"),
        "l1": (fg.losses.L1Loss(), nn.L1Loss(reduction="none"), "real"),
        "huber": (fg.losses.HuberLoss(delta=0.3), nn.HuberLoss(delta=0.3, reduction="none"), "real"),
        "smooth_l1": (fg.losses.SmoothL1Loss(beta=2.0), nn.SmoothL1Loss(beta=2.0, reduction="none"), "real"),
        "poisson_nll": (fg.losses.PoissonNLLLoss(full=True), nn.PoissonNLLLoss(full=True, reduction="none"), "counts"),
        "poisson_rates": (fg.losses.PoissonNLLLoss(log_input=False, eps=1e-4),
                          nn.PoissonNLLLoss(log_input=False, eps=1e-4, reduction="none"), "counts"),
        "cross_entropy": (fg.losses.CrossEntropyLoss(weight=w3, label_smoothing=0.1),
                          nn.CrossEntropyLoss(weight=torch.tensor(w3, dtype=tdt), label_smoothing=0.1,
                                              reduction="none"), "labels"),
        "cross_entropy_probs": (fg.losses.CrossEntropyLoss(weight=w3, label_smoothing=0.1),
                                nn.CrossEntropyLoss(weight=torch.tensor(w3, dtype=tdt), label_smoothing=0.1,
                                                    reduction="none"), "probs"),
        "bce_with_logits": (fg.losses.BCEWithLogitsLoss(pos_weight=[3.0, 0.5, 1.0]),
                            nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0, 0.5, 1.0], dtype=tdt), reduction="none"),
                            "binary"),
    }


def _targets(rng, kind, n, k, dtype):
    if kind == "labels":
        return rng.integers(0, k, n)
    if kind == "probs":
        t = rng.random((n, k)).astype(dtype)
        return t / t.sum(1, keepdims=True)
    if kind == "counts":
        return rng.poisson(2.0, (n, k)).astype(dtype)
    if kind == "binary":
        return (rng.random((n, k)) > 0.5).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


@pytest.mark.parametrize("case", ["mse", "l1", "huber", "smooth_l1", "poisson_nll", "poisson_rates", "cross_entropy",
                                  "cross_entropy_probs", "bce_with_logits"])
def test_loss_objects_match_torch_with_and_without_sample_weight(rng, dtype, case):
    torch = _torch()
    loss, module, kind = _loss_cases(dtype)[case]
    n, k = 10, 3
    pred = rng.standard_normal((n, k)).astype(dtype)
    if case == "poisson_rates":
        pred = np.abs(pred) + 0.05
    y = loss.check_targets(_targets(rng, kind, n, k, dtype), (n, k), np.dtype(dtype))
    s = rng.random(n).astype(dtype)
    s[3] = 0
    for sw in (None, s):
        value, d = loss(pred, y, sample_weight=sw)
        assert isinstance(value, float) and d.dtype == dtype
        pt = torch.tensor(pred, requires_grad=True)
        per = module(pt, torch.tensor(y))
        if sw is None and case.startswith("cross_entropy") and kind == "labels":
            want = per.sum() / loss.total_weight(y)
        elif sw is None:
            want = per.mean()
        else:
            per = per.mean(dim=1) if per.ndim == 2 else per
            want = (torch.tensor(sw) * per).sum() / loss.total_weight(y, sw)
        want.backward()
        np.testing.assert_allclose(value, want.item(), rtol=1e-5 if dtype == np.float32 else 1e-10)
        np.testing.assert_allclose(d, pt.grad.numpy(), **_tol(dtype))
    # the torch module with its default reduction gives the unweighted value too
    torch_mean = type(module)(**{a: getattr(module, a) for a in ("delta", "beta", "log_input", "full", "eps",
                                                                 "label_smoothing") if hasattr(module, a)},
                              **({"weight": module.weight} if getattr(module, "weight", None) is not None else {}),
                              **({"pos_weight": module.pos_weight} if getattr(module, "pos_weight", None) is not None
                                 else {}))
    np.testing.assert_allclose(loss(pred, y)[0], torch_mean(torch.tensor(pred), torch.tensor(y)).item(),
                               rtol=1e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("name,cls", [("mse", "MSELoss"), ("l1", "L1Loss"), ("huber", "HuberLoss"),
                                      ("smooth_l1", "SmoothL1Loss"), ("poisson_nll", "PoissonNLLLoss"),
                                      ("cross_entropy", "CrossEntropyLoss"), ("bce_with_logits", "BCEWithLogitsLoss")])
def test_get_loss_names_and_config_round_trip(name, cls):
    loss = fg.losses.get_loss(name)
    assert type(loss).__name__ == cls and loss.name == name and loss.config() == {}
    options = {"huber": dict(delta=0.25), "smooth_l1": dict(beta=0.0), "poisson_nll": dict(log_input=False, eps=0.1),
               "cross_entropy": dict(weight=[1.0, 2.0], label_smoothing=0.05),
               "bce_with_logits": dict(pos_weight=[2.0])}.get(name, {})
    configured = fg.losses.get_loss(name, **options)
    assert configured.config() == options
    again = fg.losses.get_loss(name, **json.loads(json.dumps(configured.config())))
    assert again.config() == options and repr(again) == repr(configured)


@pytest.mark.parametrize("make,exc,pattern", [
    (lambda: fg.losses.HuberLoss(delta=0), ValueError, r"HuberLoss: delta must be a finite number > 0, got 0.0"),
    (lambda: fg.losses.HuberLoss(delta="1"), TypeError, r"delta must be a number, got str"),
    (lambda: fg.losses.SmoothL1Loss(beta=-0.5), ValueError, r"SmoothL1Loss: beta must be a finite number >= 0"),
    (lambda: fg.losses.PoissonNLLLoss(log_input=1), TypeError, r"log_input must be True or False"),
    (lambda: fg.losses.PoissonNLLLoss(eps=math.nan), ValueError, r"eps must be a finite number >= 0, got nan"),
    (lambda: fg.losses.CrossEntropyLoss(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\]"),
    (lambda: fg.losses.CrossEntropyLoss(weight=[1.0, -1.0]), ValueError, r"weight must be finite and >= 0"),
    (lambda: fg.losses.CrossEntropyLoss(weight=[[1.0, 2.0]]), ValueError, r"weight must be a 1-D vector"),
    (lambda: fg.losses.CrossEntropyLoss(weight=["a"]), TypeError, r"weight must hold numbers"),
    (lambda: fg.losses.BCEWithLogitsLoss(pos_weight=[math.nan]), ValueError, r"pos_weight must be finite"),
    (lambda: fg.losses.get_loss("huber", beta=1.0), TypeError, r"beta"),
    (lambda: fg.losses.get_loss(fg.losses.L1Loss(), delta=1.0), TypeError, r"options \['delta'\]"),
    (lambda: fg.losses.CrossEntropyLoss(weight=[1.0, 2.0]).check_targets(np.zeros(4, int), (4, 3), np.float64),
     ValueError, r"weight has 2 class weights, the net has 3 outputs"),
    (lambda: fg.losses.BCEWithLogitsLoss(pos_weight=[1.0, 2.0]).check_targets(np.zeros((4, 3)), (4, 3), np.float64),
     ValueError, r"pos_weight has 2 entries, the net has 3 outputs"),
    (lambda: fg.losses.L1Loss()(np.ones((3, 1)), np.ones((3, 1)), sample_weight=np.ones(2)), ValueError,
     r"sample_weight must have shape \(3,\)"),
    (lambda: fg.losses.CrossEntropyLoss()(np.ones((3, 2)), np.zeros(3, int), sample_weight=np.array([1, -1, 1])),
     ValueError, r"sample_weight must be finite and >= 0, got -1.0 at index 1"),
])
def test_loss_objects_refuse_bad_arguments(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def test_loss_objects_without_options_are_the_plain_kernels(rng, dtype):
    """No sample_weight and default options: exactly the unweighted kernels (bit-identical)."""
    pred = rng.standard_normal((8, 3)).astype(dtype)
    y = rng.integers(0, 3, 8)
    t = (rng.random((8, 3)) > 0.5).astype(dtype)
    for got, want in [(fg.losses.CrossEntropyLoss()(pred, y), ops.softmax_cross_entropy(pred, y)),
                      (fg.losses.BCEWithLogitsLoss()(pred, t), ops.bce_with_logits(pred, t)),
                      (fg.losses.MSELoss()(pred, t), ops.mse(pred, t))]:
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1], want[1])


def test_total_weight_combines_batches_into_the_whole_batch_loss(rng):
    loss = fg.losses.CrossEntropyLoss(weight=[1.0, 4.0, 0.5])
    z, y, s = rng.standard_normal((12, 3)), rng.integers(0, 3, 12), rng.random(12)
    whole = loss(z, y, sample_weight=s)[0]
    parts = [(loss(z[i:i + 5], y[i:i + 5], sample_weight=s[i:i + 5])[0], loss.total_weight(y[i:i + 5], s[i:i + 5]))
             for i in range(0, 12, 5)]
    np.testing.assert_allclose(sum(v * w for v, w in parts) / sum(w for _, w in parts), whole, rtol=1e-12)
    assert fg.losses.L1Loss().total_weight(np.zeros(4)) == 4.0


@pytest.mark.parametrize("loss", [fg.losses.CrossEntropyLoss(weight=[1.0, 3.0, 0.5], label_smoothing=0.2),
                                  fg.losses.HuberLoss(delta=0.5), "l1", "smooth_l1", "poisson_nll",
                                  fg.losses.BCEWithLogitsLoss(pos_weight=[2.0])], ids=repr)
def test_trainer_step_with_new_losses_equals_torch_step(rng, loss):
    """One fused SGD step through Trainer (the engine's loss units) equals the same step in torch."""
    torch = _torch()
    lossobj = fg.losses.get_loss(loss)
    k = 3 if lossobj.name in ("cross_entropy",) else (1 if lossobj.name == "bce_with_logits" else 2)
    X = rng.standard_normal((16, 4))
    if lossobj.name == "cross_entropy":
        y = rng.integers(0, 3, 16)
    elif lossobj.name == "bce_with_logits":
        y = (rng.random(16) > 0.5).astype(np.float64)
    elif lossobj.name == "poisson_nll":
        y = rng.poisson(2.0, (16, k)).astype(np.float64)
    else:
        y = rng.standard_normal((16, k))
    net = fg.Net([fg.Linear(4, 5), fg.Tanh(), fg.Linear(5, k)], dtype="float64", seed=3)
    params = [p.data for p in net.parameters()]  # W1, b1, W2, b2 with W as (in, out)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, k)).double()
    with torch.no_grad():
        for tp, p in zip(tnet.parameters(), params):
            tp.copy_(torch.tensor(p.T if p.ndim == 2 else p))
    trainer = fg.Trainer(net, loss=lossobj, optimizer="sgd", lr=0.1, fused=True)
    value = trainer.step(X, y)
    assert trainer._fused, "the fused path was not taken"
    tm = {"cross_entropy": lambda: torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64),
                                                             label_smoothing=0.2),
          "huber": lambda: torch.nn.HuberLoss(delta=0.5), "l1": torch.nn.L1Loss, "smooth_l1": torch.nn.SmoothL1Loss,
          "poisson_nll": torch.nn.PoissonNLLLoss,
          "bce_with_logits": lambda: torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0], dtype=torch.float64))}
    opt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    out = tnet(torch.tensor(X))
    yt = torch.tensor(y.reshape(-1, 1) if lossobj.name == "bce_with_logits" else y)
    tl = tm[lossobj.name]()(out, yt)
    tl.backward()
    opt.step()
    np.testing.assert_allclose(value, tl.item(), rtol=1e-10)
    for tp, p in zip(tnet.parameters(), net.parameters()):
        q = tp.detach().numpy()
        np.testing.assert_allclose(p.data, q.T if q.ndim == 2 else q, rtol=1e-9, atol=1e-12)


def test_save_load_keeps_the_loss_arguments(tmp_path, rng):
    net = fg.Net([fg.Linear(3, 4)], dtype="float32", seed=0)
    X, y = rng.standard_normal((20, 3)).astype(np.float32), rng.integers(0, 4, 20)
    loss = fg.losses.CrossEntropyLoss(weight=[1.0, 2.0, 3.0, 0.5], label_smoothing=0.1)
    net.fit(X, y, loss=loss, epochs=1, batch_size=10, progress=False)
    net.save(tmp_path / "m.npz")
    back = fg.Net.load(tmp_path / "m.npz")
    assert type(back.loss) is fg.losses.CrossEntropyLoss and back.loss.config() == loss.config()
    net.loss = fg.losses.HuberLoss(delta=0.2)
    net.save(tmp_path / "h.npz")
    assert repr(fg.Net.load(tmp_path / "h.npz").loss) == "HuberLoss(delta=0.2)"
