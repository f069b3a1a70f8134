"""fastgd.sklearn estimators: scikit-learn's own estimator checks, and use in pipelines/search."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from fastgd.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

# Fitting to max_iter without converging warns, as scikit-learn's MLP does.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([MLPClassifier(max_iter=300, random_state=0), MLPRegressor(max_iter=300, random_state=0),
                          MLPClassifier(hidden_layer_sizes=(), solver="sgd", learning_rate_init=0.01,
                                        random_state=0),
                          MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_digits_pipeline_and_cross_validation():
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = load_digits(return_X_y=True)
    params = {"hidden_layer_sizes": (64,), "max_iter": 30, "random_state": 0}
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**params))
    scores = cross_val_score(pipe, X, y, cv=3)
    # scikit-learn's own MLP with the same parameters is the oracle
    sk_scores = cross_val_score(make_pipeline(StandardScaler(), SkMLP(**params)), X, y, cv=3)
    assert scores.mean() > 0.85 and scores.mean() > sk_scores.mean() - 0.03
    clf = pipe.fit(X, y)[-1]
    assert clf.classes_.tolist() == list(range(10)) and clf.n_features_in_ == 64
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_curve_[-1] < clf.loss_curve_[0]
    proba = pipe.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1)


def test_grid_search_and_linear_models():
    X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    search = GridSearchCV(MLPRegressor(hidden_layer_sizes=(), max_iter=300, random_state=0),
                          {"learning_rate_init": [0.001, 0.05]}, cv=2)
    search.fit(X, y / y.std())
    assert search.best_score_ > 0.95
    # hidden_layer_sizes=() is linear regression: weights match least squares
    reg = MLPRegressor(hidden_layer_sizes=(), solver="sgd", momentum=0.0, learning_rate_init=0.05, max_iter=500,
                       tol=1e-12, alpha=0.0, random_state=0).fit(X, y / y.std())
    exact = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y / y.std(), rcond=None)[0]
    np.testing.assert_allclose(reg.coefs_[0].ravel(), exact[:-1], atol=1e-2)


def test_string_labels_binary_and_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, y)
    assert set(clf.predict(X)) <= {"yes", "no"} and clf.score(X, y) > 0.95
    assert clf.predict_proba(X).shape == (300, 2)
    stopped = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, early_stopping=True, max_iter=300,
                            random_state=0).fit(X, y)
    assert len(stopped.validation_scores_) == stopped.n_iter_ < 300
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)


@pytest.mark.parametrize("params,match", [({"solver": "newton"}, "solver"), ({"hidden_layer_sizes": (0,)}, "> 0"),
                                          ({"activation": "gelu"}, "activation"), ({"alpha": -1}, "alpha"),
                                          ({"batch_size": 0}, "batch_size"), ({"max_iter": 0}, "max_iter"),
                                          ({"class_weight": "even"}, "class_weight")])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(np.ones((4, 2)), [0, 1, 0, 1])


# ---------------------------------------------------------------- same trajectory as scikit-learn
# fastgd draws scikit-learn's initial weights from random_state, shuffles as it does and minimises
# the same objective, so with the same parameters both take the same steps: scikit-learn's own MLP
# is the oracle of every epoch (Adam differs by where epsilon enters: fastgd adds it to sqrt(v̂),
# as torch, scikit-learn to sqrt(v)).

def _data(kind):
    rng = np.random.RandomState(0)
    from sklearn.datasets import make_classification, make_multilabel_classification

    if kind == "multiclass":
        return make_classification(120, 6, n_informative=4, n_classes=3, random_state=0)
    if kind == "binary":
        X, y = make_classification(120, 6, random_state=1)
        return X, np.where(y == 1, "yes", "no")
    if kind == "multilabel":
        return make_multilabel_classification(120, 6, n_classes=4, random_state=0)
    X, y = make_regression(120, 6, n_targets=3 if kind == "multioutput" else 1, random_state=0)
    if kind == "poisson":
        return X, rng.poisson(np.exp(0.3 * X[:, 0] + 1)).astype(float)
    return X, y / y.std()


_SAME_PATH = [  # (data, params, tolerance on coefs_ and on the losses)
    ("multiclass", dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.3, batch_size=32,
                        max_iter=8, alpha=0.01), 1e-10),
    ("multiclass", dict(solver="sgd", learning_rate="adaptive", tol=0.5, learning_rate_init=0.1, batch_size=50,
                        max_iter=30, n_iter_no_change=2, nesterovs_momentum=False), 1e-10),
    ("binary", dict(solver="sgd", momentum=0.0, shuffle=False, batch_size=7, max_iter=5, alpha=1.0,
                    activation="tanh"), 1e-10),
    ("multiclass", dict(solver="adam", batch_size=32, max_iter=8, alpha=0.1, learning_rate_init=0.01), 5e-5),
    ("multiclass", dict(solver="lbfgs", max_iter=50, alpha=0.01), 1e-8),
    ("binary", dict(solver="lbfgs", max_iter=30, alpha=0.01, activation="logistic"), 1e-8),
    ("multilabel", dict(solver="sgd", batch_size=25, max_iter=8, alpha=0.1, activation="logistic",
                        learning_rate_init=0.1), 1e-10),
    ("multilabel", dict(solver="lbfgs", max_iter=5, alpha=0.1), 1e-8),
    ("multioutput", dict(solver="sgd", batch_size=25, max_iter=8, alpha=0.1, learning_rate_init=0.01), 1e-10),
    ("multioutput", dict(solver="lbfgs", max_iter=40, alpha=0.1), 1e-8),
    ("multioutput", dict(solver="adam", batch_size=25, max_iter=12, alpha=0.1, early_stopping=True,
                         learning_rate_init=0.01), 5e-5),
    ("single", dict(solver="sgd", batch_size=40, max_iter=6, learning_rate_init=0.01, activation="identity"), 1e-10),
    ("poisson", dict(loss="poisson", solver="sgd", batch_size=25, max_iter=8, learning_rate_init=0.001), 1e-10),
    ("poisson", dict(loss="poisson", solver="lbfgs", max_iter=40), 1e-8),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind,params,tol", _SAME_PATH)
def test_same_steps_as_scikit_learn(kind, params, tol, weighted):
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR

    X, y = _data(kind)
    classify = kind in ("multiclass", "binary", "multilabel")
    ours, theirs = (MLPClassifier, SkC) if classify else (MLPRegressor, SkR)
    w = np.random.RandomState(5).uniform(0.2, 2.0, len(X)) if weighted else None
    a = theirs(hidden_layer_sizes=(7,), random_state=3, **params).fit(X, y, sample_weight=w)
    b = ours(hidden_layer_sizes=(7,), random_state=3, **params).fit(X, y, sample_weight=w)
    assert b.n_iter_ == a.n_iter_ and b.t_ == a.t_ and b.n_layers_ == a.n_layers_
    assert b.out_activation_ == a.out_activation_ and b.n_outputs_ == a.n_outputs_
    for mine, ref in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
        assert mine.dtype == ref.dtype and mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, atol=tol, rtol=0)
    np.testing.assert_allclose(b.loss_, a.loss_, atol=tol, rtol=0)
    if params["solver"] != "lbfgs":
        np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, atol=tol, rtol=0)
        if a.best_loss_ is None:
            assert b.best_loss_ is None
        else:
            assert b.best_loss_ == pytest.approx(a.best_loss_, abs=tol)
    if params.get("early_stopping"):
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, atol=10 * tol)
        assert b.best_validation_score_ == max(b.validation_scores_)
    np.testing.assert_allclose(b.predict_proba(X) if classify else b.predict(X),
                               a.predict_proba(X) if classify else a.predict(X), atol=100 * tol)


@pytest.mark.parametrize("n_iter_no_change", [1, 3, np.inf])
def test_n_iter_no_change_as_scikit_learn(n_iter_no_change):
    from sklearn.neural_network import MLPClassifier as SkC

    X, y = _data("multiclass")
    params = dict(hidden_layer_sizes=(5,), solver="sgd", tol=1e9, max_iter=15, n_iter_no_change=n_iter_no_change,
                  random_state=0)
    a, b = SkC(**params).fit(X, y), MLPClassifier(**params).fit(X, y)
    assert b.n_iter_ == a.n_iter_ == (15 if n_iter_no_change == np.inf else n_iter_no_change + 2)


# ---------------------------------------------------------------- against formulas

def _forward(clf, X):
    """The MLP's output layer in NumPy from coefs_/intercepts_ (relu hidden layers)."""
    a = X
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        a = a @ W + b
        if i < len(clf.coefs_) - 1:
            a = np.maximum(a, 0)
    return a


