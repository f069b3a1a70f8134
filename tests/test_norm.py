"""BatchNorm1d and LayerNorm: kernels against torch.nn.functional and the NumPy twins, central
differences, large magnitudes, NaN/inf, validation; the layers against torch.nn modules over
several training steps (running statistics, num_batches_tracked, momentum=None, eval mode)."""

import fastgd as fg
import numpy as np
import pytest
from conftest import close, numgrad
from fastgd import ops
from fastgd import reference as ref

TORCH_TOL = {np.float32: (2e-5, 2e-5), np.float64: (1e-12, 1e-12)}


def _data(rng, dtype, n=16, c=5, loc=0.0, scale=1.0):
    X = rng.normal(loc, scale, (n, c)).astype(dtype)
    w = rng.uniform(0.5, 2, c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    dY = rng.standard_normal((n, c)).astype(dtype)
    return X, w, b, dY


def _torch_bn(torch, X, w, b, dY, rm=None, rv=None, training=True, eps=1e-5):
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    tw = None if w is None else torch.from_numpy(w.copy()).requires_grad_(True)
    tb = None if b is None else torch.from_numpy(b.copy()).requires_grad_(True)
    y = torch.nn.functional.batch_norm(x, None if rm is None else torch.from_numpy(rm.copy()),
                                       None if rv is None else torch.from_numpy(rv.copy()), tw, tb,
                                       training=training, eps=eps)
    y.backward(torch.from_numpy(dY))
    return (y.detach().numpy(), x.grad.numpy(), None if w is None else tw.grad.numpy(),
            None if b is None else tb.grad.numpy())


def _torch_ln(torch, X, w, b, dY, eps=1e-5):
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    tw = None if w is None else torch.from_numpy(w.copy()).requires_grad_(True)
    tb = None if b is None else torch.from_numpy(b.copy()).requires_grad_(True)
    y = torch.nn.functional.layer_norm(x, (X.shape[1],), tw, tb, eps=eps)
    y.backward(torch.from_numpy(dY))
    return (y.detach().numpy(), x.grad.numpy(), None if w is None else tw.grad.numpy(),
            None if b is None else tb.grad.numpy())


def _assert_close(got, want, dtype, what, scale=1.0):
    rtol, atol = TORCH_TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol * scale, atol=atol * scale, err_msg=what)


# ------------------------------------------------------------------------------ batch norm


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("loc,scale", [(0.0, 1.0), (1e3, 1.0), (-3e3, 1e3)], ids=["unit", "offset", "wide"])
def test_batchnorm_train_mode_equals_torch(rng, dtype, affine, loc, scale):
    torch = pytest.importorskip("torch")
    X, w, b, dY = _data(rng, dtype, loc=loc, scale=scale)
    if not affine:
        w = b = None
    want_y, want_dx, want_dw, want_db = _torch_bn(torch, X.astype(np.float64), None if w is None else
                                                  w.astype(np.float64), None if b is None else b.astype(np.float64),
                                                  dY.astype(np.float64))
    for m in (ops, ref):
        Y, mean, var = m.batchnorm_forward(X, w, b)
        assert Y.dtype == mean.dtype == var.dtype == dtype
        # against torch in float64 on the same values; the mean is rounded to the dtype (as torch's
        # saved mean), which costs |mean|/std ulps of the normalised values
        r = 1 + abs(loc) / scale
        _assert_close(Y, want_y, dtype, f"{m.__name__} Y", scale=4 * r)
        _assert_close(mean, X.astype(np.float64).mean(0), dtype, "mean", scale=abs(loc) + 1)
        _assert_close(var, X.astype(np.float64).var(0), dtype, "var", scale=scale**2)
        dX, dw, db = m.batchnorm_backward(X, w, mean, var, dY)
        _assert_close(dX, want_dx, dtype, f"{m.__name__} dX", scale=4 * r / min(scale, 1))
        if affine:
            _assert_close(dw, want_dw, dtype, f"{m.__name__} dweight", scale=8 * r)
            _assert_close(db, want_db, dtype, f"{m.__name__} dbias", scale=8)


