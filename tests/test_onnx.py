"""net.to_onnx and the sklearn estimators' to_onnx: every export is loaded in ONNX Runtime and
compared with net.predict (estimator.predict / predict_proba) on random batches of several sizes."""

from __future__ import annotations

import warnings

import fastgd as fg
import numpy as np
import pytest
from fastgd import layers as fg_layers

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = {"float32": 2e-5, "float64": 1e-12}


def L(name, *args, **kwargs):
    return getattr(fg_layers, name)(*args, **kwargs)


# (id, layers on 5 input features, input scale, float64 tolerance): every layer, and each
# activation alone on large inputs (|x| up to ~2e3, where a naive exp overflows)
CASES = [
    ("linear_relu", lambda: [fg.Linear(5, 7), fg.ReLU(), fg.Linear(7, 3)], 2, None),
    ("no_bias_leaky", lambda: [fg.Linear(5, 4, bias=False), fg.LeakyReLU(0.3), fg.Linear(4, 2)], 2, None),
    ("sigmoid_tanh_identity", lambda: [fg.Linear(5, 6), fg.Sigmoid(), fg.Identity(), fg.Linear(6, 4), fg.Tanh()],
     30, None),
    ("elementwise_only", lambda: [fg.Tanh(), fg.Sigmoid()], 3, None),
    ("dropout", lambda: [fg.Linear(5, 6), L("Dropout", 0.25), fg.Linear(6, 2)], 2, None),
    ("batchnorm", lambda: [fg.Linear(5, 6), L("BatchNorm1d", 6, eps=1e-3, momentum=0.2), fg.ReLU(),
                           fg.Linear(6, 2)], 2, None),
    ("batchnorm_plain", lambda: [L("BatchNorm1d", 5, affine=False), fg.Linear(5, 2)], 2, None),
    ("batchnorm_cumulative", lambda: [L("BatchNorm1d", 5, momentum=None), fg.Linear(5, 2)], 2, None),
    ("batchnorm_batch_stats", lambda: [fg.Linear(5, 4), L("BatchNorm1d", 4, track_running_stats=False),
                                       fg.Linear(4, 2)], 2, None),
    ("layernorm", lambda: [fg.Linear(5, 6), L("LayerNorm", 6, eps=1e-4), fg.Linear(6, 3)], 2, None),
    ("layernorm_no_affine", lambda: [L("LayerNorm", 5, elementwise_affine=False), fg.Linear(5, 3)], 2, None),
    ("layernorm_no_bias", lambda: [L("LayerNorm", 5, bias=False), fg.Linear(5, 3)], 2, None),
    ("gelu_tanh", lambda: [fg.Linear(5, 6), L("GELU", approximate="tanh")], 4, None),
    # ONNX Runtime has no double Erf: the float64 graph takes erf in float32.
    ("gelu_erf", lambda: [fg.Linear(5, 6), L("GELU")], 4, 1e-6),
    ("silu_elu", lambda: [fg.Linear(5, 6), fg_layers.SiLU(), fg.Linear(6, 6), L("ELU", alpha=0.7)], 20, None),
    ("softplus_softmax", lambda: [fg.Linear(5, 6), L("Softplus", beta=2.0, threshold=1.5), fg.Linear(6, 4),
                                  L("Softmax")], 10, None),
    ("softplus_large", lambda: [L("Softplus")], 60, None),
    ("mixed", lambda: [fg.Linear(5, 8), L("BatchNorm1d", 8), fg.ReLU(), L("Dropout", 0.5), fg.Linear(8, 6),
                       L("LayerNorm", 6), L("GELU"), fg.Linear(6, 6), fg_layers.SiLU(), L("ELU"), fg.Linear(6, 4),
                       L("Softplus", beta=0.5), L("Softmax")], 3, 1e-6),
    ("gelu_tanh_large", lambda: [L("GELU", approximate="tanh")], 700, None),
    ("gelu_erf_large", lambda: [L("GELU")], 700, 1e-6),
    ("silu_large", lambda: [fg_layers.SiLU()], 700, None),
    ("elu_large", lambda: [L("ELU", alpha=1.5)], 700, None),
    ("softplus_beta_large", lambda: [L("Softplus", beta=-0.5, threshold=3.0)], 700, None),
    ("softmax_large", lambda: [L("Softmax")], 700, None),
    ("sigmoid_tanh_large", lambda: [fg.Sigmoid(), fg.Linear(5, 5), fg.Tanh()], 700, None),
]
IDS = [c[0] for c in CASES]


