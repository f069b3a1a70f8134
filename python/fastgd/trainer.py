"""``Trainer``: one training step (forward, loss, backward, update) and the epoch loop of ``fit``."""

from __future__ import annotations

import functools
import math
import numbers
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import optim
from .callbacks import Callback, History, ProgressBar
from .errors import DivergenceError
from .losses import Loss, check_sample_weight, get_loss
from .net import Net, is_lazy, metric_sums
from .net import training_mode as _mode
from .sparse import CsrRows, is_sparse

__all__ = ["Trainer"]

# Validation sets are evaluated in chunks of this many rows to bound the activations' memory.
_EVAL_BATCH = 8192


@functools.cache
def _tqdm_available() -> bool:
    """Whether tqdm can be imported (asked once: a failed import searches sys.path each time,
    ~0.5 ms per fit)."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class _FitArgs:
    """``fit``'s checked arguments: the training rows and their weights (None: unweighted),
    the validation set ``(X, y, weights)`` or None, and the rest as given."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    epochs: int
    batch_size: int
    shuffle: bool
    seed: Any
    divergence_factor: float | None
    val: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    callbacks: list[Callback]


@dataclass
class _Plan:
    """How ``fit`` walks the data: ``rows`` of ``X`` per epoch on this process (``total`` over
    all processes) in ``steps`` batches, shuffled by ``rng``; ``params`` go into ``fit_params``."""

    rows: int
    total: int
    steps: int
    batch_size: int
    rng: np.random.Generator
    seed: Any
    val: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    params: dict[str, Any] = field(default_factory=dict)


def class_weights(loss: Loss, y: np.ndarray, class_weight: Any, n_outputs: int) -> np.ndarray:
    """Per-sample weights (float64, (n,)) from ``class_weight``: ``{label: weight}`` (labels
    missing from the dict weigh 1) or ``"balanced"`` (scikit-learn's ``n_samples / (n_classes ·
    bincount)``). Classes are the integer labels of ``cross_entropy`` or the 0/1 targets of a
    single-output ``bce_with_logits``.

    Example:
        >>> class_weights(get_loss("cross_entropy"), np.array([0, 0, 1]), "balanced", 2)
        array([0.75, 0.75, 1.5 ])
    """
    if not loss.is_classification:
        raise ValueError(f"fit: class_weight needs a classification loss, got loss={loss.name!r}")
    if y.ndim == 1 and y.dtype.kind in "iub":
        labels = y.astype(np.int64)
        n_classes = n_outputs
    elif loss.name == "bce_with_logits" and y.size == len(y):
        flat = y.reshape(len(y))
        if not np.isin(flat, (0, 1)).all():
            raise ValueError("fit: class_weight with bce_with_logits needs 0/1 targets")
        labels, n_classes = flat.astype(np.int64), 2
    else:
        raise ValueError("fit: class_weight needs integer class labels (n,) (cross_entropy) or 0/1 "
                         f"targets of one output (bce_with_logits), got y of shape {y.shape}")
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"fit: class_weight must be a dict, 'balanced' or None, got {class_weight!r}")
        present = np.unique(labels)
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        table = np.ones(max(n_classes, int(labels.max(initial=0)) + 1))
        table[present] = len(labels) / (len(present) * counts[present])
        return table[labels]
    if not isinstance(class_weight, dict):
        raise TypeError(f"fit: class_weight must be a dict, 'balanced' or None, got "
                        f"{type(class_weight).__name__}")
    table = np.ones(max(n_classes, int(labels.max(initial=0)) + 1))
    for label, value in class_weight.items():
        if isinstance(label, bool) or not isinstance(label, numbers.Integral) or not 0 <= int(label) < len(table):
            raise ValueError(f"fit: class_weight has the label {label!r}, not a class of this net "
                             f"(0..{len(table) - 1})")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < math.inf:
            raise ValueError(f"fit: class_weight[{label!r}] must be a finite number >= 0, got {value!r}")
        table[int(label)] = float(value)
    return table[labels]