def test_batchnorm_in_the_dtype_equals_torch_in_the_dtype(rng, dtype):
    torch = pytest.importorskip("torch")
    X, w, b, dY = _data(rng, dtype)
    want = _torch_bn(torch, X, w, b, dY)
    Y, mean, var = ops.batchnorm_forward(X, w, b)
    got = (Y, *ops.batchnorm_backward(X, w, mean, var, dY))
    for g, t, name in zip(got, want, ["Y", "dX", "dweight", "dbias"]):
        _assert_close(g, t, dtype, name, scale=4)


def test_batchnorm_eval_mode_equals_torch(rng, dtype):
    torch = pytest.importorskip("torch")
    X, w, b, dY = _data(rng, dtype, n=1)  # one sample is fine with running statistics
    rm = rng.standard_normal(5).astype(dtype)
    rv = rng.uniform(0.1, 3, 5).astype(dtype)
    want_y, want_dx, want_dw, want_db = _torch_bn(torch, X, w, b, dY, rm, rv, training=False)
    for m in (ops, ref):
        Y, mean, var = m.batchnorm_forward(X, w, b, rm, rv)
        np.testing.assert_array_equal(mean, rm)
        assert mean is not rm  # a copy
        _assert_close(Y, want_y, dtype, "Y")
        dX, dw, db = m.batchnorm_backward(X, w, mean, var, dY, batch_stats=False)
        for g, t, name in ((dX, want_dx, "dX"), (dw, want_dw, "dw"), (db, want_db, "db")):
            _assert_close(g, t, dtype, f"{m.__name__} {name}")


