"""Trainer: the one epoch loop, train/eval mode, validation_split, class/sample weights, l2, and the
direction of the package's dependencies (the model knows nothing of training)."""

from __future__ import annotations

import ast
from pathlib import Path

import fastgd as fg
import numpy as np
import pytest
from fastgd.losses import check_sample_weight, get_loss
from fastgd.trainer import class_weights

PKG = Path(fg.__file__).parent
MODEL = {"parameter", "layers", "losses", "net", "sparse"}  # sparse: the CSR input the model reads
TRAINING = {"trainer", "fused", "callbacks", "io", "distributed"}
ABOVE = {"sklearn", "cli", "bench", "demo", "__main__"}
INTEROP = {("net", f, "interop") for f in ("state_dict", "load_state_dict", "from_torch", "to_torch", "to_onnx")}


def _module_imports(path: Path) -> list[tuple[str, str | None]]:
    """``(imported fastgd module, enclosing function or None)`` for every relative import,
    leaving out those under ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.level:
                base = (child.module or "").split(".")[0]
                for alias in child.names:
                    found.append((base or alias.name, func))
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            visit(child, name)

    visit(tree, None)
    return found


def test_the_model_does_not_depend_on_training_except_the_three_delegations():
    for name in MODEL:
        for target, func in _module_imports(PKG / f"{name}.py"):
            if target in MODEL | {"ops", "_core", "errors"}:
                continue
            # Net.fit -> trainer.fit_net, Net.save / Net.load -> io: thin delegations; and the
            # interop methods -> fastgd.interop (which imports only the model), also lazily
            assert (name, func, target) in {("net", "fit", "trainer"), ("net", "save", "io"),
                                            ("net", "load", "io")} | INTEROP, (name, func, target)


def test_training_does_not_depend_on_what_sits_above_it():
    for name in TRAINING:
        for target, func in _module_imports(PKG / f"{name}.py"):
            assert target not in ABOVE, (name, func, target)


def test_there_is_one_epoch_loop():
    loops = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.For) and "epoch" in ast.unparse(node.target):
                loops.append(f"{path.name}:{node.lineno}")
    assert len(loops) == 1 and loops[0].startswith("trainer.py:"), loops


class Spy(fg.Layer):
    """Records the mode of every forward."""

    def __init__(self):
        self.modes: list[bool] = []

    def forward(self, X):
        self.modes.append(self.training)
        return X

    def backward(self, dout, *, need_dx=True):
        return dout


def _spy_net():
    spy = Spy()
    return fg.Net([fg.Linear(3, 4), spy, fg.ReLU(), fg.Linear(4, 2)], dtype="float64", seed=0), spy


def test_train_and_eval_mode_as_in_torch():
    net, spy = _spy_net()
    assert net.training and all(layer.training for layer in net)
    assert net.eval() is net and not net.training and not any(layer.training for layer in net)
    net.train()
    assert all(layer.training for layer in net)
    with pytest.raises(TypeError, match="mode"):
        net.train("yes")
    X = np.ones((5, 3))
    net.predict(X)
    net.evaluate(X, np.array([0, 1, 0, 1, 0]), loss="cross_entropy")
    assert spy.modes == [False, False] and net.training  # eval inside, the mode restored


@pytest.mark.parametrize("mode", [True, False])
def test_fit_trains_in_train_mode_validates_in_eval_mode_and_restores_the_mode(mode):
    net, spy = _spy_net()
    net.train(mode)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.integers(0, 2, 12)
    net.fit(X, y, loss="cross_entropy", epochs=2, batch_size=6, validation_data=(X[:4], y[:4]),
            progress=False)
    # per epoch: 2 training batches (train mode), then the validation pass (eval mode)
    assert spy.modes == [True, True, False] * 2
    assert net.training == mode
    spy.modes.clear()
    net.eval()
    fg.Trainer(net, "cross_entropy", fused=False).step(X, y)
    assert spy.modes == [True] and not net.training


def test_validation_split_holds_out_the_last_fraction_before_shuffling():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    a, _ = _spy_net()
    b = a.copy()
    ha = a.fit(X, y, loss="cross_entropy", epochs=3, validation_split=0.2, progress=False)
    hb = b.fit(X[:40], y[:40], loss="cross_entropy", epochs=3, validation_data=(X[40:], y[40:]),
               progress=False)
    assert ha.history == hb.history and ha.params["samples"] == 40
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="validation_data or validation_split"):
        a.fit(X, y, loss="cross_entropy", validation_split=0.1, validation_data=(X, y))
    for bad in (1.0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="validation_split"):
            a.fit(X, y, loss="cross_entropy", validation_split=bad)
    with pytest.raises(ValueError, match="no training samples"):  # as Keras: floor(1 · 0.9) = 0
        a.fit(X[:1], y[:1], loss="cross_entropy", validation_split=0.1)
    with pytest.raises(ValueError, match="no validation samples"):  # 1 - 1e-17 is 1.0
        a.fit(X[:5], y[:5], loss="cross_entropy", validation_split=1e-17)


def test_balanced_class_weights_are_scikit_learns_formula():
    compute = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight
    y = np.array([0, 0, 0, 1, 2, 2, 0, 1])
    expected = compute("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(class_weights(get_loss("cross_entropy"), y, "balanced", 3),
                               expected[y])
    np.testing.assert_array_equal(class_weights(get_loss("cross_entropy"), y, {1: 3.0}, 3),
                                  np.where(y == 1, 3.0, 1.0))
    binary = np.array([[0.0], [1.0], [1.0], [1.0]])
    np.testing.assert_allclose(class_weights(get_loss("bce_with_logits"), binary, "balanced", 1),
                               [2.0, 2 / 3, 2 / 3, 2 / 3])


@pytest.mark.parametrize("bad,match", [("heavy", "class_weight"), ({5: 1.0}, "label 5"),
                                       ({0: -1.0}, r"class_weight\[0\]"), ([1, 2], "class_weight")])
def test_bad_class_weights(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        class_weights(get_loss("cross_entropy"), np.array([0, 1, 1]), bad, 2)
    with pytest.raises(ValueError, match="classification loss"):
        class_weights(get_loss("mse"), np.zeros((3, 1)), "balanced", 1)


@pytest.mark.parametrize("bad,match", [(np.ones(4), r"shape \(3,\)"), ([1, -1, 1], "finite and >= 0"),
                                       ([1, np.nan, 1], "finite and >= 0"), (["a", "b", "c"], "numbers")])
def test_bad_sample_weights_name_the_argument(bad, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        check_sample_weight(bad, 3, np.dtype("float64"))
    assert "sample_weight" in str(info.value)
    net, _ = _spy_net()
    with pytest.raises((ValueError, TypeError), match="sample_weight"):
        net.fit(np.ones((3, 3)), np.array([0, 1, 0]), loss="cross_entropy", sample_weight=bad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_l2_penalises_the_weight_matrices_only(dtype):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((8, 3)).astype(dtype), rng.integers(0, 2, 8)
    net = fg.Net([fg.Linear(3, 4), fg.Tanh(), fg.Linear(4, 2)], dtype=dtype, seed=0)
    lam = 0.3
    plain = fg.Trainer(net, "cross_entropy", fused=False)
    value = plain._backprop(X, y)
    grads = [p.grad.copy() for p in net.parameters()]
    penalised = fg.Trainer(net, "cross_entropy", fused=False, l2=lam)
    with_l2 = penalised._backprop(X, y)
    weights = [net[0].W.data, net[2].W.data]
    assert net.regularized_parameters() == [net[0].W, net[2].W]
    expected = value + 0.5 * lam * sum(float((w.astype(np.float64) ** 2).sum()) for w in weights)
    assert with_l2 == pytest.approx(expected, rel=1e-12)
    tol = 1e-6 if dtype == "float32" else 1e-14
    for p, g in zip(net.parameters(), grads):
        extra = lam * p.data if p.name == "W" else 0  # biases untouched
        np.testing.assert_allclose(p.grad, g + extra, rtol=tol, atol=tol)
    for bad in (-1.0, float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="l2"):
            fg.Trainer(net, "cross_entropy", l2=bad)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_full_batch_lbfgs_fit_equals_torch(line_search):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    net = fg.Net([fg.Linear(4, 6), fg.Tanh(), fg.Linear(6, 3)], dtype="float64", seed=0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for i in (0, 2):
            model[i].weight.copy_(torch.from_numpy(net[i].W.data.T))
            model[i].bias.copy_(torch.from_numpy(net[i].b.data))
    hist = net.fit(X, y, loss="cross_entropy", optimizer="lbfgs", batch_size=None, epochs=3,
                   line_search_fn=line_search, history_size=10, max_iter=15, progress=False)
    opt = torch.optim.LBFGS(model.parameters(), line_search_fn=line_search, history_size=10, max_iter=15)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(3)]
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-9)
    for i in (0, 2):
        np.testing.assert_allclose(net[i].W.data, model[i].weight.detach().numpy().T, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="clip_norm"):
        fg.Trainer(net, "cross_entropy", "lbfgs", clip_norm=1.0)


def _twins(dtype="float64"):
    net = fg.Net([fg.Linear(4, 6), fg.ReLU(), fg.Linear(6, 3)], dtype=dtype, seed=0)
    return net, net.copy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_l2_equals_the_layer_by_layer_l2(dtype):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((20, 4)).astype(dtype), rng.integers(0, 3, 20)
    a, b = _twins(dtype)
    ta = fg.Trainer(a, "cross_entropy", "sgd", lr=0.1, momentum=0.9, l2=0.05)
    tb = fg.Trainer(b, "cross_entropy", "sgd", lr=0.1, momentum=0.9, l2=0.05, fused=False)
    for _ in range(5):
        la, lb = ta.step(X, y), tb.step(X, y)
        assert la == pytest.approx(lb, rel=1e-5 if dtype == "float32" else 1e-12)
    assert ta._fused and not tb._fused
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-7)


@pytest.mark.parametrize("fused", [True, False])
def test_integer_sample_weights_equal_repeated_rows(fused):
    """Σ wᵢ ℓᵢ / Σ wᵢ with integer weights is the plain mean over rows repeated wᵢ times."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    w = np.array([2.0, 1.0, 0.0, 3.0, 1.0, 1.0])
    reps = np.repeat(np.arange(6), w.astype(int))
    a, b = _twins()
    ta = fg.Trainer(a, "cross_entropy", "adam", lr=0.01, fused=fused)
    tb = fg.Trainer(b, "cross_entropy", "adam", lr=0.01, fused=fused)
    for _ in range(3):
        assert ta.step(X, y, sample_weight=w) == pytest.approx(tb.step(X[reps], y[reps]), rel=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-11, atol=1e-13)
    # scaling every weight changes nothing; a batch weighing nothing is skipped
    before = [p.data.copy() for p in a.parameters()]
    assert ta.step(X, y, sample_weight=np.zeros(6)) == 0.0
    for p, q in zip(a.parameters(), before):
        np.testing.assert_array_equal(p.data, q)
    c, _ = _twins()
    d, _ = _twins()
    fg.Trainer(c, "cross_entropy", "sgd", lr=0.1, fused=fused).step(X, y, sample_weight=w)
    fg.Trainer(d, "cross_entropy", "sgd", lr=0.1, fused=fused).step(X, y, sample_weight=w * 7.5)
    for p, q in zip(c.parameters(), d.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)


