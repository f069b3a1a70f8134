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
                                        random_state=0)])
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


@pytest.mark.parametrize("params,match", [({"solver": "lbfgs"}, "solver"), ({"hidden_layer_sizes": (0,)}, "positive"),
                                          ({"activation": "gelu"}, "activation"), ({"alpha": -1}, "alpha"),
                                          ({"batch_size": 0}, "batch_size"), ({"max_iter": 0}, "max_iter")])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(np.ones((4, 2)), [0, 1, 0, 1])