def randomize(net, seed=0):
    """Random parameters and running statistics (variances positive) in place."""
    rng = np.random.default_rng(seed)
    for p in net.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    for name, b in net.buffers().items():
        if b.dtype.kind == "f":
            b[...] = rng.uniform(0.5, 2.0, b.shape) if name.endswith("running_var") else rng.standard_normal(b.shape)
    return net


def run(path, X, names=None):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(names, {"X": np.ascontiguousarray(X)})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make, scale, tol64", [c[1:] for c in CASES], ids=IDS)
def test_export_matches_predict(tmp_path, make, scale, tol64, dtype):
    net = randomize(fg.Net(make(), dtype=dtype, seed=0))
    net.train()  # export is of inference mode, whatever the net's mode
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    assert net.training  # left as it was
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    tol = tol64 if dtype == "float64" and tol64 else TOL[dtype]
    rng = np.random.default_rng(1)
    batch_stats = any(getattr(layer, "track_running_stats", True) is False for layer in net.layers)
    for n in (2, 13) if batch_stats else (1, 2, 13):  # the batch axis is dynamic (batch statistics need 2)
        X = np.asfortranarray((rng.standard_normal((n, 5)) * scale).astype(dtype))
        (Y,) = run(path, X)
        expected = net.predict(X)
        assert Y.dtype == np.dtype(dtype) and Y.shape == expected.shape
        np.testing.assert_allclose(Y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("opset", [18, 20, 21])
@pytest.mark.parametrize("case", ["gelu_erf", "gelu_tanh", "batchnorm_batch_stats", "layernorm", "linear_relu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_other_opsets(tmp_path, case, opset, dtype):
    _, make, scale, tol64 = CASES[IDS.index(case)]
    net = randomize(fg.Net(make(), dtype=dtype, seed=0))
    net.to_onnx(tmp_path / "net.onnx", opset=opset)
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert model.opset_import[0].version == opset
    assert model.ir_version == {18: 8, 20: 9, 21: 10}[opset]  # the oldest IR with that opset
    X = (np.random.default_rng(2).standard_normal((7, 5)) * scale).astype(dtype)
    tol = tol64 if dtype == "float64" and tol64 else TOL[dtype]
    np.testing.assert_allclose(run(tmp_path / "net.onnx", X)[0], net.predict(X), rtol=tol, atol=tol)


def test_nested_net_exports_flat(tmp_path):
    inner = fg.Net([fg.Linear(5, 4), fg.Tanh()], dtype="float64", seed=1)
    net = randomize(fg.Net([inner, fg.Linear(4, 2)], dtype="float64", seed=0))
    net.to_onnx(tmp_path / "net.onnx")
    X = np.random.default_rng(3).standard_normal((4, 5))
    np.testing.assert_allclose(run(tmp_path / "net.onnx", X)[0], net.predict(X), rtol=1e-12, atol=1e-12)


def test_bad_exports(tmp_path):
    class Double(fg.Layer):
        def forward(self, X):
            return 2 * X

    with pytest.raises(ValueError, match=r"layers\[1\] Double\(\) has no ONNX export"):
        fg.Net([fg.Linear(2, 2), Double()], seed=0).to_onnx(tmp_path / "x.onnx")
    net = fg.Net([fg.Linear(2, 2)], seed=0)
    for opset in (16, 10**6, "17", True):
        with pytest.raises(ValueError, match="opset must be an int in 17"):
            net.to_onnx(tmp_path / "x.onnx", opset=opset)
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


def test_export_replaces_an_existing_file_whole(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"old")
    net = randomize(fg.Net([fg.Linear(3, 2)], seed=0))
    net.to_onnx(path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]
    X = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(run(path, X)[0], net.predict(X), rtol=2e-5)


# ---------------------------------------------------------------------- sklearn estimators

sk = pytest.importorskip("fastgd.sklearn")


def fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after a few epochs, on purpose
        return estimator.fit(X, y)


@pytest.mark.parametrize("labels", [np.array([3, 7]), np.array(["cat", "dog", "eel"]), np.array([False, True])],
                         ids=["binary_int", "multiclass_str", "bool"])
def test_classifier_export_labels_and_probabilities(tmp_path, labels):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = labels[rng.integers(0, len(labels), 60)]
    clf = fitted(sk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0), X, y)
    clf.to_onnx(tmp_path / "clf.onnx")
    Xt = rng.standard_normal((11, 4))
    label, proba = run(tmp_path / "clf.onnx", Xt, ["label", "probabilities"])
    np.testing.assert_allclose(proba, clf.predict_proba(Xt), rtol=1e-12, atol=1e-12)
    expected = clf.predict(Xt)
    np.testing.assert_array_equal(label.astype(expected.dtype) if labels.dtype.kind != "U" else label.astype(str),
                                  expected)


@pytest.mark.parametrize("outputs", [1, 3])
def test_regressor_export(tmp_path, outputs):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = X @ rng.standard_normal((3, outputs))
    reg = fitted(sk.MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=10, random_state=0),
                 X, y[:, 0] if outputs == 1 else y)
    reg.to_onnx(tmp_path / "reg.onnx")
    Xt = rng.standard_normal((9, 3))
    (pred,) = run(tmp_path / "reg.onnx", Xt)
    expected = reg.predict(Xt)
    assert pred.shape == expected.shape
    np.testing.assert_allclose(pred, expected, rtol=1e-12, atol=1e-12)


def test_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        sk.MLPRegressor().to_onnx(tmp_path / "x.onnx")


def test_poisson_regressor_export_and_multilabel_refused(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3))
    reg = fitted(sk.MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=5, random_state=0), X,
                 rng.poisson(2.0, 40).astype(float))
    reg.to_onnx(tmp_path / "poisson.onnx")
    (pred,) = run(tmp_path / "poisson.onnx", X)
    np.testing.assert_allclose(pred, reg.predict(X), rtol=1e-12)  # the rates: exp of the net's output
    clf = fitted(sk.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, rng.integers(0, 2, (40, 3)))
    with pytest.raises(ValueError, match="multilabel"):
        clf.to_onnx(tmp_path / "multilabel.onnx")


