"""scikit-learn estimators trained by fastgd: ``MLPClassifier`` and ``MLPRegressor``.

Parameter names follow scikit-learn's own ``MLPClassifier``/``MLPRegressor`` where the meaning is
the same, so they drop into ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``.
``hidden_layer_sizes=()`` gives plain logistic / linear regression trained by gradient descent.

Differences from scikit-learn's MLP: solvers are ``"sgd"`` and ``"adam"`` (no L-BFGS); ``alpha``
is applied as weight decay ``alpha / batch_size`` on every parameter (scikit-learn penalises only
the weights, not the intercepts); ``learning_rate`` schedules are ``"constant"`` and
``"invscaling"``; data are trained in float64.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("fastgd.sklearn needs scikit-learn >= 1.6: pip install 'fastgd[sklearn]'") from exc

from .callbacks import Callback
from .layers import Identity, Linear, ReLU, Sigmoid, Tanh
from .net import Net
from .trainer import Trainer

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "identity": Identity}


class _BaseMLP(BaseEstimator):
    """Shared fitting logic (parameters documented on the public classes)."""

    _loss_name = "mse"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------------ validation

    def _check_params(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive ints, got {sizes!r}") from None
        if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in ("sgd", "adam"):
            raise ValueError(f"solver must be 'sgd' or 'adam' (fastgd has no L-BFGS), got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling"):
            raise ValueError(f"learning_rate must be 'constant' or 'invscaling', got {self.learning_rate!r}")
        checks: dict[str, tuple[Any, float, bool]] = {
            "alpha": (self.alpha, 0, False), "learning_rate_init": (self.learning_rate_init, 0, True),
                  "tol": (self.tol, 0, False), "momentum": (self.momentum, 0, False),
                  "epsilon": (self.epsilon, 0, True), "power_t": (self.power_t, 0, False)}
        for name, (value, low, strict) in checks.items():
            if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value))
                    or value < low or (strict and value == low)):
                raise ValueError(f"{name} must be a {'positive' if strict else 'non-negative'} number, got {value!r}")
        for name in ("beta_1", "beta_2", "validation_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size != "auto" and (isinstance(self.batch_size, bool)
                                          or not isinstance(self.batch_size, numbers.Integral)
                                          or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive int, got {self.batch_size!r}")
        return sizes

    # ------------------------------------------------------------------ training

    def _build(self, n_in: int, n_out: int, sizes: tuple[int, ...], seed: int) -> Net:
        widths = (n_in, *sizes, n_out)
        layers: list[Any] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(Linear(a, b, init="xavier"))  # Glorot uniform, as scikit-learn
            if i < len(widths) - 2:
                layers.append(_ACTIVATIONS[self.activation]())
        return Net(layers, dtype="float64", seed=seed)

    def _train(self, X: np.ndarray, Y: np.ndarray, n_out: int, stratify: np.ndarray | None) -> None:
        sizes = self._check_params()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        Xv = Yv = None
        if self.early_stopping:
            X, Xv, Y, Yv = train_test_split(X, Y, test_size=self.validation_fraction, random_state=seed,
                                            stratify=stratify)
        n = len(X)
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        self.net_ = self._build(X.shape[1], n_out, sizes, seed)
        hyper: dict[str, Any] = {"lr": self.learning_rate_init, "weight_decay": self.alpha / batch}
        if self.solver == "sgd":
            hyper.update(momentum=self.momentum, nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        else:
            hyper.update(betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        trainer = Trainer(self.net_, loss=self._loss_name, optimizer=self.solver, **hyper)
        self.loss_curve_: list[float] = []
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.t_ = 0
        monitor = (_InvScaling if self.learning_rate == "invscaling" and self.solver == "sgd" else _Monitor)(
            self, Xv, Yv, n)
        trainer.fit(X, Y, epochs=self.max_iter, batch_size=batch, shuffle=self.shuffle, seed=seed,
                    progress=False, divergence_factor=None, callbacks=[monitor])
        if not monitor.converged:
            warnings.warn(f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        best, best_weights = monitor.best, monitor.best_weights
        if self.early_stopping and best_weights is not None:
            for p, w in zip(self.net_.parameters(), best_weights):
                p.data[...] = w
            self.best_validation_score_ = -best
        else:
            self.best_loss_ = best
        self.n_layers_ = len(sizes) + 2
        self.n_outputs_ = n_out

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices ``(in, out)`` per layer, as scikit-learn's MLP."""
        check_is_fitted(self, "net_")
        return [layer.W.data for layer in self.net_.layers if isinstance(layer, Linear) and layer.W]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors per layer, as scikit-learn's MLP."""
        check_is_fitted(self, "net_")
        return [layer.b.data for layer in self.net_.layers if isinstance(layer, Linear) and layer.b]

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64, order="C")
        return self.net_.predict(np.asarray(X, dtype=np.float64))

    def to_onnx(self, path: Any, opset: int | None = None) -> None:
        """Write the fitted estimator as an ONNX model (float64 input ``"X"``, dynamic batch):
        the classifier's outputs are ``"label"`` and ``"probabilities"`` (``predict`` and
        ``predict_proba``), the regressor's ``"variable"`` (``predict``). Needs ``fastgd[onnx]``.

        Example:
            >>> clf.to_onnx("clf.onnx")
        """
        from .interop import onnx_io

        onnx_io.sklearn_to_onnx(self, path, opset=opset)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastgd's fused C++ step.

    Softmax cross-entropy on logits for 3+ classes, a single logistic output for 2 classes.
    Parameters as scikit-learn's ``MLPClassifier``: ``hidden_layer_sizes``, ``activation``
    ("relu", "tanh", "logistic", "identity"), ``solver`` ("sgd", "adam"), ``alpha``,
    ``batch_size``, ``learning_rate`` ("constant", "invscaling"), ``learning_rate_init``,
    ``power_t``, ``max_iter`` (epochs), ``shuffle``, ``random_state``, ``tol``, ``verbose``,
    ``momentum``, ``nesterovs_momentum``, ``early_stopping``, ``validation_fraction``, ``beta_1``,
    ``beta_2``, ``epsilon``, ``n_iter_no_change``.

    Attributes:
        classes_, n_features_in_, loss_curve_, n_iter_, coefs_, intercepts_, net_ (the
        ``fastgd.Net``), best_loss_ or best_validation_score_/validation_scores_.

    Example:
        >>> clf = MLPClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:3]).shape
        (3, 10)
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n, features) and class labels ``y`` (n,) of any type; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder()
        codes = encoder.fit_transform(y)
        self.classes_ = encoder.classes_
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})")
        self._loss_name = "bce_with_logits" if k == 2 else "cross_entropy"
        targets = codes.astype(np.float64).reshape(-1, 1) if k == 2 else codes.astype(np.int64)
        self._train(X, targets, 1 if k == 2 else k, stratify=codes if self.early_stopping else None)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        out = self._forward(X)
        if out.shape[1] == 1:
            from . import ops

            p = ops.sigmoid(out[:, 0])
            return np.stack([1 - p, p], axis=1)
        from . import ops

        return ops.softmax(out)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (n,), values from ``classes_``."""
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    def _score_arrays(self, X: np.ndarray, Y: np.ndarray) -> float:
        out = self.net_.predict(X)
        pred = (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else np.argmax(out, axis=1)
        return float(np.mean(pred == Y.reshape(len(Y), -1)[:, 0].astype(np.int64)))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (squared error) trained by fastgd's fused C++ step.

    Parameters as ``MLPClassifier`` (and scikit-learn's ``MLPRegressor``); single and multiple
    outputs. ``hidden_layer_sizes=()`` is linear regression by gradient descent.

    Example:
        >>> reg = MLPRegressor(hidden_layer_sizes=(), learning_rate_init=0.01).fit(X, y)
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` (n, features) and targets ``y`` (n,) or (n, outputs); returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64, order="C", multi_output=True, y_numeric=True)
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float64)
        self._y_1d = y.ndim == 1
        self._train(X, Y, Y.shape[1], stratify=None)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, (n,) for a 1-D training target, else (n, outputs)."""
        out = self._forward(X)
        return out[:, 0].copy() if self._y_1d else out

    def _score_arrays(self, X: np.ndarray, Y: np.ndarray) -> float:
        pred = self.net_.predict(X)
        ss_res = float(((Y - pred) ** 2).sum())
        ss_tot = float(((Y - Y.mean(0)) ** 2).sum())
        return 1 - ss_res / ss_tot if ss_tot > 0 else 0.0

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class _Monitor(Callback):
    """scikit-learn's side of ``Trainer.fit`` for the estimators: the loss curve, ``t_`` and the
    ``invscaling`` learning rate per step, the validation scores, and the stopping rule (no
    improvement by ``tol`` for ``n_iter_no_change`` epochs in a row)."""

    def __init__(self, est: _BaseMLP, Xv: np.ndarray | None, Yv: np.ndarray | None, n: int) -> None:
        self.est, self.Xv, self.Yv, self.n = est, Xv, Yv, n
        self.best, self.stall = np.inf, 0
        self.best_weights: list[np.ndarray] | None = None
        self.converged = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        est = self.est
        est.t_ += self.n
        self._epoch_end(epoch, logs)

    def _epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        est = self.est
        loss = logs["loss"]
        if not np.isfinite(loss):
            raise ValueError("training diverged (the loss became NaN/inf): lower learning_rate_init "
                             "or standardise the features (e.g. with StandardScaler in a Pipeline)")
        est.loss_curve_.append(loss)
        est.n_iter_ = epoch + 1
        if est.verbose:
            print(f"Iteration {epoch + 1}, loss = {loss:.8f}")
        if est.validation_scores_ is not None:
            score = float(est._score_arrays(self.Xv, self.Yv))
            est.validation_scores_.append(score)
            improved = score > -self.best + est.tol  # best holds the negated best score
            if improved:
                self.best, self.best_weights = -score, [p.data.copy() for p in self.net.parameters()]
        else:
            improved = loss < self.best - est.tol
            self.best = min(self.best, loss)
        self.stall = 0 if improved else self.stall + 1
        if self.stall >= est.n_iter_no_change:
            self.converged = True
            self.trainer.stop_training = True


class _InvScaling(_Monitor):
    """``learning_rate="invscaling"``: ``lr = learning_rate_init / (t_ + 1) ** power_t`` before
    every step, ``t_`` counting the samples seen."""

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        est = self.est
        self.trainer.optimizer.param_groups[0]["lr"] = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        est.t_ += int(logs["size"]) if logs else 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._epoch_end(epoch, logs)