def test_objective_is_scikit_learns_formula():
    # loss_ of lbfgs is the objective at the final weights: mean log-loss + ½·alpha·Σ‖W‖²/Σw
    X, y = _data("multiclass")
    w = np.random.RandomState(1).uniform(0.5, 1.5, len(X))
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", alpha=0.3, max_iter=20, random_state=0)
    clf.fit(X, y, sample_weight=w)
    z = _forward(clf, X)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    expected = -np.average(logp[np.arange(len(y)), y], weights=w)
    expected += 0.5 * 0.3 * sum((W ** 2).sum() for W in clf.coefs_) / w.sum()
    assert clf.loss_ == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(clf.predict_proba(X), np.exp(logp), atol=1e-12)


def test_multilabel_poisson_and_hand_set_coefs():
    X, Y = _data("multilabel")
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30, random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-_forward(clf, X))), atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    # coefs_ reach the weights: set in place, or assigned
    clf.coefs_[1][...] = 0.0
    clf.intercepts_[1] = np.array([-1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(clf.predict_proba(X), np.broadcast_to(1 / (1 + np.exp([1.0, 0, -1, -2])), Y.shape))
    Xp, yp = _data("poisson")
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=50, random_state=0)
    np.testing.assert_allclose(reg.fit(Xp, yp).predict(Xp), np.exp(_forward(reg, Xp)).ravel(), rtol=1e-12)
    with pytest.raises(ValueError, match="coefs_\\[0\\] must have shape"):
        reg.coefs_[0] = np.zeros((2, 2))
        reg.predict(Xp)


def test_float32_trains_in_float32_without_a_float64_copy():
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 50)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    tracemalloc.start()
    clf.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * X.nbytes  # a float64 copy alone would be 2 * X.nbytes
    assert all(a.dtype == np.float32 for a in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X[:5]).dtype == np.float32 and clf.net_.dtype == np.float32
    ref = MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X.astype(np.float64), y)
    assert ref.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(clf.coefs_[0], ref.coefs_[0], atol=1e-4)


