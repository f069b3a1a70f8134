"""scikit-learn estimators trained by fastgd: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements of scikit-learn's own ``MLPClassifier``/``MLPRegressor``: the same
parameters and defaults, methods (``fit``, ``partial_fit``, ``predict``, ``predict_proba``,
``score``), fitted attributes, warnings and errors, and the same objective: scikit-learn's
weight initialisation (Glorot uniform, drawn from ``random_state`` in its order), its shuffling,
its losses (half squared error, log-loss summed over the outputs, half Poisson deviance) and its
L2 term ``½·alpha·Σ‖W‖² / Σwᵢ`` per batch (on the weights, not the intercepts). Stochastic
solvers run through ``Trainer.fit`` on the fused C++ step (one epoch loop; ``partial_fit`` is one
epoch of it); ``solver="lbfgs"`` is scipy's L-BFGS-B (as scikit-learn) whose every loss and
gradient evaluation is one fused C++ forward/backward over the whole data set.

Extensions: ``class_weight=None | "balanced" | {label: weight}`` on the classifier (multiplied
into ``sample_weight``), and ``hidden_layer_sizes=()`` for plain logistic / linear regression.

Known differences from scikit-learn: fastgd's Adam adds ``epsilon`` to ``sqrt(v̂)`` (torch's
form) where scikit-learn adds it to ``sqrt(v)`` before the bias correction; reported log-losses
are not clipped at ``eps`` (the gradients are the same); sparse ``X``
(CSR/CSC) trains and predicts without being densified (see ``fastgd.sparse``).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from scipy.special import xlogy
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("fastgd.sklearn needs scikit-learn >= 1.6: pip install 'fastgd[sklearn]'") from exc

from . import ops
from .callbacks import Callback
from .layers import Identity, Linear, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, PoissonNLLLoss
from .net import Net
from .sparse import csr_rows
from .trainer import Trainer, _FitArgs, _Plan

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "identity": Identity}
_STOCHASTIC_SOLVERS = ("sgd", "adam")


_SPARSE = ["csr", "csc"]  # what validate_data passes through (other formats: converted to CSR)


def _as_rows(X: Any) -> Any:
    """The one place sparse ``X`` meets the estimators' training: a scipy.sparse matrix (already
    CSR or CSC from ``validate_data``) becomes ``fastgd.sparse.CsrRows`` once, which the net's
    first ``Linear`` multiplies directly in C++ (batches gathered as sparse rows, never densified)."""
    return csr_rows(X) if scipy.sparse.issparse(X) else X


class _Objective:
    """scikit-learn's loss for one output activation, through a fastgd loss.

    fastgd's losses are means over all ``n·k`` outputs (torch's); scikit-learn's gradient is
    ``c`` times fastgd's (``c = k`` for the log-losses of sigmoid outputs and the Poisson
    deviance, ``k/2`` for the half squared error, 1 for softmax), so fastgd runs with
    ``l2 = alpha / (Σwᵢ·c)``, SGD with ``c·lr`` and Adam with ``eps / c``: the same updates.
    ``report`` turns fastgd's batch loss into scikit-learn's."""

    def __init__(self, kind: str, k: int) -> None:
        self.kind, self.k = kind, k
        self.loss: Loss
        if kind == "softmax":
            self.loss, self.c = CrossEntropyLoss(), 1.0
        elif kind == "logistic":
            self.loss, self.c = BCEWithLogitsLoss(), float(k)
        elif kind == "exp":
            self.loss, self.c = PoissonNLLLoss(), float(k)
        else:
            self.loss, self.c = MSELoss(), k / 2.0
        # half squared error over several outputs: scikit-learn reports the mean over the
        # outputs but steps along the gradient of their sum (so report != c·fastgd's value)
        self.needs_penalty = kind == "identity" and k > 1

    def report_sum(self, total: float, penalty: float, constant: float) -> float:
        """``report`` summed over an epoch's batches, each times its rows n_b, from the sums
        ``total = Σ n_b·value_b``, ``penalty = Σ n_b·(the L2 term in value_b)`` (scikit-learn's
        penalty over ``c``) and ``constant = Σ n_b·(the Poisson constant of batch b)``:
        ``report`` is linear in them."""
        if self.needs_penalty:  # Σ n_b·(½·(value_b - p_b/c) + p_b), p_b/c = the L2 term
            return 0.5 * total + (self.c - 0.5) * penalty
        return self.c * total + constant

    def report(self, value: float, y: np.ndarray, w: np.ndarray | None, penalty: float) -> float:
        """scikit-learn's loss from fastgd's ``value`` (data loss + ``penalty / c``) on a batch
        with targets ``y`` and weights ``w``; ``penalty`` = ``½·alpha·Σ‖W‖² / Σwᵢ``."""
        if self.needs_penalty:
            return 0.5 * (value - penalty / self.c) + penalty
        out = self.c * value
        if self.kind == "exp":  # the half deviance's constant Σ_k avg(y·log y - y)
            out += float(np.average(xlogy(y, y) - y, weights=w, axis=0).sum())
        return out


class _Shuffler:
    """scikit-learn's epoch order: ``sample_idx = shuffle(sample_idx, random_state)`` every
    epoch (what ``Trainer.fit`` asks its plan's ``rng.permutation`` for)."""

    def __init__(self, random_state: np.random.RandomState, n: int) -> None:
        self.random_state, self.idx = random_state, np.arange(n)

    def permutation(self, n: int) -> np.ndarray:
        # sklearn.utils.shuffle(idx, random_state) without its per-call validation: the same
        # draw (a shuffled arange) applied to the current order
        order = np.arange(len(self.idx))
        self.random_state.shuffle(order)
        self.idx = self.idx[order]
        return self.idx


class _SkTrainer(Trainer):
    """``Trainer`` whose ``fit`` walks the data as scikit-learn's MLP: its shuffled order, the
    L2 term of each batch scaled by that batch's weight, batch losses in scikit-learn's scale
    and the epoch loss their mean weighted by batch sizes."""

    _count_correct = False  # no per-batch accuracy: scikit-learn reports none
    # Its epochs run in C++ (Engine.epoch): the per-batch L2 coefficient is the engine's
    # per-weight L2, the epoch weighs batches by their rows, and the reported loss is computed
    # from the epoch's sums (_epoch_in_cpp); _train_batch is the same for the Python loop.
    _cpp_epoch_compatible = True
    _epoch_rows_weight = True

    def __init__(self, net: Net, objective: _Objective, alpha: float, optimizer: str, **hyper: Any) -> None:
        super().__init__(net, loss=objective.loss, optimizer=optimizer, **hyper)
        self.objective, self.alpha = objective, float(alpha)
        self.shuffler: _Shuffler | None = None
        if not self._fused_step():
            raise RuntimeError("fastgd.sklearn: this network has no fused C++ step")
        # scikit-learn's ½·alpha·Σ‖W‖² / Σwᵢ of every batch: l2 = alpha / c per unit batch weight
        self.set_l2(self.alpha / objective.c, per_weight=True)

    def set_l2(self, lam: float, per_weight: bool = False) -> None:
        if (lam, per_weight) != (self.l2, self._l2_per_weight):
            self.l2, self._l2_per_weight = lam, per_weight
            self._fused.set_l2(lam, per_weight)

    def batch_l2(self, weight: float) -> float:
        """Set and return fastgd's ``l2`` for one batch of total weight ``weight`` (L-BFGS's
        whole data set)."""
        lam = self.alpha / (weight * self.objective.c) if weight > 0 else 0.0
        self.set_l2(lam)
        return lam

    def penalty(self, weight: float) -> float:
        """scikit-learn's ``½·alpha·Σ‖W‖² / weight`` at the current weights."""
        if not self.alpha:
            return 0.0
        total = sum(float(np.dot(p.data.ravel(), p.data.ravel())) for p in self.net.regularized_parameters())
        return 0.5 * self.alpha * total / weight

    def _fit_plan(self, run: _FitArgs) -> _Plan:
        plan = super()._fit_plan(run)
        if self.shuffler is not None:
            plan.rng = self.shuffler  # type: ignore[assignment]
        return plan

    def _train_batch(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                     global_rows: int | None) -> tuple[float, float]:
        # (the engine divides l2 by this batch's weight itself: _l2_per_weight)
        weight = float(len(X)) if w is None else float(w.sum())
        penalty = self.penalty(weight) if self.objective.needs_penalty else 0.0
        value = self.step(X, y, w)
        return self.objective.report(value, y, w, penalty), float(len(X))

    def _epoch_constant(self, run: _FitArgs, plan: _Plan, order: np.ndarray | None) -> float | None:
        """``Σ_b n_b·(the Poisson constant of batch b)`` of this epoch (0 for the other losses),
        or None where the Python loop must run the epoch: a batch whose weights sum to 0 (whose
        report divides by that sum)."""
        w = run.w
        starts = np.arange(0, plan.rows, plan.batch_size)
        if w is not None:
            wo = w if order is None else w[order]
            if not (np.add.reduceat(wo.astype(np.float64), starts) > 0).all():
                return None
        if self.objective.kind != "exp":
            return 0.0
        y = run.y if order is None else run.y[order]
        g = (xlogy(y, y) - y).sum(axis=1, dtype=np.float64)  # Σ_k (y·log y - y) per row
        if w is None:  # Σ_b n_b·mean_b(g) = Σ_i g_i
            return float(g.sum())
        wo = wo.astype(np.float64)
        rows = np.diff(np.append(starts, plan.rows))
        return float((rows * np.add.reduceat(wo * g, starts) / np.add.reduceat(wo, starts)).sum())

    def _epoch_in_cpp(self, run: _FitArgs, plan: _Plan, epoch: int, order: np.ndarray | None,
                      first_loss: float | None) -> tuple[float, float, float, float, float | None]:
        """The epoch in one C++ call, its loss in scikit-learn's scale from the epoch's sums
        (``_Objective.report_sum``); the Python loop where those do not suffice (a batch of zero
        weight, or a divergence check, which judges each batch's reported loss)."""
        constant = None if run.divergence_factor is not None else self._epoch_constant(run, plan, order)
        if constant is None:
            return self._epoch_in_python(run, plan, epoch, order, None, [], first_loss)
        total, weight, correct, count, first = super()._epoch_in_cpp(run, plan, epoch, order, first_loss)
        return self.objective.report_sum(total, self._epoch_penalty, constant), weight, correct, count, first


class _Schedule:
    """The learning-rate side of scikit-learn's stochastic optimizers (its MLP's
    ``_optimizer``): ``learning_rate`` for ``"constant"``, ``"invscaling"``
    (``learning_rate_init / (t_ + 1) ** power_t`` after every epoch) and ``"adaptive"``
    (divided by 5 where scikit-learn's stopping rule fires, until it is below 1e-6)."""

    def __init__(self, solver: str, learning_rate_init: float, lr_schedule: str, power_t: float) -> None:
        self.solver, self.lr_schedule, self.power_t = solver, lr_schedule, float(power_t)
        self.learning_rate_init = self.learning_rate = float(learning_rate_init)

    def iteration_ends(self, time_step: int) -> None:
        if self.solver == "sgd" and self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose: Any) -> bool:
        if self.solver != "sgd" or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False