@pytest.mark.parametrize("batch_stats", [True, False])
def test_batchnorm_central_differences(rng, batch_stats):
    X, w, b, dY = _data(rng, np.float64, n=6, c=3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    stats = {} if batch_stats else {"running_mean": rm, "running_var": rv}

    def loss(x=X, w_=w, b_=b):
        return np.sum(ref.batchnorm_forward(x, w_, b_, **stats)[0] * dY)

    for m in (ops, ref):
        Y, mean, var = m.batchnorm_forward(X, w, b, **stats)
        dX, dw, db = m.batchnorm_backward(X, w, mean, var, dY, batch_stats=batch_stats)
        np.testing.assert_allclose(dX, numgrad(lambda x: loss(x=x), X), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dw, numgrad(lambda v: loss(w_=v), w), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, numgrad(lambda v: loss(b_=v), b), rtol=1e-6, atol=1e-8)


def test_batchnorm_nan_and_inf_propagate_as_torch(dtype):
    torch = pytest.importorskip("torch")
    X = np.arange(24, dtype=dtype).reshape(6, 4)
    X[2, 0], X[3, 1], X[4, 2] = np.nan, np.inf, -np.inf
    dY = np.ones_like(X)
    want_y, want_dx, _, _ = _torch_bn(torch, X, None, None, dY)
    for m in (ops, ref):
        Y, mean, var = m.batchnorm_forward(X)
        np.testing.assert_array_equal(np.isnan(Y), np.isnan(want_y))
        np.testing.assert_allclose(Y[:, 3], want_y[:, 3], rtol=1e-5)  # the clean column is unaffected
        dX = m.batchnorm_backward(X, None, mean, var, dY)[0]
        np.testing.assert_array_equal(np.isnan(dX), np.isnan(want_dx))


def test_batchnorm_layouts_out_and_in_place(rng, dtype):
    X, w, b, dY = _data(rng, dtype)
    want = ref.batchnorm_forward(X, w, b)
    for Xl in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        for g, t in zip(ops.batchnorm_forward(Xl, w, b), want):
            close(g, t, scale=4)
    Xc = X.copy()
    Y, _, _ = ops.batchnorm_forward(Xc, w, b, out=Xc)
    assert Y is Xc
    close(Xc, want[0], scale=4)
    out = np.empty_like(X)
    dX = ops.batchnorm_backward(np.asfortranarray(X), w, want[1], want[2], dY[::-1][::-1], out=out)[0]
    assert dX is out
    close(out, ref.batchnorm_backward(X, w, want[1], want[2], dY)[0], scale=4)


# ------------------------------------------------------------------------------ layer norm


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("loc,scale", [(0.0, 1.0), (1e3, 1.0), (-3e3, 1e3)], ids=["unit", "offset", "wide"])
def test_layernorm_equals_torch(rng, dtype, affine, loc, scale):
    torch = pytest.importorskip("torch")
    X, w, b, dY = _data(rng, dtype, n=7, c=12, loc=loc, scale=scale)
    w = None if affine == "none" else w
    b = b if affine == "both" else None

    def f64(a):
        return None if a is None else a.astype(np.float64)

    want_y, want_dx, want_dw, want_db = _torch_ln(torch, X.astype(np.float64), f64(w), f64(b), dY.astype(np.float64))
    for m in (ops, ref):
        Y, mean, var = m.layernorm_forward(X, w, b)
        assert Y.dtype == mean.dtype == var.dtype == dtype and mean.shape == (7,)
        r = 1 + abs(loc) / scale  # (the rounded mean, as for batch norm)
        _assert_close(Y, want_y, dtype, f"{m.__name__} Y", scale=4 * r)
        dX, dw, db = m.layernorm_backward(X, w, mean, var, dY)
        _assert_close(dX, want_dx, dtype, f"{m.__name__} dX", scale=4 * r / min(scale, 1))
        if w is not None:
            _assert_close(dw, want_dw, dtype, f"{m.__name__} dweight", scale=8 * r)
        if b is not None:
            _assert_close(db, want_db, dtype, f"{m.__name__} dbias", scale=8)


def test_layernorm_central_differences(rng):
    X, w, b, dY = _data(rng, np.float64, n=4, c=5)

    def loss(x=X, w_=w, b_=b):
        return np.sum(ref.layernorm_forward(x, w_, b_)[0] * dY)

    for m in (ops, ref):
        _, mean, var = m.layernorm_forward(X, w, b)
        dX, dw, db = m.layernorm_backward(X, w, mean, var, dY)
        np.testing.assert_allclose(dX, numgrad(lambda x: loss(x=x), X), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dw, numgrad(lambda v: loss(w_=v), w), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, numgrad(lambda v: loss(b_=v), b), rtol=1e-6, atol=1e-8)


def test_layernorm_nan_and_inf_propagate_as_torch(dtype):
    torch = pytest.importorskip("torch")
    X = np.arange(24, dtype=dtype).reshape(4, 6)
    X[1, 0], X[2, 3] = np.nan, np.inf
    want_y, want_dx, _, _ = _torch_ln(torch, X, None, None, np.ones_like(X))
    for m in (ops, ref):
        Y, mean, var = m.layernorm_forward(X)
        np.testing.assert_array_equal(np.isnan(Y), np.isnan(want_y))
        np.testing.assert_allclose(Y[[0, 3]], want_y[[0, 3]], rtol=1e-5, atol=1e-6)
        dX = m.layernorm_backward(X, None, mean, var, np.ones_like(X))[0]
        np.testing.assert_array_equal(np.isnan(dX), np.isnan(want_dx))


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: ops.batchnorm_forward(np.ones((1, 3))), ValueError,
     r"batchnorm_forward: batch statistics need more than 1 value per feature .*\(1, 3\)"),
    (lambda: ops.batchnorm_forward(np.ones(3)), ValueError, r"batchnorm_forward: X must be 2-D"),
    (lambda: ops.batchnorm_forward(np.ones((4, 3)), np.ones(2)), ValueError,
     r"weight must have shape \(num_features,\) = \(3,\) to match X \(4, 3\), got shape \(2,\)"),
    (lambda: ops.batchnorm_forward(np.ones((4, 3)), None, np.ones(3, np.float32)), TypeError,
     r"X float64 and bias float32"),
    (lambda: ops.batchnorm_forward(np.ones((4, 3)), None, None, np.zeros(3)), ValueError,
     r"running_mean and running_var must be given together"),
    (lambda: ops.batchnorm_forward(np.ones((4, 3)), eps=-1.0), ValueError, r"batchnorm_forward: eps must be a finite"),
    (lambda: ops.batchnorm_forward(np.ones((4, 3), np.int32)), TypeError, r"X must be float32 or float64, got int32"),
    (lambda: ops.batchnorm_backward(np.ones((4, 3)), None, np.zeros(3), np.ones(3), np.ones((3, 4))), ValueError,
     r"batchnorm_backward: dY must have the shape of X \(4, 3\), got shape \(3, 4\)"),
    (lambda: ops.batchnorm_backward(np.ones((4, 3)), None, None, np.ones(3), np.ones((4, 3))), TypeError,
     r"batchnorm_backward: mean must be a float32 or float64 numpy.ndarray, got None"),
    (lambda: ops.layernorm_forward(np.ones((4, 3)), np.ones(4)), ValueError,
     r"layernorm_forward: weight must have shape \(normalized_shape,\) = \(3,\)"),
    (lambda: ops.layernorm_backward(np.ones((4, 3)), None, np.zeros(3), np.ones(4), np.ones((4, 3))), ValueError,
     r"layernorm_backward: mean must have shape \(n_samples,\) = \(4,\)"),
    (lambda: ops.layernorm_forward(np.ones((4, 3)), eps=float("nan")), ValueError, r"eps must be a finite number"),
    (lambda: ops.layernorm_forward(np.ones((4, 3)), out=np.ones((4, 3), np.float32)), TypeError,
     r"layernorm_forward: out must be float64"),
])
def test_bad_input_raises_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ------------------------------------------------------------------------------ the layers