# ---------------------------------------------------------------- partial_fit, warm_start, pickling

def test_partial_fit_is_fit_one_epoch_at_a_time():
    X, y = _data("multiclass")
    params = dict(hidden_layer_sizes=(6,), solver="adam", shuffle=False, batch_size=30, random_state=0, tol=0)
    whole = MLPClassifier(max_iter=4, **params).fit(X, y)
    parts = MLPClassifier(**params)
    for _ in range(4):
        parts.partial_fit(X, y, classes=[0, 1, 2])
    for a, b in zip(whole.coefs_ + whole.intercepts_, parts.coefs_ + parts.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert parts.n_iter_ == 1 and parts.t_ == whole.t_ == 4 * len(X)
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="has classes not in"):
        parts.partial_fit(X, y + 1)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")


def test_pickle_keeps_the_optimizer_state():
    import pickle

    X, y = _data("single")
    a = MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", momentum=0.9, random_state=0, shuffle=False)
    a.partial_fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X, y)
    b.partial_fit(X, y)  # continues with the pickled momentum, as scikit-learn's does
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


def test_warm_start_continues_and_checks_classes():
    X, y = _data("multiclass")
    clf = MLPClassifier(hidden_layer_sizes=(5,), warm_start=True, max_iter=3, random_state=0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        clf.fit(X, y)
    before = clf.coefs_[0].copy()
    clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 6 and not np.array_equal(before, clf.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X, (y + 1) % 4)


# ---------------------------------------------------------------- class_weight, verbose, errors

def test_class_weight_is_sample_weight():
    X, y = _data("multiclass")
    y = y.copy()
    y[y == 2] = 0  # two classes, 2:1
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20, random_state=0)
    counts = np.bincount(y)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    by_hand = MLPClassifier(**params).fit(X, y, sample_weight=len(y) / (2 * counts[y]))
    np.testing.assert_allclose(balanced.coefs_[0], by_hand.coefs_[0], rtol=1e-12)
    dict_w = MLPClassifier(class_weight={1: 3.0}, **params).fit(X, y, sample_weight=np.full(len(y), 2.0))
    by_hand = MLPClassifier(**params).fit(X, y, sample_weight=np.where(y == 1, 6.0, 2.0))
    np.testing.assert_allclose(dict_w.coefs_[0], by_hand.coefs_[0], rtol=1e-12)
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        MLPClassifier(class_weight={7: 1.0}, **params).fit(X, y)


