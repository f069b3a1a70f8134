"""The input rule: fit/predict/evaluate convert DataFrames, lists, other layouts and dtypes once per
call (the same weights as the converted array); memory-mapped arrays are read batch by batch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import fastgd as fg
import numpy as np
import pytest


def _net(dtype="float32"):
    return fg.Net([fg.Linear(5, 8), fg.ReLU(), fg.Linear(8, 3)], dtype=dtype, seed=0)


def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def _fit(X, y, dtype="float32", **kw):
    net = _net(dtype)
    hist = net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=0.01, epochs=2, batch_size=8,
                   progress=False, **kw)
    return net, hist


def _same(a, b):
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_other_layouts_and_dtypes_train_like_the_converted_array(dtype):
    X, y = _data()
    ref, href = _fit(np.ascontiguousarray(X, dtype=dtype), y, dtype)
    wide = np.zeros((40, 10))
    wide[:, ::2] = X
    other = np.float32 if dtype == "float64" else np.float64
    for variant in (X, X.astype(other), np.asfortranarray(X), wide[:, ::2], X.tolist(),
                    np.ascontiguousarray(X, dtype=dtype)[::-1][::-1]):
        net, hist = _fit(variant, y.tolist(), dtype)
        if isinstance(variant, np.ndarray) and variant.dtype == other and dtype == "float64":
            # float32 data in a float64 net: the same values as float32 X, not as X
            _same(net, _fit(X.astype(np.float32).astype(dtype), y, dtype)[0])
        else:  # the same values as X, converted once to the net's dtype
            _same(net, ref)
            assert hist.history == href.history
        np.testing.assert_array_equal(net.predict(variant), net.predict(np.asarray(variant, dtype)))
    ints = np.round(X * 3).astype(np.int32)
    a, _ = _fit(ints, y, dtype)
    b, _ = _fit(ints.astype(dtype), y, dtype)
    _same(a, b)


def test_pandas_frames_and_series():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=list("abcde"))
    a, ha = _fit(frame, pd.Series(y))
    b, hb = _fit(X, y)
    _same(a, b)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict(frame), b.predict(X.astype(np.float32)))
    assert a.evaluate(frame, pd.Series(y)) == b.evaluate(X, y)


def test_the_building_blocks_stay_strict():
    X, y = _data()
    net = _net()
    with pytest.raises(TypeError, match="float64 but the net's dtype is float32"):
        net.forward(X)
    with pytest.raises(TypeError, match="float64"):
        fg.Trainer(net, "cross_entropy").step(X, y)


@pytest.mark.parametrize("bad,match", [(np.array([["a"] * 5]), "numbers"), (np.ones((2, 5), complex), "complex"),
                                       ([[1, 2], [3]], "cannot read"), (np.ones((3, 4)), "5 features")])
def test_unreadable_inputs_name_the_argument(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        _net().predict(bad)


def test_integer_valued_float_labels_are_a_type_error_with_the_fix():
    X, y = _data()
    with pytest.raises(TypeError, match=r"integer dtype.*astype\(np.int64\)"):
        _fit(X, y.astype(np.float64))


def test_memmap_fit_predict_evaluate_equal_in_memory(tmp_path):
    X, y = _data(100)
    path = tmp_path / "X.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    lazy = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    assert fg.net.is_lazy(lazy) and not fg.net.is_lazy(X)
    a, ha = _fit(lazy, y, validation_split=0.2)
    b, hb = _fit(X, y, validation_split=0.2)
    _same(a, b)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict(lazy, batch_size=7), b.predict(X))
    assert a.evaluate(lazy, y, batch_size=9) == pytest.approx(b.evaluate(X, y), rel=1e-6)


class Rows:
    """An array-like with NumPy indexing, like an h5py dataset: rows only in increasing order."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.reads = a, a.shape, a.dtype, 0

    def __len__(self):
        return len(self.a)

    def __getitem__(self, index):
        if isinstance(index, np.ndarray):
            assert (np.diff(index) > 0).all(), "rows must be read in increasing order"
        self.reads += 1
        return self.a[index]


def test_any_array_like_with_numpy_indexing_is_read_batch_by_batch():
    X, y = _data()
    rows = Rows(X)
    a, ha = _fit(rows, y)
    b, hb = _fit(X, y)
    _same(a, b)
    assert rows.reads >= 10  # 5 batches x 2 epochs, no whole read