class _Epochs(Callback):
    """scikit-learn's end of epoch for ``Trainer.fit``: its bookkeeping, stopping rule and
    schedule (``_BaseMLP._end_epoch``)."""

    def __init__(self, est: _BaseMLP, incremental: bool) -> None:
        self.est, self.incremental = est, incremental

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.est._end_epoch(logs["loss"], self.incremental):
            self.trainer.stop_training = True


class _BaseMLP(BaseEstimator):
    """Shared fitting logic (parameters documented on the public classes)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
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
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------------ subclasses provide

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """fastgd's targets for the validated ``y`` (2-D indicator/values)."""
        raise NotImplementedError

    def _score_arrays(self, X: np.ndarray, y: Any, sample_weight: np.ndarray | None) -> float:
        raise NotImplementedError

    # ------------------------------------------------------------------ parameters <-> net

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        trainer = state.pop("_trainer", None)  # the C++ engine does not pickle: its state does
        if trainer is not None and trainer._fused:
            g = trainer._fused.groups[0]
            state["_opt_state"] = ({k: v.copy() for k, v in g.flat.items()}, int(g.counter))
        # coefs_/intercepts_ are the net's own arrays: rebuilt from it on loading
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        state.pop("_exposed", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "net_" in self.__dict__:
            for p in self.net_.parameters():  # (a read-only memory map when loaded by joblib)
                if not p.data.flags.writeable:
                    p.data = np.array(p.data)
                if not p.grad.flags.writeable:
                    p.grad = np.array(p.grad)
            self._expose_params()

    def _linears(self) -> list[Any]:
        return [layer for layer in self.net_.layers if isinstance(layer, Linear)]

    def _expose_params(self) -> None:
        """``coefs_``/``intercepts_``: lists of the net's own arrays (in-place edits reach the
        net; assigned arrays are copied in at the next ``fit``/``predict``)."""
        self.coefs_ = [layer.W.data for layer in self._linears()]
        self.intercepts_ = [layer.b.data for layer in self._linears()]
        self._exposed: dict[str, list[Any]] = {"coefs_": list(self.coefs_), "intercepts_": list(self.intercepts_)}

    def _pull_params(self) -> None:
        """Copy into the net whatever was assigned to ``coefs_``/``intercepts_``."""
        for name, attr in (("coefs_", "W"), ("intercepts_", "b")):
            arrays = getattr(self, name)
            layers = self._linears()
            if len(arrays) != len(layers):
                raise ValueError(f"{name} must hold {len(layers)} arrays (one per layer), got {len(arrays)}")
            for i, (a, layer) in enumerate(zip(arrays, layers)):
                p = getattr(layer, attr)
                # the net's array, or one it had before fused training moved its parameters
                # into one flat buffer (the net holds the current values): nothing to copy
                if a is p.data or a is self._exposed[name][i]:
                    continue
                a = np.asarray(a)
                if a.size != p.data.size or (a.ndim == p.data.ndim and a.shape != p.data.shape):
                    raise ValueError(f"{name}[{i}] must have shape {p.data.shape}, got {a.shape}")
                p.data[...] = a.reshape(p.data.shape)
        self._expose_params()

    def _build(self, layer_units: list[int], dtype: np.dtype) -> None:
        layers: list[Any] = []
        for i in range(len(layer_units) - 1):
            layers.append(Linear(layer_units[i], layer_units[i + 1]))
            if i < len(layer_units) - 2:
                layers.append(_ACTIVATIONS[self.activation]())
        self.net_ = Net(layers, dtype=dtype, seed=0)
        self._trainer: _SkTrainer | None = None
        none: list[Any] = [None] * (len(layer_units) - 1)
        self._exposed = {"coefs_": none, "intercepts_": none}

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype: np.dtype) -> None:
        """scikit-learn's first-pass state: counters, and the weights and intercepts drawn
        uniform in ±sqrt(factor / (fan_in + fan_out)) (factor 2 for logistic, else 6) from
        ``random_state``, layer by layer, weights first."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self._build(layer_units, dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer, (fan_in, fan_out) in zip(self._linears(), zip(layer_units[:-1], layer_units[1:])):
            bound = np.sqrt(factor / (fan_in + fan_out))
            layer.W.data[...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
            layer.b.data[...] = self._random_state.uniform(-bound, bound, fan_out).astype(dtype, copy=False)
        self._expose_params()
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_: list[float] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: list[float] | None = []
                self.best_validation_score_: float | None = -np.inf
                self.best_loss_: float | None = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _out_activation(self) -> str:
        raise NotImplementedError

    def _objective(self) -> _Objective:
        return _Objective(self.out_activation_, self.n_outputs_)

    # ------------------------------------------------------------------ fitting

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False,
             class_weight: Any = None) -> _BaseMLP:
        self._validate_params()
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        X = _as_rows(X)
        if class_weight is not None:
            cw = self._class_sample_weight(y, class_weight, incremental).astype(X.dtype)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features, *sizes, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        elif not hasattr(self, "net_") or [lin.in_features for lin in self._linears()] + [self.n_outputs_] \
                != layer_units or self.net_.dtype != X.dtype:
            # coefs_ set by hand (or another shape or dtype): a net that holds them
            coefs, intercepts = self.coefs_, self.intercepts_
            self._build(layer_units, X.dtype)
            self.coefs_, self.intercepts_ = coefs, intercepts
        self._pull_params()
        targets = self._targets(y, X.dtype)
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, targets, sample_weight, incremental)
        else:
            self._fit_lbfgs(X, targets, sample_weight)
        self._expose_params()
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _class_sample_weight(self, y: np.ndarray, class_weight: Any, incremental: bool) -> np.ndarray:
        raise ValueError("class_weight is only available on MLPClassifier")

    def _new_trainer(self) -> _SkTrainer:
        objective = self._objective()
        c = objective.c
        if self.solver == "sgd":
            trainer = _SkTrainer(self.net_, objective, self.alpha, "sgd", lr=c * self.learning_rate_init,
                                 momentum=self.momentum,
                                 nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        elif self.solver == "adam":
            trainer = _SkTrainer(self.net_, objective, self.alpha, "adam", lr=self.learning_rate_init,
                                 betas=(self.beta_1, self.beta_2), eps=self.epsilon / c)
        else:
            trainer = _SkTrainer(self.net_, objective, self.alpha, "lbfgs")
        return trainer

    def _restore_optimizer(self, trainer: _SkTrainer) -> None:
        saved = self.__dict__.pop("_opt_state", None)
        if saved is not None:
            g = trainer._fused.groups[0]
            flat, count = saved
            if set(flat) == set(g.flat):
                for key, value in flat.items():
                    g.flat[key][...] = value
                g.counter[...] = count

    def _apply_lr(self) -> None:
        """Hand ``_optimizer.learning_rate`` to the fastgd optimizer. scikit-learn's momentum
        keeps velocities (updates in parameter units), torch's keeps buffers in gradient
        units: rescaling the buffer by old/new lr keeps the two identical."""
        trainer = self._trainer
        if trainer is None or self.solver != "sgd":
            return
        group = trainer.optimizer.param_groups[0]
        new = self._objective().c * self._optimizer.learning_rate
        old = group["lr"]
        if new != old:
            buf = trainer._fused.groups[0].flat.get("momentum_buffer")
            if buf is not None and new > 0:
                buf *= buf.dtype.type(old / new)
            group["lr"] = new

    def _fit_stochastic(self, X: np.ndarray, y: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None,
                        incremental: bool) -> None:
        if not incremental or getattr(self, "_optimizer", None) is None or getattr(self, "_trainer", None) is None:
            if not incremental or getattr(self, "_optimizer", None) is None:
                self._optimizer = _Schedule(self.solver, self.learning_rate_init, self.learning_rate, self.power_t)
                self.__dict__.pop("_opt_state", None)
            self._trainer = self._new_trainer()
            self._restore_optimizer(self._trainer)
            self._expose_params()
        self._apply_lr()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        trainer: Any = self._trainer
        self._val: tuple[Any, ...] | None = None
        if self.early_stopping:
            should_stratify = isinstance(self, ClassifierMixin) and self.n_outputs_ == 1
            idx_train, idx_val = train_test_split(np.arange(len(X)), random_state=self._random_state,
                                                  test_size=self.validation_fraction,
                                                  stratify=y if should_stratify else None)
            if len(idx_val) < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            self._val = (X[idx_val], self._val_targets(y[idx_val]),
                         None if sample_weight is None else sample_weight[idx_val])
            X, targets = X[idx_train], targets[idx_train]
            sample_weight = None if sample_weight is None else sample_weight[idx_train]
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        trainer.shuffler = _Shuffler(self._random_state, n_samples) if self.shuffle else None
        self.n_iter_ = 0
        try:
            trainer.fit(X, targets, epochs=1 if incremental else self.max_iter, batch_size=batch_size,
                        shuffle=bool(self.shuffle), seed=None, sample_weight=sample_weight, progress=False,
                        divergence_factor=None, callbacks=[_Epochs(self, incremental)])
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            self._val = None
        if self.early_stopping:
            for layer, W, b in zip(self._linears(), self._best_coefs, self._best_intercepts):
                layer.W.data[...] = W
                layer.b.data[...] = b

    def _val_targets(self, y: np.ndarray) -> Any:
        return y

    def _end_epoch(self, loss: float, incremental: bool) -> bool:
        """scikit-learn's end of an epoch; returns whether to stop."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += self._trainer.fit_params["samples"]  # type: ignore[union-attr]
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._update_no_improvement_count()
        self._optimizer.iteration_ends(self.t_)
        stop = False
        if self._no_improvement_count > self.n_iter_no_change:
            what = ("Validation score did not improve more than" if self.early_stopping
                    else "Training loss did not improve more than")
            msg = f"{what} tol={self.tol:f} for {self.n_iter_no_change:.0f} consecutive epochs."
            stop = self._optimizer.trigger_stopping(msg, self.verbose)
            if not stop:
                self._no_improvement_count = 0
        self._apply_lr()
        if incremental or stop:
            return True
        if self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=2)
        return False

    def _update_no_improvement_count(self) -> None:
        if self._val is not None:
            Xv, yv, wv = self._val
            score = self._score_arrays(Xv, yv, wv)
            self.validation_scores_.append(score)  # type: ignore[union-attr]
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:  # type: ignore[operator]
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [i.copy() for i in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:  # type: ignore[operator]
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None) -> None:
        trainer = self._new_trainer()
        self._expose_params()
        fused, objective = trainer._fused, trainer.objective
        weight = float(len(X)) if sample_weight is None else float(sample_weight.sum())
        lam = trainer.batch_l2(weight)
        c = objective.c
        data, grad = fused.data, fused.grad
        net_train = self.net_.training
        self.net_.train()

        def loss_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            data[...] = x  # one fused forward + loss + backward over all samples
            value = float(fused.loss_and_grad(X, targets, sample_weight))
            penalty = trainer.penalty(weight) if objective.needs_penalty else 0.0
            return objective.report(value, targets, sample_weight, penalty), c * grad.astype(np.float64)

        try:
            res = scipy.optimize.minimize(loss_grad, data.astype(np.float64), method="L-BFGS-B", jac=True,
                                          options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                                   "gtol": self.tol})
        finally:
            self.net_.train(net_train)
        del lam
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) (status={res.status}):\n"
                          f"{res.message}.\n\nIncrease the number of iterations to improve the convergence "
                          f"(max_iter={self.max_iter}).\nYou might also want to scale the data as shown in:\n"
                          "    https://scikit-learn.org/stable/modules/preprocessing.html", ConvergenceWarning,
                          stacklevel=4)
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        data[...] = res.x

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                                 "not stochastic.")
        return True

    # ------------------------------------------------------------------ prediction

    def _raw(self, X: Any, check_input: bool = True) -> np.ndarray:
        """The output layer's activations (sklearn's ``_forward_pass_fast``)."""
        if check_input:
            check_is_fitted(self)
            X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32), accept_sparse=_SPARSE)
        self._pull_params()
        out = self.net_.predict(X)
        kind = self.out_activation_
        if kind == "softmax":
            return ops.softmax(out)
        if kind == "logistic":
            return ops.sigmoid(out)
        if kind == "exp":
            return np.exp(out)
        return out

    def to_onnx(self, path: Any, opset: int | None = None) -> None:
        """Write the fitted estimator as an ONNX model (float64 input ``"X"``, dynamic batch):
        the classifier's outputs are ``"label"`` and ``"probabilities"`` (``predict`` and
        ``predict_proba``), the regressor's ``"variable"`` (``predict``). Needs ``fastgd[onnx]``.

        Example:
            >>> clf.to_onnx("clf.onnx")
        """
        from .interop import onnx_io

        onnx_io.sklearn_to_onnx(self, path, opset=opset)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC X: see _as_rows
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastgd's fused C++ step: scikit-learn's
    ``MLPClassifier`` (same parameters, defaults, attributes and objective), plus
    ``class_weight``.

    Softmax outputs and log-loss for 3+ classes, one logistic output for 2 classes, one logistic
    output per label for a multilabel indicator ``y``. Parameters: scikit-learn's
    (``hidden_layer_sizes``, ``activation``, ``solver`` "lbfgs"/"sgd"/"adam", ``alpha``,
    ``batch_size``, ``learning_rate`` "constant"/"invscaling"/"adaptive", ``learning_rate_init``,
    ``power_t``, ``max_iter``, ``shuffle``, ``random_state``, ``tol``, ``verbose``,
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``,
    ``max_fun``); ``class_weight``: None, ``"balanced"`` (``n_samples / (n_classes ·
    bincount(y))``) or ``{label: weight}``, multiplied into ``sample_weight`` (not for multilabel
    ``y``; ``"balanced"`` not in ``partial_fit``).

    Attributes:
        classes_, n_features_in_, feature_names_in_, loss_, best_loss_, loss_curve_, t_,
        n_iter_, n_layers_, n_outputs_, out_activation_, coefs_, intercepts_ (the net's own
        arrays, (in, out) per layer), validation_scores_, best_validation_score_, net_ (the
        ``fastgd.Net`` of raw outputs).

    Example:
        >>> clf = MLPClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:3]).shape
        (3, 10)
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "class_weight": [None, dict, StrOptions({"balanced"})]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
                         verbose=verbose, warm_start=warm_start, momentum=momentum,
                         nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)
        self.class_weight = class_weight

    def _out_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32), reset=reset,
                             accept_sparse=_SPARSE)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        self._y_labels = y
        return X, self._label_binarizer.transform(y).astype(bool)

    def _targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        if self.out_activation_ == "softmax":  # class indices: the fused cross-entropy's targets
            return np.ascontiguousarray(np.argmax(y, axis=1).astype(np.int64))
        return np.ascontiguousarray(y, dtype=dtype)

    def _val_targets(self, y: np.ndarray) -> Any:
        return self._label_binarizer.inverse_transform(y)

    def _class_sample_weight(self, y: np.ndarray, class_weight: Any, incremental: bool) -> np.ndarray:
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight is not supported for multilabel y")
        if isinstance(class_weight, str) and incremental:
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: pass a dict "
                             "{label: weight} computed on the whole data set")
        codes = np.searchsorted(self.classes_, self._y_labels)
        table = np.ones(len(self.classes_))
        if isinstance(class_weight, str):
            counts = np.bincount(codes, minlength=len(self.classes_)).astype(np.float64)
            present = counts > 0
            table[present] = len(codes) / (present.sum() * counts[present])
        else:
            for label, value in class_weight.items():
                where = np.flatnonzero(self.classes_ == label)
                if not len(where):
                    raise ValueError(f"class_weight has the label {label!r}, not in classes_ {self.classes_}")
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < np.inf:
                    raise ValueError(f"class_weight[{label!r}] must be a finite number >= 0, got {value!r}")
                table[where[0]] = float(value)
        return table[codes]

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Fit the model to data ``X`` (n, features) and labels ``y`` ((n,) of any type, or an
        (n, labels) indicator matrix), optionally weighted by ``sample_weight`` (n,); returns
        self."""
        self._fit(X, y, sample_weight=sample_weight, incremental=False, class_weight=self.class_weight)
        return self

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call."""
        if getattr(self, "classes_", None) is None:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                             f"was: {self.classes_!r}")
        self._fit(X, y, sample_weight=sample_weight, incremental=True, class_weight=self.class_weight)
        return self

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._raw(X, check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (n,) from ``classes_`` (an (n, labels) indicator for multilabel)."""
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, n_classes) in the order of ``classes_`` (per-label
        probabilities for multilabel)."""
        check_is_fitted(self)
        y_pred = self._raw(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def _score_arrays(self, X: np.ndarray, y: Any, sample_weight: np.ndarray | None) -> float:
        y_pred = self._raw(X, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return float(accuracy_score(y, self._label_binarizer.inverse_transform(y_pred), sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastgd's fused C++ step: scikit-learn's
    ``MLPRegressor`` (same parameters, defaults, attributes and objective).

    ``loss="squared_error"`` (half squared error, identity outputs) or ``"poisson"`` (half
    Poisson deviance, exponential outputs); one or several outputs. Parameters and attributes
    as ``MLPClassifier`` (without ``class_weight``/``classes_``). ``hidden_layer_sizes=()`` is
    linear regression by gradient descent.

    Example:
        >>> reg = MLPRegressor(hidden_layer_sizes=(), learning_rate_init=0.01).fit(X, y)
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
                         verbose=verbose, warm_start=warm_start, momentum=momentum,
                         nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)
        self.loss = loss

    def _out_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=(np.float64, np.float32),
                             reset=reset, accept_sparse=_SPARSE)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (np.asarray(y) < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return X, y

    def _targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return np.ascontiguousarray(y, dtype=dtype)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Fit the model to data ``X`` (n, features) and targets ``y`` (n,) or (n, outputs),
        optionally weighted by ``sample_weight`` (n,); returns self."""
        self._fit(X, y, sample_weight=sample_weight, incremental=False)
        return self

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)`` (stochastic solvers only)."""
        self._fit(X, y, sample_weight=sample_weight, incremental=True)
        return self

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:
        y_pred = self._raw(X, check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, (n,) for one output, else (n, outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _score_arrays(self, X: np.ndarray, y: Any, sample_weight: np.ndarray | None) -> float:
        y_pred = self._predict(X, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        return float(r2_score(y, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