def test_verbose_early_stopping_and_errors(capsys):
    X, y = _data("binary")
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", max_iter=2, verbose=True, random_state=0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        clf.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {loss:.8f}" for i, loss in enumerate(clf.loss_curve_)]
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:2], [0.0, 1.0])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True, max_iter=2).fit(X, X[:, 0]).partial_fit(X, X[:, 0])
    with pytest.warns(sklearn.exceptions.ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_fun=3).fit(X, y)


def test_training_runs_the_fused_step(monkeypatch):
    from fastgd.trainer import Trainer

    def no_slow_path(*args, **kwargs):
        raise AssertionError("the layer-by-layer path ran")

    monkeypatch.setattr(Trainer, "_backprop", no_slow_path)
    X, y = _data("multiclass")
    for solver in ("sgd", "adam", "lbfgs"):
        MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=3, random_state=0).fit(X, y)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array", "csc_matrix"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_X_equals_dense_X_and_is_never_densified(monkeypatch, fmt, solver):
    """CSR/CSC X trains the same weights as its dense copy (same random_state), predicts the
    same, in the data's dtype, and never densifies the matrix (classifier with early stopping and
    regressor)."""
    import scipy.sparse as sp
    from fastgd.sparse import CsrRows

    rng = np.random.RandomState(0)
    dense = rng.standard_normal((120, 30)) * (rng.uniform(size=(120, 30)) < 0.15)
    y_cls, y_reg = (dense[:, :3].sum(1) > 0).astype(int), dense[:, :5].sum(1)
    X = getattr(sp, fmt)(dense.astype(np.float32))
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=8, random_state=2)
    fitted = {}
    with pytest.warns(Warning):  # ConvergenceWarning after 8 iterations
        for name, data in (("dense", dense.astype(np.float32)), ("sparse", X)):
            if name == "sparse":
                def refuse(*args, **kwargs):
                    raise AssertionError("the sparse matrix was densified")
                # (this matrix and fastgd's CSR rows; scipy's own classes stay whole: LabelBinarizer
                # densifies its one-hot labels)
                monkeypatch.setattr(X, "toarray", refuse, raising=False)
                monkeypatch.setattr(X, "todense", refuse, raising=False)
                monkeypatch.setattr(CsrRows, "toarray", refuse)
            clf = MLPClassifier(early_stopping=solver != "lbfgs", **params).fit(data, y_cls)
            reg = MLPRegressor(**params).fit(data, y_reg)
            fitted[name] = (clf, reg, clf.predict_proba(data), reg.predict(data))
    (c0, r0, p0, q0), (c1, r1, p1, q1) = fitted["dense"], fitted["sparse"]
    for a, b in ((c0, c1), (r0, r1)):
        assert b.n_iter_ == a.n_iter_
        for mine, ref in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
            assert mine.dtype == ref.dtype == np.float32
            np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p1, p0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(q1, q0, rtol=1e-4, atol=1e-4)


