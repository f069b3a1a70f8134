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