def _input_dtype(path):
    elem = onnx.load(str(path)).graph.input[0].type.tensor_type.elem_type
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))


@pytest.mark.parametrize("hidden", [(), (7,), (6, 5)], ids=str)
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor"])
def test_estimator_exports_every_activation_and_depth(tmp_path, kind, activation, hidden):
    """Through the estimators' public API only: whatever they compute, the exported graph
    computes it (probabilities and labels; predictions), on inputs of the graph's dtype."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 4)) * 3
    if kind == "regressor":
        est = fitted(sk.MLPRegressor(hidden_layer_sizes=hidden, activation=activation, max_iter=15,
                                     random_state=0), X, X @ [1.0, -2.0, 0.5, 0.0])
    else:
        y = rng.integers(0, 2 if kind == "binary" else 4, 80)
        est = fitted(sk.MLPClassifier(hidden_layer_sizes=hidden, activation=activation, max_iter=15,
                                      random_state=0), X, y)
    path = tmp_path / "est.onnx"
    est.to_onnx(path)
    dtype = _input_dtype(path)
    for n in (1, 17):
        Xt = (rng.standard_normal((n, 4)) * 30).astype(dtype)  # large inputs too: saturated units
        if kind == "regressor":
            (pred,) = run(path, Xt)
            np.testing.assert_allclose(pred, est.predict(Xt), rtol=1e-12, atol=1e-12)
        else:
            label, proba = run(path, Xt, ["label", "probabilities"])
            np.testing.assert_allclose(proba, est.predict_proba(Xt), rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(label, est.predict(Xt))