@pytest.mark.skipif(sys.platform != "linux" or "asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="RLIMIT_DATA accounting (a sanitizer runtime reserves far more)")
def test_a_memmap_larger_than_the_memory_limit_trains_like_in_memory(tmp_path):
    """A 400 MB memory-mapped data set in a process that may allocate only ~100 MB more than
    it holds after start-up: fit reads it batch by batch; the weights equal an in-memory fit."""
    rows, cols = 1_600_000, 64  # float32: 410 MB
    path = tmp_path / "big.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, cols))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 200_000):
        mm[i:i + 200_000] = rng.standard_normal((min(200_000, rows - i), cols), dtype=np.float32)
    mm.flush()
    del mm
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy as np
        import fastgd as fg
        X = np.memmap({str(path)!r}, dtype=np.float32, mode={{mode!r}}, shape=({rows}, {cols}))
        y = (X[:, 0] > 0).astype(np.int64) if {{mode!r}} == "c" else None
        if {{mode!r}} == "r":
            y = np.empty({rows}, np.int64)
            for i in range(0, {rows}, 100_000):
                y[i:i + 100_000] = X[i:i + 100_000, 0] > 0
            status = open("/proc/self/status").read()
            used = int(status.split("VmData:")[1].split()[0]) * 1024  # private data mappings
            resource.setrlimit(resource.RLIMIT_DATA, (used + 100 * 2**20, resource.RLIM_INFINITY))
            try:
                np.ones(200 * 2**20, np.uint8)
            except MemoryError:
                pass
            else:
                sys.exit("the memory limit does not hold")
        else:
            X = np.array(X)  # in memory
        net = fg.Net([fg.Linear({cols}, 16), fg.ReLU(), fg.Linear(16, 2)], seed=0)
        net.fit(X, y, loss="cross_entropy", optimizer="sgd", lr=0.1, epochs=1, batch_size=4096,
                progress=False)
        np.save(sys.argv[1], np.concatenate([p.data.ravel() for p in net.parameters()]))
    """)
    out = {}
    for mode in ("r", "c"):
        target = tmp_path / f"w_{mode}.npy"
        result = subprocess.run([sys.executable, "-c", script.replace("{mode!r}", repr(mode)), str(target)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        out[mode] = np.load(target)
    np.testing.assert_array_equal(out["r"], out["c"])


class Counted:
    """A table NumPy reads through ``__array__`` (like a pandas or xarray object), counting reads."""

    def __init__(self, a):
        self.a, self.reads = np.asarray(a), 0

    def __array__(self, dtype=None, copy=None):
        self.reads += 1
        return self.a if dtype is None else self.a.astype(dtype)

    def __len__(self):
        return len(self.a)


def test_inputs_are_converted_once_per_call_never_per_batch_or_epoch():
    X, y = _data(40)
    Xc, yc, wc = Counted(X), Counted(y), Counted(np.linspace(0.5, 2, 40))
    Xv, yv = Counted(X[:10]), Counted(y[:10])
    a, ha = _fit(Xc, yc, sample_weight=wc, validation_data=(Xv, yv))  # 2 epochs x 5 batches
    assert (Xc.reads, yc.reads, wc.reads, Xv.reads, yv.reads) == (1, 1, 1, 1, 1)
    b, hb = _fit(X, y, sample_weight=np.linspace(0.5, 2, 40), validation_data=(X[:10], y[:10]))
    _same(a, b)
    assert ha.history == hb.history
    Xp = Counted(X)
    np.testing.assert_array_equal(a.predict(Xp, batch_size=7), b.predict(X))  # 6 batches
    assert Xp.reads == 1
    Xe, ye = Counted(X), Counted(y)
    assert a.evaluate(Xe, ye, batch_size=9) == b.evaluate(X, y, batch_size=9)
    assert (Xe.reads, ye.reads) == (1, 1)


@pytest.mark.parametrize("kind", ["bool", "uint8", "int64", "float16"])
def test_other_numeric_dtypes_of_X_train_like_the_converted_array(kind):
    X, y = _data()
    Xk = {"bool": X > 0, "uint8": np.abs(X * 40).astype(np.uint8), "int64": np.round(X * 5).astype(np.int64),
          "float16": X.astype(np.float16)}[kind]
    a, ha = _fit(Xk, y)
    b, hb = _fit(Xk.astype(np.float32), y)
    _same(a, b)
    assert ha.history == hb.history


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "smooth_l1", "poisson_nll"])
@pytest.mark.parametrize("kind", ["int64", "uint8", "bool", "float16", "float64", "list"])
def test_regression_targets_of_any_numeric_dtype_are_converted_once(loss, kind):
    X, _ = _data()
    counts = np.random.default_rng(1).poisson(2.0, 40)
    yk = {"int64": counts, "uint8": counts.astype(np.uint8), "bool": counts > 1, "float16": counts.astype(np.float16),
          "float64": counts.astype(np.float64), "list": counts.tolist()}[kind]
    nets = [fg.Net([fg.Linear(5, 4), fg.Tanh(), fg.Linear(4, 1)], seed=0) for _ in range(2)]
    ha = nets[0].fit(X, yk, loss=loss, epochs=2, batch_size=8, progress=False)
    hb = nets[1].fit(X, np.asarray(yk).astype(np.float32), loss=loss, epochs=2, batch_size=8, progress=False)
    _same(*nets)
    assert ha.history == hb.history
    assert nets[0].evaluate(X, yk, loss=loss) == nets[1].evaluate(X, np.asarray(yk, np.float32), loss=loss)
    with pytest.raises(TypeError, match="must be float32"):  # the building block stays strict
        fg.Trainer(nets[0], loss).step(X.astype(np.float32), np.asarray(yk).reshape(-1, 1).astype(np.int64))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_class_labels_are_a_type_error_naming_the_dtype_given_and_the_fix(dtype):
    X, y = _data()
    yf = y.astype(dtype)  # integer-valued: still refused, never silently cast
    fix = r"y \(class labels\) must have an integer dtype, got " + dtype + r"; convert with y.astype\(np.int64\)"
    with pytest.raises(TypeError, match=fix):
        _fit(X, yf)
    with pytest.raises(TypeError, match=fix):
        _net().evaluate(X, yf, loss="cross_entropy")
    with pytest.raises(TypeError, match=r"validation_data\[1\] \(class labels\) must have an integer dtype, got "
                       + dtype):
        _fit(X, y, validation_data=(X, yf))
    pd = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match=fix):
        _fit(pd.DataFrame(X), pd.Series(yf))
    # class probabilities (n, classes) of any float dtype are converted
    probs = np.eye(3, dtype=dtype)[y]
    a, _ = _fit(X, probs)
    b, _ = _fit(X, np.eye(3, dtype=np.float32)[y])
    _same(a, b)
