"""``Trainer``: one training step (forward, loss, backward, update) and the epoch loop of ``fit``."""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import optim
from .callbacks import Callback, History, ProgressBar
from .errors import DivergenceError
from .losses import Loss, get_loss
from .net import Net

__all__ = ["Trainer"]

# Validation sets are evaluated in chunks of this many rows to bound the activations' memory.
_EVAL_BATCH = 8192


def _tqdm_available() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


class Trainer:
    """Trains ``net`` on ``loss`` with an optimizer from ``fastgd.optim``.

    ``step(X, y)`` is one gradient-descent step on one batch:
    ``zero_grad -> forward -> loss -> backward -> (clip) -> optimizer.step``. ``Net.fit`` is a
    loop over ``step``; use a ``Trainer`` directly for your own loop.

    Args:
        net: the ``Net`` to train.
        loss: ``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"`` or a ``Loss``.
        optimizer: ``"sgd"``, ``"adam"``, ``"adamw"``, a ``fastgd.optim`` class or an instance
            built over ``net.parameters()``.
        clip_norm: if given, clip the global gradient norm to it before every update.
        fused: run each step as one C++ call when the net has only built-in layers, the loss is
            built in and the optimizer is SGD/Adam/AdamW with one parameter group (the default);
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

    def __init__(self, net: Net, loss: str | Loss = "mse", optimizer: Any = "sgd",
                 clip_norm: float | None = None, fused: bool = True,
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
        self.stop_training = False
        self._last_output: np.ndarray | None = None
        self.fit_params: dict[str, Any] = {}
        # The fused C++ step (None: not built yet; False: this combination has none).
        self._fused: Any = None
        self.fused = fused

    @property
    def last_output(self) -> np.ndarray | None:
        """The net's output for the last batch of ``step`` (a copy when the step was fused)."""
        if self._last_output is None and self._fused:
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

    def step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One training step on the batch ``(X, y)``; returns the batch's mean loss (before
        the update).

        ``X`` is (n, in_features) of the net's dtype; ``y`` targets as the loss expects (see
        ``fastgd.losses``). Gradients are zeroed first, so they hold this batch's gradient after.

        Example:
            >>> trainer.step(X[:32], y[:32])
            2.31
        """
        if self.fused and self._fused_step():
            self._last_output = None
            return self._fused.step(X, y)  # validates X and y in C++ before computing
        net = self.net
        X = net.check_input(X)
        if len(X) == 0:
            raise ValueError("Trainer.step: X has no samples")
        y = self.loss.check_targets(y, (len(X), net.output_features(X.shape[1])), net.dtype)
        net.zero_grad()
        out = net.forward(X)
        value, dout = self.loss(out, y)
        net.backward(dout, need_dx=False)
        if self.clip_norm is not None:
            optim.clip_grad_norm(net.parameters(), self.clip_norm)
        self.optimizer.step()
        self._last_output = out
        return value

    def fit(self, X: np.ndarray, y: np.ndarray, *, epochs: int = 10,
            batch_size: int | None = 32, shuffle: bool = True, seed: int | None = 0,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None,
            progress: bool | None = None, callbacks: Sequence[Callback] | None = None,
            verbose: bool = False, divergence_factor: float | None = 1e6) -> History:
        """The epoch loop behind ``Net.fit`` (see there for the arguments); returns a ``History``.

        Every epoch visits the samples in a fresh permutation from
        ``np.random.default_rng(seed)`` (or in order without ``shuffle``) in batches of
        ``batch_size`` (the last one may be smaller). The epoch ``loss`` is the sample-weighted
        mean of the batch losses, ``accuracy`` the fraction of correct predictions made during
        the epoch (each batch before its update).
        """
        net, loss = self.net, self.loss
        X, y, epochs, batch_size, val, callbacks = self._check_fit_args(
            X, y, epochs, batch_size, divergence_factor, validation_data, callbacks)
        n = len(X)
        history = History()
        bar = self._progress_bar(progress, verbose)
        # History after the user's callbacks, as in Keras: what they add to logs ("lr") is kept.
        everyone: list[Callback] = [*callbacks, history] + ([bar] if bar else [])
        steps = -(-n // batch_size)
        self.fit_params = {"epochs": int(epochs), "batch_size": batch_size, "steps": steps,
                           "samples": n, "shuffle": bool(shuffle), "seed": seed,
                           "loss": loss.name or type(loss).__name__,
                           "optimizer": type(self.optimizer).__name__, "lr": self.lr,
                           "clip_norm": self.clip_norm}
        history.params = dict(self.fit_params)
        self.stop_training = False
        net.loss = loss
        rng = np.random.default_rng(seed)
        first_loss: float | None = None
        for cb in everyone:
            cb.set_trainer(self)
        try:
            for cb in everyone:
                cb.on_train_begin({})
            for epoch in range(int(epochs)):
                for cb in everyone:
                    cb.on_epoch_begin(epoch, {})
                order = rng.permutation(n) if shuffle else None
                total, correct, count = 0.0, 0, 0
                for b, start in enumerate(range(0, n, batch_size)):
                    if order is None:
                        Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
                    else:
                        idx = order[start:start + batch_size]
                        Xb, yb = X[idx], y[idx]
                    for cb in everyone:
                        cb.on_batch_begin(b, {})
                    value = self.step(Xb, yb)
                    if divergence_factor is not None and (
                            not math.isfinite(value)
                            or (first_loss is not None
                                and value > divergence_factor * max(first_loss, 1.0))):
                        raise DivergenceError(self._divergence_message(
                            value, first_loss, epoch, epochs, b, steps, X, y, divergence_factor))
                    if first_loss is None:
                        first_loss = value
                    for cb in everyone:
                        cb.on_batch_end(b, {"loss": value})
                    total += value * len(Xb)
                    if loss.is_classification:
                        c, k = loss.n_correct(self.last_output, yb)  # type: ignore[arg-type]
                        correct, count = correct + c, count + k
                logs = {"loss": total / n}
                if loss.is_classification:
                    logs["accuracy"] = correct / count
                if val is not None:
                    metrics = net.evaluate(val[0], val[1], loss=loss, batch_size=_EVAL_BATCH)
                    logs.update({f"val_{k}": v for k, v in metrics.items()})
                for cb in everyone:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            for cb in everyone:
                cb.on_train_end({})
        finally:
            if bar is not None:
                bar.close()
        return history

    def _check_fit_args(self, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int | None,
                        divergence_factor: float | None,
                        validation_data: tuple[np.ndarray, np.ndarray] | None,
                        callbacks: Sequence[Callback] | None
                        ) -> tuple[np.ndarray, np.ndarray, int, int, tuple[np.ndarray, np.ndarray] | None,
                                   list[Callback]]:
        """Validate ``fit``'s arguments; return ``(X, y, epochs, batch_size, val, callbacks)``."""
        net, loss = self.net, self.loss
        X = net.check_input(X)
        n = len(X)
        if n == 0:
            raise ValueError("fit: X has no samples")
        y = loss.check_targets(y, (n, net.output_features(X.shape[1])), net.dtype)
        _check_finite(X, "X")
        if y.dtype.kind == "f":
            _check_finite(y, "y")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        if batch_size is None:
            batch_size = n
        elif (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
              or batch_size < 1):
            raise ValueError(f"fit: batch_size must be a positive int or None, got {batch_size!r}")
        if divergence_factor is not None and not (isinstance(divergence_factor, numbers.Real)
                                                  and divergence_factor > 1):
            raise ValueError(f"fit: divergence_factor must be a number > 1 or None, got "
                             f"{divergence_factor!r}")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (X_val, y_val)")
            Xv = net.check_input(validation_data[0], "validation_data[0]")
            yv = loss.check_targets(validation_data[1],
                                    (len(Xv), net.output_features(Xv.shape[1])), net.dtype,
                                    name="validation_data[1]")
            val = (Xv, yv)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be fastgd.callbacks.Callback instances, "
                                f"got {cb!r}")
        return X, y, int(epochs), int(batch_size), val, callbacks

    @staticmethod
    def _progress_bar(progress: bool | None, verbose: bool) -> ProgressBar | None:
        """The progress callback ``fit(progress=..., verbose=...)`` asks for, or None."""
        show_bar = _tqdm_available() and (progress or (progress is None and sys.stdout.isatty()))
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
        x_max = float(np.max(np.abs(X)))
        x_std = X.std(axis=0)
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


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"fit: {name} contains NaN or inf (first at index {tuple(bad.tolist())}); "
                         "remove or impute those values before training")