def _torch_module_grads(module):
    return [None if p.grad is None else p.grad.numpy().copy() for p in module.parameters()]


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_layer_equals_torch_over_several_steps(dtype, momentum, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    ours = fg.BatchNorm1d(4, momentum=momentum, affine=affine).build(0, dtype)
    theirs = torch.nn.BatchNorm1d(4, momentum=momentum, affine=affine).to(torch.float64 if dtype == np.float64
                                                                          else torch.float32)
    for step in range(5):
        X = rng.normal(3.0 * step, 1 + step, (10, 4)).astype(dtype)
        dY = rng.standard_normal((10, 4)).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        x = torch.from_numpy(X.copy()).requires_grad_(True)
        y = theirs(x)
        y.backward(torch.from_numpy(dY))
        _assert_close(ours.forward(X), y.detach().numpy(), dtype, "Y", scale=4)
        _assert_close(ours.backward(dY), x.grad.numpy(), dtype, "dX", scale=8)
        if affine:
            _assert_close(ours.weight.grad, theirs.weight.grad.numpy(), dtype, "dweight", scale=8)
            _assert_close(ours.bias.grad, theirs.bias.grad.numpy(), dtype, "dbias", scale=8)
    _assert_close(ours.running_mean, theirs.running_mean.numpy(), dtype, "running_mean", scale=8)
    _assert_close(ours.running_var, theirs.running_var.numpy(), dtype, "running_var", scale=8)
    assert ours.num_batches_tracked.dtype == np.int64 and ours.num_batches_tracked.shape == ()
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 5
    ours.eval(), theirs.eval()
    X = rng.standard_normal((1, 4)).astype(dtype)  # one sample: fine in eval mode
    _assert_close(ours.forward(X), theirs(torch.from_numpy(X)).detach().numpy(), dtype, "eval Y", scale=4)
    dY = np.ones((1, 4), dtype)
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    theirs(x).backward(torch.from_numpy(dY))
    _assert_close(ours.backward(dY), x.grad.numpy(), dtype, "eval dX", scale=4)
    assert int(ours.num_batches_tracked) == 5


def test_batchnorm1d_without_running_stats_uses_batch_stats_in_eval():
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(1).standard_normal((8, 3))
    ours = fg.BatchNorm1d(3, track_running_stats=False).build(0, "float64").eval()
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=False).double().eval()
    np.testing.assert_allclose(ours.forward(X), theirs(torch.from_numpy(X)).detach().numpy(), rtol=1e-12)
    assert ours.buffers() == {} and theirs.running_mean is None