_EPOCH_CASES = [  # stochastic fits whose epochs run in C++ (Engine.epoch): (data, params)
    ("multiclass", dict(solver="sgd", batch_size=32, max_iter=6, alpha=0.01, learning_rate="invscaling",
                        learning_rate_init=0.5)),
    ("multiclass", dict(solver="adam", batch_size=32, max_iter=6, alpha=0.1, learning_rate_init=0.01)),
    ("multiclass", dict(solver="sgd", batch_size=20, max_iter=6, alpha=0.1, early_stopping=True,
                        n_iter_no_change=2, tol=0.5)),
    ("binary", dict(solver="adam", batch_size=16, max_iter=6, alpha=0.1, early_stopping=True)),
    ("multilabel", dict(solver="sgd", batch_size=25, max_iter=5, alpha=0.1, activation="logistic")),
    ("multioutput", dict(solver="adam", batch_size=25, max_iter=5, alpha=0.3, learning_rate_init=0.01)),
    ("poisson", dict(loss="poisson", solver="sgd", batch_size=25, max_iter=5, alpha=0.1,
                     learning_rate_init=0.001)),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind,params", _EPOCH_CASES)
def test_stochastic_fit_runs_its_epochs_in_cpp_as_the_python_loop(monkeypatch, kind, params, weighted):
    """Every epoch of a stochastic fit is one Engine.epoch call (the Python batch loop never
    runs), and gives the weights of the Python loop bit for bit and its losses (reported in
    scikit-learn's scale from the epoch's sums: _Objective.report_sum) to float64 rounding."""
    from fastgd.sklearn import _SkTrainer
    from fastgd.trainer import Trainer

    X, y = _data(kind)
    est = MLPClassifier if kind in ("multiclass", "binary", "multilabel") else MLPRegressor
    w = np.random.RandomState(5).uniform(0.2, 2.0, len(X)) if weighted else None
    cpp = []
    real = Trainer._epoch_in_cpp

    def spy(self, *args):
        cpp.append(1)
        return real(self, *args)

    def no_python_loop(*args, **kwargs):
        raise AssertionError("the Python batch loop ran")

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_epoch_in_cpp", spy)
        m.setattr(Trainer, "_epoch_in_python", no_python_loop)
        a = est(hidden_layer_sizes=(7,), random_state=3, **params).fit(X, y, sample_weight=w)
    assert len(cpp) == a.n_iter_ > 0
    with monkeypatch.context() as m:
        m.setattr(_SkTrainer, "_cpp_epoch_compatible", False)  # the Python loop over step
        m.setattr(Trainer, "_epoch_in_cpp", no_python_loop)
        b = est(hidden_layer_sizes=(7,), random_state=3, **params).fit(X, y, sample_weight=w)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    for mine, ref in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(mine, ref)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12, atol=0)
    if params.get("early_stopping"):
        assert a.validation_scores_ == b.validation_scores_


def test_a_batch_of_zero_weight_keeps_the_python_loop(monkeypatch):
    """The report of a batch whose weights sum to 0 is not a function of the epoch's sums: that
    epoch runs in Python (as before), the others in C++."""
    from fastgd.trainer import Trainer

    X, y = _data("multiclass")
    w = np.ones(len(X))
    w[:40] = 0  # without shuffling the first batch weighs nothing
    ran = []
    real = Trainer._epoch_in_python

    def spy(self, *args):
        ran.append(1)
        return real(self, *args)

    monkeypatch.setattr(Trainer, "_epoch_in_python", spy)
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", alpha=0.0, batch_size=40, shuffle=False,
                        max_iter=3, random_state=0).fit(X, y, sample_weight=w)
    assert len(ran) == clf.n_iter_ == 3 and np.isfinite(clf.loss_curve_).all()