class Trainer:
    """Trains ``net`` on ``loss`` with an optimizer from ``fastgd.optim``.

    ``step(X, y)`` is one gradient-descent step on one batch:
    ``zero_grad -> forward -> loss -> backward -> (clip) -> optimizer.step``. ``Net.fit`` is a
    loop over ``step``; use a ``Trainer`` directly for your own loop.

    Args:
        net: the ``Net`` to train.
        loss: ``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"`` or a ``Loss``.
        optimizer: a name of ``fastgd.optim.OPTIMIZERS`` (``"sgd"``, ``"adam"``, ``"adamw"``,
            ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"radam"``, ``"lbfgs"``), a ``fastgd.optim``
            class or an instance
            built over ``net.parameters()``.
        clip_norm: if given, clip the global gradient norm to it before every update.
        l2: weight penalty: the loss gains ``½·l2·Σ‖W‖²`` over the weight matrices
            (``net.regularized_parameters()``: not biases), the gradients ``l2·W``.
        fused: run each step as one C++ call when the net has only built-in layers, the loss is
            built in and the optimizer is one of ``fastgd.optim``'s (not LBFGS; any parameter
            groups that each hold whole parameters, without ``maximize``) (the default);
            False forces the layer-by-layer path. Both give the same results to float tolerance.
            While fused, the net's parameters live in one flat buffer (``.data``/``.grad`` are
            views: edit them in place) and so does the optimizer's state.
        **optimizer_hyper: hyper-parameters for a named optimizer (``lr=0.1, momentum=0.9``).

    Attributes:
        optimizer: the optimizer instance. loss: the ``Loss``.
        stop_training: set to True (e.g. by a callback) to stop ``fit`` after the current epoch.
        last_output: the net's output for the last batch of ``step`` (for running metrics).

    Example:
        >>> trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=1e-3)
        >>> for Xb, yb in batches:
        ...     batch_loss = trainer.step(Xb, yb)
    """

    # Extra slots after the gradients in the fused path's flat grad buffer (DistributedTrainer).
    _grad_slots = 0
    # The fused step's L2 coefficient is l2 / (the batch's Σ wᵢ, or its rows) (the scikit-learn
    # estimators' per-batch term; FusedStep.set_l2(per_weight=True)).
    _l2_per_weight = False
    # A subclass that overrides a piece of the batch loop (step, _train_batch, _batch_bounds) but
    # whose epochs Engine.epoch still runs exactly (what its pieces add is expressed through the
    # engine's options and its _epoch_in_cpp) sets this in its own class body (see _cpp_epochs).
    _cpp_epoch_compatible = False
    # Engine.epoch weighs each batch by its rows in the epoch's sums, even with sample weights.
    _epoch_rows_weight = False

    def __init__(self, net: Net, loss: str | Loss = "mse", optimizer: Any = "sgd",
                 clip_norm: float | None = None, fused: bool = True, *, l2: float = 0.0,
                 **optimizer_hyper: Any) -> None:
        if not isinstance(net, Net):
            raise TypeError(f"Trainer: net must be a fastgd.Net, got {type(net).__name__}")
        if clip_norm is not None and (isinstance(clip_norm, bool)
                                      or not isinstance(clip_norm, numbers.Real)
                                      or not 0 < clip_norm < math.inf):
            raise ValueError(f"Trainer: clip_norm must be a positive number or None, got "
                             f"{clip_norm!r}")
        self.net = net
        self.loss = get_loss(loss)
        self.optimizer = optim.get_optimizer(optimizer, net.parameters(), **optimizer_hyper)
        owned = {id(p) for p in net.parameters()}
        theirs = [p for g in getattr(self.optimizer, "param_groups", []) for p in g["params"]]
        if theirs and not any(id(p) in owned for p in theirs):
            raise ValueError("Trainer: the optimizer does not update this net's parameters; "
                             "build it over net.parameters()")
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        # LBFGS evaluates the loss several times per step, through a closure
        self._closure = isinstance(self.optimizer, optim.LBFGS)
        if self._closure and clip_norm is not None:
            raise ValueError("Trainer: clip_norm does not apply to LBFGS (it takes whole steps along "
                             "its search direction); leave clip_norm=None")
        if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not 0 <= float(l2) < math.inf:
            raise ValueError(f"Trainer: l2 must be a finite number >= 0, got {l2!r}")
        self.l2: float = float(l2)
        self.stop_training: bool = False
        self._last_output: np.ndarray | None = None
        self._skipped: bool = False  # the last step's batch weighed nothing (no output)
        self._epoch_penalty: float = 0.0  # the last C++ epoch's Σ_b (L2 term of loss_b)·W_b
        self.fit_params: dict[str, Any] = {}
        # The fused C++ step (None: not built yet; False: this combination has none).
        self._fused: Any = None
        self.fused: bool = fused

    @property
    def last_output(self) -> np.ndarray | None:
        """The net's output for the last batch of ``step`` (a copy when the step was fused);
        None after a batch whose sample weights sum to 0 (skipped: no forward ran)."""
        if self._last_output is None and self._fused and not self._skipped:
            self._last_output = self._fused.last_output()
        return self._last_output

    def _fused_step(self) -> Any:
        """The ``FusedStep`` for this net/loss/optimizer, built on first use (False if none)."""
        if self._fused is None:
            from .fused import FusedStep, NotFusable

            try:
                self._fused = FusedStep(self.net, self.loss, self.optimizer, self.clip_norm,
                                        self._grad_slots)
            except NotFusable:
                self._fused = False
            else:
                if self.l2:
                    self._fused.set_l2(self.l2, self._l2_per_weight)
                if not self._closure:  # (LBFGS keeps its state itself, not in the engine)
                    self.optimizer._state_hooks.append(self._on_optimizer_state)
        return self._fused

    def _on_optimizer_state(self, writing: bool) -> None:
        # The optimizer is about to read or change its state outside the engine: hand the
        # engine's state back, and after a change rebuild the engine from it at the next step.
        if self._fused:
            self._fused.sync_state()
            if writing:
                self.optimizer._state_hooks.remove(self._on_optimizer_state)
                self._fused = None

    @property
    def lr(self) -> float | None:
        """The learning rate of the optimizer's first parameter group (None if it has none)."""
        groups = getattr(self.optimizer, "param_groups", None)
        return groups[0].get("lr") if groups else None

    def step(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One training step on the batch ``(X, y)``, in train mode; returns the batch's mean
        loss (before the update).

        ``X`` is (n, in_features) of the net's dtype (or a scipy.sparse matrix of it, read by a
        ``Linear`` first layer as CSR rows); ``y`` targets as the loss expects (see
        ``fastgd.losses``); ``sample_weight`` (n,) non-negative weights make the batch loss
        ``Σ wᵢ ℓᵢ / Σ wᵢ`` (a batch whose weights sum to 0 contributes nothing: no update, loss
        0). Gradients are zeroed first, so they hold this batch's gradient after.

        Example:
            >>> trainer.step(X[:32], y[:32])
            2.31
        """
        net = self.net
        fused = self._fused
        if (fused and sample_weight is None and type(X) is np.ndarray and net.training and self.fused
                and not self._closure):  # the usual step, in fewest Python operations
            self._skipped, self._last_output = False, None
            return fused.step_dense(X, y)
        if not net.training:  # the step trains in train mode and leaves the mode as it was
            net.train()
            try:
                return self.step(X, y, sample_weight)
            finally:
                net.eval()
        if type(X) is not np.ndarray and is_sparse(X) and not isinstance(X, CsrRows):  # scipy.sparse
            X = net.check_input(X)
        self._skipped = False
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, len(X), net.dtype)
            if not sample_weight.sum() > 0:
                self._last_output, self._skipped = None, True
                return 0.0
        if self._closure:
            return self._closure_step(X, y, sample_weight)
        if self.fused and self._fused_step():
            self._last_output = None
            if sample_weight is None:
                return self._fused.step(X, y)  # validates X and y in C++ before computing
            return self._fused.step(X, y, sample_weight)
        value = self._backprop(X, y, sample_weight)
        if self.clip_norm is not None:
            optim.clip_grad_norm(net.parameters(), self.clip_norm)
        self.optimizer.step()
        return value

    def _closure_step(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
        """A step of an optimizer that re-evaluates the loss (``LBFGS``): each evaluation of
        the closure is one forward + loss + backward on the batch; returns the first loss."""

        if self.fused and self._fused_step():
            fused = self._fused
            self._last_output = None

            def closure() -> float:  # one C++ forward + loss + backward into the flat grads
                return float(fused.loss_and_grad(X, y, w))
        else:
            def closure() -> float:
                return self._backprop(X, y, w)

        lbfgs: optim.LBFGS = self.optimizer  # type: ignore[assignment]
        return float(lbfgs.step(closure))

    def _backprop(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Forward, loss and backward layer by layer (gradients overwritten), no update."""
        net = self.net
        X = net.check_input(X)
        if len(X) == 0:
            raise ValueError("Trainer.step: X has no samples")
        y = self.loss.check_targets(y, (len(X), net.output_features(X.shape[1])), net.dtype)
        net.zero_grad()
        out = net.forward(X)
        if sample_weight is None:
            value, dout = self.loss(out, y)
        else:
            value, dout = self.loss(out, y, sample_weight=sample_weight)
        net.backward(dout, need_dx=False)
        if self.l2:  # + ½·λ·Σ‖W‖² over the weight matrices: dW += λ·W
            for p in net.regularized_parameters():
                w = p.data.ravel().astype(np.float64)
                value += 0.5 * self.l2 * float(w @ w)
                p.grad += p.grad.dtype.type(self.l2) * p.data
        self._last_output = out
        return value

    def fit(self, X: np.ndarray, y: np.ndarray, *, epochs: int = 10,
            batch_size: int | None = 32, shuffle: bool = True, seed: int | None = 0,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None,
            validation_split: float | None = None, sample_weight: np.ndarray | None = None,
            class_weight: dict[Any, float] | str | None = None,
            progress: bool | None = None, callbacks: Sequence[Callback] | None = None,
            verbose: bool = False, divergence_factor: float | None = 1e6) -> History:
        """The epoch loop behind ``Net.fit`` (see there for the arguments); returns a ``History``.

        The only loop over epochs and batches in fastgd: data-parallel training
        (``fastgd.distributed``) and the scikit-learn estimators run through it, replacing the
        small named pieces below (``_fit_args``, ``_fit_plan``, ``_batch_bounds``,
        ``_train_batch``, ``_reduce``, ``_hook``).

        Every epoch visits the samples in a fresh permutation from
        ``np.random.default_rng(seed)`` (or in order without ``shuffle``) in batches of
        ``batch_size`` (the last one may be smaller). The epoch ``loss`` is the mean of the batch
        losses weighted by their rows (by their summed weights with ``sample_weight`` or
        ``class_weight``), ``accuracy`` the fraction of correct predictions made during the
        epoch (each batch before its update). Training runs in train mode, validation in eval
        mode; the net's mode is restored at the end.
        """
        net, loss = self.net, self.loss
        run = self._fit_args(X, y, epochs, batch_size, shuffle, seed, divergence_factor,
                             validation_data, validation_split, sample_weight, class_weight, callbacks)
        plan = self._fit_plan(run)
        X, epochs = run.X, run.epochs
        take = net.rows if is_lazy(X) else None  # a memory-mapped X is read batch by batch
        history = History()
        bar = self._progress_bar(progress, verbose) if self._is_root else None
        mine = [cb for cb in run.callbacks if self._is_root or not cb.rank_zero_only]
        # History after the user's callbacks, as in Keras: what they add to the logs ("lr") is kept
        everyone: list[Callback] = [*mine, history] + ([bar] if bar else [])
        per_batch = [cb for cb in everyone if cb.needs_batches]
        self.fit_params = {"epochs": epochs, "batch_size": run.batch_size, "steps": plan.steps,
                           "samples": plan.total, "shuffle": run.shuffle, "seed": plan.seed,
                           "loss": loss.name or type(loss).__name__,
                           "optimizer": type(self.optimizer).__name__, "lr": self.lr,
                           "clip_norm": self.clip_norm, **plan.params}
        history.params = dict(self.fit_params)
        self.stop_training = False
        net.loss = loss
        was_training = net.training
        net.train()
        first_loss: float | None = None
        try:
            self._hook(everyone, "set_trainer", self)
            self._hook(everyone, "on_train_begin", {})
            for epoch in range(epochs):
                self._hook(everyone, "on_epoch_begin", epoch, {})
                total, weight, correct, count, first_loss = self._run_epoch(
                    run, plan, epoch, take, per_batch, first_loss)
                self._where = f"the end of epoch {epoch + 1}/{epochs}"
                logs = self._epoch_logs(plan, total, weight, correct, count)
                if self._hook(everyone, "on_epoch_end", epoch, logs):
                    break
            self._where = ""
            self._hook(everyone, "on_train_end", {})
        finally:
            net.train(was_training)
            if bar is not None:
                bar.close()
        return history

    def _run_epoch(self, run: _FitArgs, plan: _Plan, epoch: int, take: Any,
                   per_batch: list[Callback], first_loss: float | None
                   ) -> tuple[float, float, float, float, float | None]:
        """One epoch's batches: ``(Σ loss·weight, Σ weight, correct, predictions, first batch
        loss of the run)``. In C++ (``_epoch_in_cpp``) when the step is fused and nothing needs
        to see single batches, else the Python loop over ``step`` (``_epoch_in_python``); both
        take the epoch's permutation from ``plan.rng`` first and give the same weights."""
        order = plan.rng.permutation(plan.rows) if run.shuffle else None
        if take is None and not per_batch and not isinstance(run.X, CsrRows) and self._cpp_epochs():
            return self._epoch_in_cpp(run, plan, epoch, order, first_loss)
        return self._epoch_in_python(run, plan, epoch, order, take, per_batch, first_loss)

    def _cpp_epochs(self) -> bool:
        """Whether ``Engine.epoch`` can run an epoch: the step is fused (and not LBFGS's
        closure), and ``step`` and the pieces of the batch loop are ``Trainer``'s own or those
        of a class that declares ``_cpp_epoch_compatible`` in its own body (a subclass of it
        that overrides them again does not inherit the declaration)."""
        mro = type(self).__mro__

        def compatible(name: str) -> bool:
            owner = next(k for k in mro if name in vars(k))
            return owner is Trainer or bool(vars(owner).get("_cpp_epoch_compatible", False))

        return (self.fused and not self._closure
                and all(compatible(name) for name in ("step", "_train_batch", "_batch_bounds"))
                and bool(self._fused_step()))

    def _epoch_in_cpp(self, run: _FitArgs, plan: _Plan, epoch: int, order: np.ndarray | None,
                      first_loss: float | None) -> tuple[float, float, float, float, float | None]:
        """The epoch as one C++ call (``Engine.epoch``): the same steps on the same batches as
        ``_epoch_in_python``, the loss and accuracy sums kept in C++ (in float64), the
        divergence check after every batch; Ctrl-C interrupts it between two batches."""
        fused, loss = self._fused, self.loss
        X, y, w = run.X, run.y, run.w
        self._where = f"epoch {epoch + 1}/{run.epochs}"
        self._last_output = None
        total, weight, correct, count, done, value, first, diverged, penalty = fused.epoch(
            X, y, plan.batch_size, order, w, run.divergence_factor, first_loss,
            loss.is_classification and self._count_correct, self._epoch_rows_weight)
        self._epoch_penalty = penalty  # Σ of the batches' L2 terms times their weights
        lo = (done - 1) * plan.batch_size
        last = slice(lo, lo + plan.batch_size) if order is None else order[lo:lo + plan.batch_size]
        fused.last_X = X[last]  # (the one-pass MSE step recomputes last_output from it)
        if diverged:  # (first is the run's first loss before this batch: None if it is the first)
            raise self._everyone(DivergenceError(self._divergence_message(
                value, first, epoch, run.epochs, done - 1, plan.steps, X, y,
                run.divergence_factor or 0.0)))
        return total, weight, correct, count, first

    def _epoch_in_python(self, run: _FitArgs, plan: _Plan, epoch: int, order: np.ndarray | None,
                         take: Any, per_batch: list[Callback], first_loss: float | None
                         ) -> tuple[float, float, float, float, float | None]:
        """The epoch as a Python loop over ``_train_batch`` (``step``), with the batch hooks."""
        loss, epochs = self.loss, run.epochs
        X, y, w = run.X, run.y, run.w
        total = weight = correct = count = 0.0
        for b in range(plan.steps):
            lo, hi, global_rows = self._batch_bounds(plan, b)
            idx: Any = slice(lo, hi) if order is None else order[lo:hi]
            Xb = X[idx] if take is None else take(X, idx)
            yb, wb = y[idx], None if w is None else w[idx]
            self._where = f"batch {b + 1}/{plan.steps} of epoch {epoch + 1}/{epochs}"
            if per_batch:
                self._hook(per_batch, "on_batch_begin", b, {"size": hi - lo})
            value, wsum = self._train_batch(Xb, yb, wb, global_rows)
            if run.divergence_factor is not None and (
                    not math.isfinite(value)
                    or (first_loss is not None
                        and value > run.divergence_factor * max(first_loss, 1.0))):
                raise self._everyone(DivergenceError(self._divergence_message(
                    value, first_loss, epoch, epochs, b, plan.steps, X, y,
                    run.divergence_factor)))
            if first_loss is None:
                first_loss = value
            total, weight = total + value * wsum, weight + wsum
            # (a batch weighing nothing was skipped: no output, its rows count in no metric)
            if self._count_correct and loss.is_classification and hi > lo and self.last_output is not None:
                with self._guard("while counting correct predictions"):
                    c, k = loss.n_correct(self.last_output, yb)  # type: ignore[arg-type]
                    correct, count = correct + c, count + k
            if per_batch:
                self._hook(per_batch, "on_batch_end", b, {"loss": value, "size": hi - lo})
        return total, weight, correct, count, first_loss

    # ------------------------------------------------------------------ the pieces of fit
    # Single-process versions; fastgd.distributed.DistributedTrainer replaces them.

    _is_root = True  # runs rank_zero_only callbacks and the progress bar
    _count_correct = True  # the epoch's accuracy (the scikit-learn estimators do without)
    _where = ""      # where fit is (for error messages)

    def _fit_args(self, *args: Any) -> _FitArgs:
        """``fit``'s arguments, checked and converted (see ``_check_fit_args``)."""
        return self._check_fit_args(*args)

    def _fit_plan(self, run: _FitArgs) -> _Plan:
        """How the epochs visit the data: here every row of ``X`` in batches of ``batch_size``."""
        n = len(run.X)
        return _Plan(rows=n, total=n, steps=-(-n // run.batch_size), batch_size=run.batch_size,
                     rng=np.random.default_rng(run.seed), seed=run.seed, val=run.val)

    def _batch_bounds(self, plan: _Plan, b: int) -> tuple[int, int, int | None]:
        """Rows ``[lo, hi)`` (of the epoch's order) of batch ``b``, and the global batch size
        (None when only this process knows it)."""
        lo = b * plan.batch_size
        hi = min(lo + plan.batch_size, plan.rows)
        return lo, hi, hi - lo

    def _train_batch(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                     global_rows: int | None) -> tuple[float, float]:
        """One step on a batch: ``(its mean loss, its weight in the epoch's mean)``."""
        value = self.step(X, y, w)
        return value, float(len(X) if w is None else w.sum())

    def _reduce(self, what: str, *values: float) -> tuple[float, ...]:
        """Sum ``values`` over the processes taking part (here: one)."""
        return values

    def _hook(self, callbacks: list[Callback], hook: str, *args: Any) -> bool:
        """Run ``hook`` of every callback; returns whether training should stop."""
        for cb in callbacks:
            getattr(cb, hook)(*args)
        return self.stop_training

    def _guard(self, what: str) -> AbstractContextManager[None]:
        """Where an exception is caught to be raised later on every process (here: nowhere)."""
        return nullcontext()

    def _everyone(self, exc: BaseException) -> BaseException:
        """``exc``, raised on every process at once (here: the only one)."""
        return exc

    def _epoch_logs(self, plan: _Plan, total: float, weight: float, correct: float,
                    count: float) -> dict[str, float]:
        """The epoch's metrics: training sums reduced, validation evaluated in eval mode."""
        net, loss = self.net, self.loss
        vsum = vweight = vcorrect = vcount = 0.0
        if plan.val is not None:
            with self._guard("while evaluating its part of validation_data"), _mode(net, False):
                vsum, vweight, vcorrect, vcount = metric_sums(net, loss, *plan.val, _EVAL_BATCH)
        correct, count, vsum, vweight, vcorrect, vcount = self._reduce(
            "the reduction of the epoch's metrics", correct, count, vsum, vweight, vcorrect, vcount)
        logs = {"loss": total / weight if weight else 0.0}
        if loss.is_classification:
            logs["accuracy"] = correct / count if count else math.nan
        if plan.val is not None:
            logs["val_loss"] = vsum / vweight if vweight else math.nan
            if loss.is_classification:
                logs["val_accuracy"] = vcorrect / vcount if vcount else math.nan
        return logs

    def _check_fit_args(self, X: Any, y: Any, epochs: Any, batch_size: Any, shuffle: Any, seed: Any,
                        divergence_factor: Any, validation_data: Any, validation_split: Any,
                        sample_weight: Any, class_weight: Any, callbacks: Any) -> _FitArgs:
        """Validate ``fit``'s arguments; split off ``validation_split``; combine the weights."""
        net, loss = self.net, self.loss
        X = net.as_input(X)
        n = len(X)
        if n == 0:
            raise ValueError("fit: X has no samples")
        y = net.as_targets(loss, y, X)
        if isinstance(X, CsrRows):
            bad = X.first_nonfinite()
            if bad is not None:
                raise ValueError(f"fit: X contains NaN or inf (first at index {bad}); remove or "
                                 "impute those values before training")
        else:
            for i in range(0, n, _EVAL_BATCH if is_lazy(X) else max(n, 1)):
                _check_finite(net.rows(X, slice(i, i + _EVAL_BATCH)) if is_lazy(X) else X, "X", i)
        if y.dtype.kind == "f":
            _check_finite(y, "y")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or int(epochs) < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        if divergence_factor is not None and not (isinstance(divergence_factor, numbers.Real)
                                                  and float(divergence_factor) > 1):
            raise ValueError(f"fit: divergence_factor must be a number > 1 or None, got "
                             f"{divergence_factor!r}")
        w = None if sample_weight is None else check_sample_weight(sample_weight, n, net.dtype)
        if class_weight is not None:
            cw = class_weights(loss, y, class_weight, net.output_features(X.shape[1]))
            w = cw.astype(net.dtype) if w is None else w * cw.astype(net.dtype)
        val = None
        if validation_split is not None:
            if validation_data is not None:
                raise ValueError("fit: pass validation_data or validation_split, not both")
            if (isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
                    or not 0 <= float(validation_split) < 1):
                raise ValueError(f"fit: validation_split must be a number in [0, 1), got "
                                 f"{validation_split!r}")
            # Keras: the last fraction of the samples, taken before any shuffling; the first
            # floor(n·(1 - validation_split)) samples train (Keras' train_validation_split).
            cut = int(math.floor(n * (1.0 - float(validation_split))))
            if float(validation_split) > 0 and (cut == n or cut == 0):
                raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                                 f"{'no validation' if cut == n else 'no training'} samples")
            if cut < n:
                val = (X[cut:], y[cut:], None if w is None else w[cut:])
                X, y, w = X[:cut], y[:cut], None if w is None else w[:cut]
                n = cut
        if batch_size is None:
            batch_size = n
        elif (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
              or batch_size < 1):
            raise ValueError(f"fit: batch_size must be a positive int or None, got {batch_size!r}")
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (X_val, y_val) or "
                                 "(X_val, y_val, sample_weight_val)")
            Xv = net.as_input(validation_data[0], "validation_data[0]")
            yv = net.as_targets(loss, validation_data[1], Xv, name="validation_data[1]")
            wv = None
            if len(validation_data) == 3 and validation_data[2] is not None:
                wv = check_sample_weight(validation_data[2], len(Xv), net.dtype,
                                         "validation_data[2]")
            val = (Xv, yv, wv)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be fastgd.callbacks.Callback instances, "
                                f"got {cb!r}")
        return _FitArgs(X, y, w, int(epochs), int(batch_size), bool(shuffle), seed,
                        None if divergence_factor is None else float(divergence_factor),
                        val, callbacks)

    @staticmethod
    def _progress_bar(progress: bool | None, verbose: bool) -> ProgressBar | None:
        """The progress callback ``fit(progress=..., verbose=...)`` asks for, or None."""
        show_bar = bool(progress or (progress is None and sys.stdout.isatty())) and _tqdm_available()
        lines = bool(verbose) or (progress is True and not show_bar)
        return ProgressBar(bar=True, lines=lines) if show_bar else (
            ProgressBar(bar=False, lines=True) if lines else None)

    def _divergence_message(self, value: float, first_loss: float | None, epoch: int,
                            epochs: int, batch: int, steps: int, X: np.ndarray, y: np.ndarray,
                            factor: float) -> str:
        what = "is not finite" if not math.isfinite(value) else "exploded"
        head = (f"training diverged: the loss {what} (loss = {value:.3g} at epoch "
                f"{epoch + 1}/{epochs}, batch {batch + 1}/{steps}")
        head += ")." if first_loss is None else f"; the first batch's loss was {first_loss:.3g})."
        rule = (f" fit stops when a batch loss is NaN/inf or exceeds divergence_factor "
                f"({factor:.3g}) x max(first batch loss, 1).")
        lr = self.lr
        tips = [
            "lower the learning rate" + (f" (currently lr={lr:g}; try lr={lr / 10:g})"
                                         if isinstance(lr, numbers.Real) else ""),
        ]
        if is_lazy(X):  # a memory-mapped X: judge the scale on its first rows
            X = self.net.rows(X, slice(0, _EVAL_BATCH))
        if isinstance(X, CsrRows):
            x_max, x_std = X.abs_max(), X.column_std()
        else:
            x_max, x_std = float(np.max(np.abs(X))), X.std(axis=0)
        scale_note = f"the features reach |X| = {x_max:.3g}"
        if x_std.size:
            scale_note += f" and their standard deviations span {x_std.min():.3g}..{x_std.max():.3g}"
        tips.append(
            "standardise the features (and regression targets) to zero mean and unit variance, "
            "e.g. X = (X - X.mean(0)) / X.std(0) or sklearn's StandardScaler: large raw values "
            "(such as polynomial features of an unscaled x) make the gradients explode; "
            + scale_note)
        if not self.loss.is_classification and y.dtype.kind == "f":
            tips.append(f"the targets have standard deviation {float(y.std()):.3g}: scale them "
                        "too (and un-scale the predictions)")
        tips.append("check the labels/targets: wrong values, a wrong loss for the task "
                    f"(loss={self.loss.name!r}) or classes outside the net's outputs")
        if self.clip_norm is None:
            tips.append("clip the gradient norm, e.g. clip_norm=1.0")
        tips.append("pass divergence_factor=None to fit to disable this check")
        return head + rule + " Things to try:\n" + "\n".join(f"  - {t}" for t in tips)

    def __repr__(self) -> str:
        return (f"Trainer(loss={self.loss!r}, optimizer={type(self.optimizer).__name__}, "
                f"clip_norm={self.clip_norm})")


def _check_finite(a: np.ndarray, name: str, row0: int = 0) -> None:
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        bad[0] += row0
        raise ValueError(f"fit: {name} contains NaN or inf (first at index {tuple(bad.tolist())}); "
                         "remove or impute those values before training")


def fit_net(net: Net, X: Any, y: Any, *, loss: str | Loss, optimizer: Any, clip_norm: float | None,
            l2: float, distributed: bool, optimizer_hyper: dict[str, Any], **fit_args: Any) -> History:
    """``Net.fit``: a ``Trainer`` (a ``DistributedTrainer`` with ``distributed=True``) and its
    ``fit``."""
    trainer: Trainer
    if distributed:
        from .distributed import DistributedTrainer

        trainer = DistributedTrainer(net, loss=loss, optimizer=optimizer, clip_norm=clip_norm, l2=l2,
                                     **optimizer_hyper)
    else:
        trainer = Trainer(net, loss=loss, optimizer=optimizer, clip_norm=clip_norm, l2=l2,
                          **optimizer_hyper)
    return trainer.fit(X, y, **fit_args)