def test_fit_with_weights_and_evaluate_with_weights():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    w = rng.integers(0, 3, 30).astype(np.float64)
    net, _ = _twins()
    reps = np.repeat(np.arange(30), w.astype(int))
    got = net.evaluate(X, y, loss="cross_entropy", sample_weight=w)["loss"]
    assert got == pytest.approx(net.evaluate(X[reps], y[reps], loss="cross_entropy")["loss"], rel=1e-12)
    hist = net.fit(X, y, loss="cross_entropy", optimizer="sgd", lr=0.1, epochs=2, batch_size=30,
                   sample_weight=w, class_weight={1: 2.0}, progress=False)
    assert len(hist.history["loss"]) == 2


def test_fused_lbfgs_equals_the_layer_by_layer_lbfgs():
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    a, b = _twins()
    ta = fg.Trainer(a, "cross_entropy", "lbfgs", line_search_fn="strong_wolfe")
    tb = fg.Trainer(b, "cross_entropy", "lbfgs", line_search_fn="strong_wolfe", fused=False)
    for _ in range(2):
        assert ta.step(X, y) == pytest.approx(tb.step(X, y), rel=1e-12)
    assert ta._fused and not tb._fused
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("loss", ["cross_entropy", "bce_with_logits"])
@pytest.mark.parametrize("fused", [True, False])
def test_class_weight_times_sample_weight_is_the_product_weight(loss, fused):
    """fit(class_weight=cw, sample_weight=s) trains as fit(sample_weight=s·cw[y]), with
    scikit-learn's formula for "balanced" (n_samples / (n_classes · bincount(y)))."""
    compute = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight
    rng = np.random.default_rng(8)
    X = rng.standard_normal((40, 4))
    labels = (rng.random(40) < 0.2).astype(np.int64)  # imbalanced: 20% ones
    y = labels if loss == "cross_entropy" else labels.astype(np.float64)
    out = 2 if loss == "cross_entropy" else 1
    s = rng.random(40) + 0.2
    balanced = compute("balanced", classes=np.array([0, 1]), y=labels)
    for cw, per_class in (("balanced", balanced), ({1: 3.0}, np.array([1.0, 3.0]))):
        nets = [fg.Net([fg.Linear(4, 5), fg.Tanh(), fg.Linear(5, out)], dtype="float64", seed=0) for _ in range(2)]
        trainers = [fg.Trainer(net, loss, "sgd", lr=0.1, fused=fused) for net in nets]
        ha = trainers[0].fit(X, y, epochs=3, batch_size=8, class_weight=cw, sample_weight=s, progress=False)
        hb = trainers[1].fit(X, y, epochs=3, batch_size=8, sample_weight=s * per_class[labels], progress=False)
        np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-12)
        for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
            np.testing.assert_allclose(p.data, q.data, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(("n", "split"), [(17, 0.3), (10, 0.1), (7, 0.5), (3, 0.34), (1000, 0.15), (49, 0.2)])
def test_validation_split_sizes_are_keras(n, split):
    import math

    net, _ = _spy_net()
    rng = np.random.default_rng(0)
    hist = net.fit(rng.standard_normal((n, 3)), rng.integers(0, 2, n), loss="cross_entropy", epochs=1,
                   validation_split=split, progress=False)
    assert hist.params["samples"] == math.floor(n * (1.0 - split))  # keras' train_validation_split


def test_validation_split_takes_the_last_samples_weights_with_them():
    rng = np.random.default_rng(9)
    X, y, w = rng.standard_normal((17, 3)), rng.integers(0, 2, 17), rng.random(17)
    a, _ = _spy_net()
    b = a.copy()
    ha = a.fit(X, y, loss="cross_entropy", epochs=2, batch_size=5, validation_split=0.3, sample_weight=w,
               progress=False)
    k = ha.params["samples"]
    assert k == 11  # Keras: the first floor(17 · (1 - 0.3)) = 11 samples train, the last 6 validate
    hb = b.fit(X[:k], y[:k], loss="cross_entropy", epochs=2, batch_size=5, sample_weight=w[:k],
               validation_data=(X[k:], y[k:], w[k:]), progress=False)
    assert ha.history == hb.history
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("fused", [True, False])
def test_a_batch_weighing_nothing_in_fit_is_skipped(fused):
    """shuffle=False, the last batch's weights all 0: no update from it, and the epoch loss is the
    weighted mean over the other batches (as if the batch were not there)."""
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((24, 4)), rng.integers(0, 3, 24)
    w = rng.random(24) + 0.1
    w[16:] = 0
    a, b = _twins()
    ta = fg.Trainer(a, "cross_entropy", "adam", lr=0.01, fused=fused)
    tb = fg.Trainer(b, "cross_entropy", "adam", lr=0.01, fused=fused)
    ha = ta.fit(X, y, epochs=3, batch_size=8, shuffle=False, sample_weight=w, progress=False)
    hb = tb.fit(X[:16], y[:16], epochs=3, batch_size=8, shuffle=False, sample_weight=w[:16], progress=False)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-12)
    assert ha.history["accuracy"] == hb.history["accuracy"]  # (no output for the skipped rows)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert ta.step(X[:4], y[:4], sample_weight=np.zeros(4)) == 0.0 and ta.last_output is None