def test_batchnorm1d_defaults_params_buffers_and_errors():
    torch = pytest.importorskip("torch")
    bn = fg.BatchNorm1d(3).build(0, "float32")
    t = torch.nn.BatchNorm1d(3)
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (t.eps, t.momentum, t.affine,
                                                                        t.track_running_stats)
    assert [p.name for p in bn.parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(bn.weight.data, t.weight.detach().numpy())
    np.testing.assert_array_equal(bn.bias.data, t.bias.detach().numpy())
    assert sorted(bn.buffers()) == ["num_batches_tracked", "running_mean", "running_var"]
    np.testing.assert_array_equal(bn.running_var, t.running_var.numpy())
    with pytest.raises(ValueError, match="more than 1 value per feature"):
        bn.forward(np.ones((1, 3), np.float32))
    assert int(bn.num_batches_tracked) == 0  # a refused batch changes nothing
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be a positive int"):
        fg.BatchNorm1d(0)
    with pytest.raises(ValueError, match="BatchNorm1d: momentum must be a finite number"):
        fg.BatchNorm1d(3, momentum=float("nan"))
    with pytest.raises(ValueError, match="Net: layers\\[1\\] BatchNorm1d.* expects 3 input features"):
        fg.Net([fg.Linear(2, 4), fg.BatchNorm1d(3)])


@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}])
def test_layernorm_layer_equals_torch(dtype, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    ours = fg.LayerNorm((6,), **kwargs).build(0, dtype)
    theirs = torch.nn.LayerNorm(6, **kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        p.data[...] = q.detach().numpy()
    X = rng.normal(2, 3, (5, 6)).astype(dtype)
    dY = rng.standard_normal((5, 6)).astype(dtype)
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    y = theirs(x)
    y.backward(torch.from_numpy(dY))
    _assert_close(ours.forward(X), y.detach().numpy(), dtype, "Y", scale=4)
    _assert_close(ours.backward(dY), x.grad.numpy(), dtype, "dX", scale=8)
    assert [p.name for p in ours.parameters()] == [n for n, _ in theirs.named_parameters()]
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _assert_close(p.grad, q.grad.numpy(), dtype, p.name, scale=8)
    ours.eval()
    _assert_close(ours.forward(X), y.detach().numpy(), dtype, "eval Y", scale=4)  # no mode dependence


def test_layernorm_arguments():
    assert fg.LayerNorm(4).normalized_shape == fg.LayerNorm([4]).normalized_shape == 4
    with pytest.raises(ValueError, match="normalized_shape must be the number of features"):
        fg.LayerNorm((2, 3))
    with pytest.raises(ValueError, match="LayerNorm: eps must be >= 0"):
        fg.LayerNorm(3, eps=-1)
    ln = fg.LayerNorm(3, bias=False).build(0, "float64")
    assert [p.name for p in ln.parameters()] == ["weight"]
    assert repr(ln) == "LayerNorm(normalized_shape=3, eps=1e-05, elementwise_affine=True, bias=False)"
