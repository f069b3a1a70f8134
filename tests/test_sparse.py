"""Sparse (CSR) input: csr_linear_forward/backward against the NumPy twins and dense X @ W, hostile
CSR structures, the row gather, and Net.fit/predict/evaluate/Trainer.step on scipy.sparse against
the same calls on the dense array."""

from __future__ import annotations

import fastgd as fg
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import close
from fastgd import _core, ops
from fastgd import reference as ref
from fastgd.sparse import CsrRows, csr_rows
from hypothesis import given, settings
from hypothesis import strategies as st

INDEX_DTYPES = [np.int32, np.int64]


def random_csr(rng, n, cols, density, dtype, index_dtype=np.int32, empty_rows=0.0, shuffle=True,
               duplicates=False):
    """A random CSR matrix as its three arrays: about density·cols entries per row, a fraction
    empty_rows of the rows empty, the column order within a row shuffled (not sorted), and with
    duplicates some columns repeated (scipy adds them up)."""
    indptr = [0]
    indices: list[int] = []
    for _ in range(n):
        k = 0 if rng.random() < empty_rows or cols == 0 else rng.binomial(cols, density)
        row = rng.choice(cols, size=k, replace=False) if k else np.zeros(0, np.int64)
        if duplicates and k:
            row = np.concatenate([row, rng.choice(row, size=max(1, k // 3))])
        if not shuffle:
            row = np.sort(row)
        else:
            rng.shuffle(row)
        indices.extend(row.tolist())
        indptr.append(len(indices))
    data = rng.standard_normal(len(indices)).astype(dtype)
    return (np.asarray(indptr, index_dtype), np.asarray(indices, index_dtype), data)


def dense(indptr, indices, data, cols):
    """The dense matrix of the CSR arrays, by scipy (duplicates summed)."""
    lo = int(indptr[0])
    return sp.csr_array((data[lo:], indices[lo:], indptr - lo), shape=(len(indptr) - 1, cols)).toarray()


# ------------------------------------------------------------------------------- kernels

SHAPES = [(1, 1, 1, 1.0), (7, 5, 3, 0.5), (40, 300, 16, 0.02), (0, 4, 3, 0.5), (5, 0, 3, 0.0),
          (64, 100, 1, 0.1), (33, 50, 513, 0.1),  # 513 columns: db sums in column chunks of 256
          (800, 2000, 64, 0.02)]  # nnz·out above the threading threshold: the threaded paths


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=["i32", "i64"])
@pytest.mark.parametrize("n,i,o,density", SHAPES)
def test_csr_kernels_match_reference_and_dense(rng, dtype, index_dtype, n, i, o, density):
    indptr, indices, data = random_csr(rng, n, i, density, dtype, index_dtype, empty_rows=0.2)
    W = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    dZ = rng.standard_normal((n, o)).astype(dtype)
    Xd = dense(indptr, indices, data, i).astype(np.float64)
    scale = max(int(np.diff(indptr).max(initial=0)), 1)
    Z = ops.csr_linear_forward(indptr, indices, data, W, b)
    assert Z.dtype == dtype and Z.shape == (n, o)
    close(Z, ref.csr_linear_forward(indptr, indices, data, W, b), scale=scale)
    close(Z, Xd @ W + b, dtype, scale=scale)
    close(ops.csr_linear_forward(indptr, indices, data, W), Xd @ W, dtype, scale=scale)
    dW, db = ops.csr_linear_backward(indptr, indices, data, dZ, i)
    assert dW.dtype == db.dtype == dtype and dW.shape == (i, o) and db.shape == (o,)
    rdW, rdb = ref.csr_linear_backward(indptr, indices, data, dZ, i)
    close(dW, rdW, scale=max(n, 1))
    close(dW, Xd.T @ dZ, dtype, scale=max(n, 1))
    close(db, rdb, scale=max(n, 1))
    # the same as the dense layer's backward on the densified X
    close(dW, ops.linear_backward(Xd.astype(dtype), W, dZ, need_dx=False)[1], scale=max(n, 1))


def test_csr_duplicates_unsorted_and_row_slices(rng, dtype):
    """Repeated columns add up (as scipy's toarray), any column order, and an indptr slice
    (starting above 0) is the rows it names."""
    indptr, indices, data = random_csr(rng, 30, 20, 0.3, dtype, duplicates=True)
    W = rng.standard_normal((20, 6)).astype(dtype)
    dZ = rng.standard_normal((30, 6)).astype(dtype)
    Xd = dense(indptr, indices, data, 20)
    close(ops.csr_linear_forward(indptr, indices, data, W), Xd.astype(np.float64) @ W, dtype, scale=10)
    close(ops.csr_linear_backward(indptr, indices, data, dZ, 20)[0], Xd.T.astype(np.float64) @ dZ, dtype,
          scale=30)
    sub = indptr[10:21]  # rows 10..19, sharing indices and data
    assert sub[0] > 0
    close(ops.csr_linear_forward(sub, indices, data, W), Xd[10:20].astype(np.float64) @ W, dtype, scale=10)
    close(ops.csr_linear_backward(sub, indices, data, dZ[10:20], 20)[0],
          Xd[10:20].T.astype(np.float64) @ dZ[10:20], dtype, scale=10)


def test_csr_layouts_and_out(rng, dtype):
    """Strided index/data arrays and a Fortran W give the same results; out= is written."""
    indptr, indices, data = random_csr(rng, 25, 40, 0.2, dtype, np.int64)
    W = rng.standard_normal((40, 9)).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    want = ops.csr_linear_forward(indptr, indices, data, W, b)
    strided = [np.repeat(a, 2)[::2] for a in (indptr, indices, data)]
    assert not strided[0].flags.c_contiguous
    np.testing.assert_array_equal(ops.csr_linear_forward(*strided, np.asfortranarray(W), b), want)
    out = np.empty((25, 9), dtype)
    assert ops.csr_linear_forward(indptr, indices, data, W, b, out=out) is out
    np.testing.assert_array_equal(out, want)
    dZ = rng.standard_normal((25, 9)).astype(dtype)
    odW, odb = np.full((40, 9), 7, dtype), np.empty(9, dtype)  # dW's untouched rows are zeroed
    dW, db = ops.csr_linear_backward(indptr, indices, data, dZ, 40, out=(odW, odb))
    assert dW is odW and db is odb
    for got, want_ in zip((dW, db), ref.csr_linear_backward(indptr, indices, data, dZ, 40)):
        close(got, want_, scale=25)


def test_csr_threads_give_identical_bits(rng):
    """Rows (forward) and column blocks (dW) are split between threads, never one sum: the
    results do not depend on the number of threads."""
    indptr, indices, data = random_csr(rng, 600, 3000, 0.03, np.float32)
    W = rng.standard_normal((3000, 64)).astype(np.float32)
    dZ = rng.standard_normal((600, 64)).astype(np.float32)
    before = fg.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            fg.set_num_threads(threads)
            results.append((ops.csr_linear_forward(indptr, indices, data, W),
                            *ops.csr_linear_backward(indptr, indices, data, dZ, 3000)))
    finally:
        fg.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(n=st.integers(0, 12), cols=st.integers(1, 12), o=st.integers(1, 20), density=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1), wide=st.booleans(), f64=st.booleans(), dup=st.booleans())
def test_csr_kernels_fuzz(n, cols, o, density, seed, wide, f64, dup):
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    indptr, indices, data = random_csr(rng, n, cols, density, dtype, np.int64 if wide else np.int32,
                                       empty_rows=0.3, duplicates=dup)
    W = rng.standard_normal((cols, o)).astype(dtype)
    dZ = rng.standard_normal((n, o)).astype(dtype)
    close(ops.csr_linear_forward(indptr, indices, data, W), ref.csr_linear_forward(indptr, indices, data, W),
          scale=cols * 2)
    for got, want in zip(ops.csr_linear_backward(indptr, indices, data, dZ, cols),
                         ref.csr_linear_backward(indptr, indices, data, dZ, cols)):
        close(got, want, scale=max(n, 1) * 2)


# ------------------------------------------------------------------------------- hostile input

def _ok(dtype=np.float32):
    indptr = np.array([0, 2, 2, 3], np.int32)
    indices = np.array([1, 0, 2], np.int32)
    data = np.array([1.0, 2.0, 3.0], dtype)
    return indptr, indices, data


W3 = np.ones((3, 2), np.float32)
HOSTILE = [
    # (what is wrong, forward args, the exception, words the message must contain)
    ("float indptr", lambda p, i, d: (p.astype(np.float32), i, d, W3), TypeError, ["indptr", "int32 or int64"]),
    ("int16 indices", lambda p, i, d: (p, i.astype(np.int16), d, W3), TypeError, ["indices", "int16"]),
    ("uint32 indptr", lambda p, i, d: (p.astype(np.uint32), i, d, W3), TypeError, ["indptr", "uint32"]),
    ("mixed index dtypes", lambda p, i, d: (p, i.astype(np.int64), d, W3), TypeError,
     ["indptr and indices", "same dtype"]),
    ("int data", lambda p, i, d: (p, i, d.astype(np.int64), W3), TypeError, ["data", "int64"]),
    ("data f64, W f32", lambda p, i, d: (p, i, d.astype(np.float64), W3), TypeError, ["data", "W", "float64"]),
    ("list indptr", lambda p, i, d: (p.tolist(), i, d, W3), TypeError, ["indptr", "list"]),
    ("2-D indptr", lambda p, i, d: (p[None, :], i, d, W3), ValueError, ["indptr", "1-D", "(1, 4)"]),
    ("empty indptr", lambda p, i, d: (p[:0], i, d, W3), ValueError, ["indptr", "n_samples + 1"]),
    ("short data", lambda p, i, d: (p, i, d[:2], W3), ValueError, ["data", "shape of indices", "(2,)"]),
    ("decreasing indptr", lambda p, i, d: (np.array([0, 2, 1, 3], np.int32), i, d, W3), ValueError,
     ["indptr", "non-decreasing", "indptr[1] = 2"]),
    ("negative indptr[0]", lambda p, i, d: (np.array([-1, 2, 2, 3], np.int32), i, d, W3), ValueError,
     ["indptr", ">= 0"]),
    ("indptr past nnz", lambda p, i, d: (np.array([0, 2, 2, 4], np.int32), i, d, W3), ValueError,
     ["indptr[-1] = 4", "length of indices"]),
    ("column too large", lambda p, i, d: (p, np.array([1, 0, 3], np.int32), d, W3), ValueError,
     ["indices", "[0, 3)", "got 3"]),
    ("negative column", lambda p, i, d: (p, np.array([1, -1, 2], np.int32), d, W3), ValueError,
     ["indices", "got -1"]),
    ("1-D W", lambda p, i, d: (p, i, d, np.ones(3, np.float32)), ValueError, ["W", "2-D"]),
    ("bias shape", lambda p, i, d: (p, i, d, W3, np.ones(3, np.float32)), ValueError, ["b", "(2,)"]),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_csr_forward_hostile(case):
    _, make, exc, words = case
    args = make(*_ok())
    with pytest.raises(exc) as info:
        ops.csr_linear_forward(*args)
    msg = str(info.value)
    assert msg.startswith("csr_linear_forward:"), msg
    for w in words:
        assert w in msg, (w, msg)


def test_csr_backward_hostile():
    p, i, d = _ok()
    dZ = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"csr_linear_backward: dZ must have shape .*\(3, \*\).*\(4, 2\)"):
        ops.csr_linear_backward(p, i, d, np.ones((4, 2), np.float32), 3)
    with pytest.raises(TypeError, match="csr_linear_backward: data and dZ must have the same dtype"):
        ops.csr_linear_backward(p, i, d, dZ.astype(np.float64), 3)
    with pytest.raises(ValueError, match=r"csr_linear_backward: indices must be column numbers in \[0, 2\)"):
        ops.csr_linear_backward(p, i, d, dZ, 2)
    with pytest.raises(ValueError, match="n_features must be >= 0"):
        ops.csr_linear_backward(p, i, d, dZ, -1)
    with pytest.raises(ValueError, match=r"out\[0\] \(dW\) must have shape \(3, 2\)"):
        ops.csr_linear_backward(p, i, d, dZ, 3, out=(np.empty((2, 2), np.float32), np.empty(2, np.float32)))
    with pytest.raises(TypeError, match=r"out must be a tuple \(dW, db\)"):
        ops.csr_linear_backward(p, i, d, dZ, 3, out=np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="overlaps an input"):
        ops.csr_linear_backward(p, i, d, dZ, 3, out=(dZ, np.empty(2, np.float32)))
    ro = np.empty((3, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.csr_linear_forward(p, i, d, W3, out=ro)


# ------------------------------------------------------------------------------- CsrRows

def test_csr_rows_gather_and_slices(rng):
    X = sp.random(50, 30, density=0.2, format="csr", dtype=np.float32, random_state=3)
    rows = csr_rows(X)
    assert rows.shape == (50, 30) and len(rows) == 50 and rows.nnz == X.nnz
    np.testing.assert_array_equal(rows.toarray(), X.toarray())
    Xd = X.toarray()
    for idx in (rng.permutation(50)[:17], np.array([3, 3, 0, -1]), np.zeros(0, np.int64), np.arange(50)[::-3]):
        np.testing.assert_array_equal(rows[idx].toarray(), Xd[idx])
    part = rows[10:25]
    assert part.indices is rows.indices and part.data is rows.data  # a view: indptr sliced
    np.testing.assert_array_equal(part.toarray(), Xd[10:25])
    np.testing.assert_array_equal(part[3:5].toarray(), Xd[13:15])
    np.testing.assert_array_equal(rows[::7].toarray(), Xd[::7])
    np.testing.assert_array_equal(rows[40:10].toarray(), Xd[40:10])
    np.testing.assert_array_equal(part.tocsr().toarray(), Xd[10:25])
    with pytest.raises(IndexError, match=r"row numbers must lie in \[-50, 50\)"):
        rows[np.array([50])]
    with pytest.raises(TypeError, match="rows must be a slice or a 1-D integer array"):
        rows[np.array([0.5])]
    np.testing.assert_allclose(rows.column_std(), Xd.std(axis=0), rtol=1e-5, atol=1e-7)


def test_csr_rows_formats_and_dtypes():
    X = sp.random(20, 10, density=0.3, format="coo", dtype=np.float64, random_state=0)
    for M in (X, X.tocsc(), X.tocsr(), sp.csr_matrix(X), sp.csr_array(X), X.todok(), X.tolil()):
        r = csr_rows(M, np.float32)
        assert r.dtype == np.float32 and r.indptr.dtype == r.indices.dtype
        np.testing.assert_allclose(r.toarray(), X.toarray().astype(np.float32))
    big = sp.csr_array(X)
    big.indices, big.indptr = big.indices.astype(np.int64), big.indptr.astype(np.int64)
    assert csr_rows(big).indices.dtype == np.int64
    same = csr_rows(sp.csr_array(X.astype(np.float32)))
    assert same.data.dtype == np.float32


# ------------------------------------------------------------------------------- Net, Trainer

def _data(dtype, n=240, cols=60, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    X = sp.random(n, cols, density=0.08, format="csr", dtype=dtype, random_state=seed)
    X.data = np.abs(X.data).astype(dtype) * 3  # TF-IDF-like: non-negative
    y = rng.integers(0, classes, n)
    return X, y


def _net(dtype, cols=60, classes=3, hidden=16):
    return fg.Net([fg.Linear(cols, hidden), fg.ReLU(), fg.Linear(hidden, classes)], dtype=dtype, seed=0)


FIT_TOL = {np.float32: 2e-5, np.float64: 1e-11}


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layers"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_fit_on_csr_equals_fit_on_dense(dtype, fused, optimizer):
    X, y = _data(dtype)
    Xv, yv = _data(dtype, n=50, seed=2)
    hyper = {"lr": 1e-2} if optimizer == "adam" else {"lr": 0.1, "momentum": 0.9}
    nets, hists = [], []
    for inp, val in ((X, (Xv, yv)), (X.toarray(), (Xv.toarray(), yv))):
        net = _net(dtype)
        tr = fg.Trainer(net, loss="cross_entropy", optimizer=optimizer, fused=fused, **hyper)
        hists.append(tr.fit(inp, y, epochs=3, batch_size=32, validation_data=val, progress=False))
        nets.append(net)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=FIT_TOL[dtype], atol=FIT_TOL[dtype])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(hists[0].history[key], hists[1].history[key], rtol=1e-4)
    a, b = nets
    np.testing.assert_allclose(a.predict(X), b.predict(X.toarray()), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.predict(X, batch_size=50), a.predict(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.predict_classes(X), a.predict_classes(X.toarray()))
    ea, eb = a.evaluate(X, y), a.evaluate(X.toarray(), y)
    assert ea["accuracy"] == eb["accuracy"]
    np.testing.assert_allclose(ea["loss"], eb["loss"], rtol=1e-5)


def test_fit_sparse_options_equal_dense():
    """sample_weight, validation_split, l2, clip_norm, bce and mse losses, int64 indices, CSC/COO."""
    X, y = _data(np.float64, classes=2)
    w = np.random.default_rng(0).random(len(y))
    kw = {"epochs": 2, "batch_size": 40, "progress": False, "sample_weight": w, "validation_split": 0.2,
          "l2": 1e-3, "clip_norm": 1.0}
    X64 = X.copy()
    X64.indices, X64.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    for loss, target in (("bce_with_logits", y[:, None].astype(np.float64)), ("mse", y[:, None] * 1.0)):
        ref_net = fg.Net([fg.Linear(60, 8), fg.Tanh(), fg.Linear(8, 1)], dtype="float64", seed=0)
        ref_net.fit(X.toarray(), target, loss=loss, optimizer="adam", lr=1e-2, **kw)
        for inp in (X, X64, X.tocsc(), sp.coo_matrix(X)):
            net = fg.Net([fg.Linear(60, 8), fg.Tanh(), fg.Linear(8, 1)], dtype="float64", seed=0)
            net.fit(inp, target, loss=loss, optimizer="adam", lr=1e-2, **kw)
            for p, q in zip(net.parameters(), ref_net.parameters()):
                np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-12)


def test_fit_sparse_converts_dtype_once():
    """A float64 sparse X trains a float32 net (converted once, as dense input is)."""
    X, y = _data(np.float64)
    a, b = _net("float32"), _net("float32")
    a.fit(X, y, loss="cross_entropy", optimizer="adam", lr=1e-2, epochs=2, progress=False)
    b.fit(X.toarray().astype(np.float32), y, loss="cross_entropy", optimizer="adam", lr=1e-2, epochs=2,
          progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=2e-5, atol=2e-5)


def test_trainer_step_sparse_equals_dense(dtype):
    X, y = _data(dtype, n=64)
    for fused in (True, False):
        a, b = _net(dtype), _net(dtype)
        ta = fg.Trainer(a, loss="cross_entropy", optimizer="sgd", lr=0.1, fused=fused)
        tb = fg.Trainer(b, loss="cross_entropy", optimizer="sgd", lr=0.1, fused=fused)
        for M in (X, X.tocsc()):
            la, lb = ta.step(M, y), tb.step(X.toarray(), y)
            np.testing.assert_allclose(la, lb, rtol=1e-5)
            np.testing.assert_allclose(ta.last_output, tb.last_output, rtol=1e-4, atol=1e-5)
        for p, q in zip(a.parameters(), b.parameters()):
            np.testing.assert_allclose(p.data, q.data, rtol=FIT_TOL[dtype] * 10, atol=FIT_TOL[dtype] * 10)


def test_lbfgs_on_sparse_equals_dense():
    X, y = _data(np.float64, n=100)
    a, b = _net("float64"), _net("float64")
    a.fit(X, y, loss="cross_entropy", optimizer="lbfgs", epochs=2, batch_size=None, progress=False)
    b.fit(X.toarray(), y, loss="cross_entropy", optimizer="lbfgs", epochs=2, batch_size=None, progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-8, atol=1e-10)


def test_sparse_never_densified(monkeypatch):
    """fit, predict and evaluate read the CSR arrays only: densifying raises here."""
    X, y = _data(np.float32)

    def refuse(*args, **kwargs):
        raise AssertionError("the sparse matrix was densified")

    for cls in (sp.csr_array, sp.csr_matrix, sp.csc_array, CsrRows):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse, raising=False)
    net = _net("float32")
    net.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=2, validation_data=(X, y), progress=False)
    net.predict(X.tocsc())
    net.evaluate(X, y)
    fg.Trainer(net, loss="cross_entropy").step(X[:10], y[:10])


def test_sparse_errors():
    X, y = _data(np.float32)
    net = fg.Net([fg.Dropout(0.1), fg.Linear(60, 3)], seed=0)
    with pytest.raises(TypeError, match=r"X is sparse .*only a Linear first layer takes.*Dropout"):
        net.fit(X, y, loss="cross_entropy", progress=False)
    with pytest.raises(TypeError, match="only a Linear first layer"):
        net.predict(X)
    with pytest.raises(ValueError, match="X must have 60 features"):
        _net("float32").predict(sp.random(5, 61, density=0.5, format="csr", dtype=np.float32))
    strict = _net("float64")
    with pytest.raises(TypeError, match="sparse matrix of dtype float32 but the net's dtype is float64"):
        strict.forward(X)  # the building blocks never cast
    with pytest.raises(TypeError, match="sparse matrix of dtype float32"):
        fg.Trainer(strict, loss="cross_entropy").step(X, y)
    bad = X.copy()
    bad.data[5] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        _net("float32").fit(bad, y, loss="cross_entropy", progress=False)
    net = _net("float32")
    net.forward(X[:4])
    with pytest.raises(ValueError, match="need_dx=False"):
        net.backward(np.ones((4, 3), np.float32))
    with pytest.raises(fg.DivergenceError, match="standard deviations span"):
        _net("float32").fit(X * 1e20, y, loss="cross_entropy", optimizer="sgd", lr=1e3, progress=False)


def test_engine_csr_entry_points_validate():
    X, y = _data(np.float32, n=20)
    net = _net("float32")
    tr = fg.Trainer(net, loss="cross_entropy", optimizer="sgd", lr=0.1)
    tr.step(X, y)
    eng = tr._fused.engine
    r = csr_rows(X)
    with pytest.raises(ValueError, match="Engine.step_csr: indices must be column numbers in \\[0, 60\\)"):
        eng.step_csr(r.indptr, r.indices + 60, r.data, y)
    with pytest.raises(TypeError, match="Engine.step_csr: data must be float32"):
        eng.step_csr(r.indptr, r.indices, r.data.astype(np.float64), y)
    with pytest.raises(ValueError, match=r"Engine.step_csr: y must have shape \(20,\)"):
        eng.step_csr(r.indptr, r.indices, r.data, y[:5])
    with pytest.raises(ValueError, match="X has no samples"):
        eng.step_csr(r.indptr[:1], r.indices, r.data, y[:0])
    np.testing.assert_allclose(eng.forward_csr(r.indptr, r.indices, r.data), net.predict(X), rtol=1e-5, atol=1e-6)
    # a net whose first op is not a Linear: the engine refuses the CSR batch itself
    e2 = _core.Engine("float32", [("relu",)], "mse", 60)
    e2.bind(np.zeros(1, np.float32), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="needs a Linear first layer"):
        e2.forward_csr(r.indptr, r.indices, r.data)


def test_distributed_one_rank_on_sparse_equals_dense():
    """fit(distributed=True) without mpiexec trains as one rank: the sparse X is sharded and
    fingerprinted as CSR rows."""
    X, y = _data(np.float32, n=120)
    a, b = _net("float32"), _net("float32")
    a.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=2, distributed=True, progress=False)
    b.fit(X.toarray(), y, loss="cross_entropy", optimizer="adam", epochs=2, progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=2e-5, atol=2e-6)
