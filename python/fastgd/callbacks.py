"""Callbacks for ``Net.fit``: hooks called at the start/end of training and of every epoch.

``fit`` calls, for every callback in order: ``set_trainer(trainer)`` once, then
``on_train_begin(logs)``, per epoch ``on_epoch_begin(epoch, logs)``, per batch
``on_batch_begin(batch, logs)`` and ``on_batch_end(batch, logs)`` (only for callbacks that
override them) and ``on_epoch_end(epoch, logs)`` (``logs`` holds that epoch's metrics, e.g. ``{"loss": 0.3,
"val_loss": 0.4}``), and ``on_train_end(logs)``. A callback stops training by setting
``self.trainer.stop_training = True``; ``self.net`` is the net being trained.

In data-parallel training (``fastgd.distributed``) every process runs the callbacks with the same
(reduced) metrics, except those with ``rank_zero_only = True`` (progress output, checkpoints),
which only rank 0 runs.

Example:
    >>> hist = net.fit(X, y, validation_data=(Xv, yv),
    ...                callbacks=[EarlyStopping(patience=3),
    ...                           LambdaCallback(on_epoch_end=lambda e, logs: print(e, logs))])
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

if TYPE_CHECKING:
    from .net import Net
    from .trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "ModelCheckpoint", "ProgressBar"]

Logs = dict[str, float]


class Callback:
    """Base class: every hook does nothing. Subclass and override the hooks you need.

    Attributes (set by ``fit`` before ``on_train_begin``):
        trainer: the ``Trainer`` running ``fit``; set ``trainer.stop_training = True`` to stop
            after the current epoch.
        net: the ``Net`` being trained.

    Class attribute ``rank_zero_only``: in data-parallel training (``fastgd.distributed``), run
    this callback on rank 0 only (set it for callbacks that print or write files; False, the
    default, runs it on every rank, as callbacks that stop training or restore weights must).

    Example:
        >>> class StopAtLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs):
        ...         if logs["loss"] < 0.01:
        ...             self.trainer.stop_training = True
    """

    trainer: Trainer
    net: Net
    rank_zero_only: bool = False

    def set_trainer(self, trainer: Trainer) -> None:
        """Attach to the trainer (and its net) that is about to run ``fit``."""
        self.trainer = trainer
        self.net = trainer.net

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """Called after epoch ``epoch`` with its metrics (``loss``, ``val_loss``, ...)."""

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before training step ``batch`` (0-based within the epoch); ``logs["size"]``
        is the batch's rows on this process. ``fit`` calls the batch hooks only of callbacks
        that override them (epochs without per-batch callbacks run without the calls)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after training step ``batch`` with ``logs["loss"]``, its mean loss."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once after the last epoch (also after an early stop)."""


class History(Callback):
    """Records the metrics of every epoch; ``Net.fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one entry per
            epoch.
        epoch: the epoch indices ``[0, 1, ...]``.
        params: the settings of the run (``epochs``, ``batch_size``, ``steps``, ``samples``,
            ``loss``, ``optimizer``, ...).

    Example:
        >>> hist = net.fit(X, y, epochs=3)
        >>> len(hist.history["loss"]), hist.epoch
        (3, [0, 1, 2])
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. to log or plot per epoch.

    Args:
        on_epoch_end: ``f(epoch, logs)`` after every epoch.
        on_epoch_begin: ``f(epoch, logs)`` before every epoch.
        on_train_begin, on_train_end: ``f(logs)``.

    Example:
        >>> losses = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(self, on_epoch_end: Callable[[int, Logs], Any] | None = None,
                 on_epoch_begin: Callable[[int, Logs | None], Any] | None = None,
                 on_train_begin: Callable[[Logs | None], Any] | None = None,
                 on_train_end: Callable[[Logs | None], Any] | None = None) -> None:
        for name, f in (("on_epoch_end", on_epoch_end), ("on_epoch_begin", on_epoch_begin),
                        ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if f is not None and not callable(f):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {f!r}")
        self._epoch_end, self._epoch_begin = on_epoch_end, on_epoch_begin
        self._train_begin, self._train_end = on_train_begin, on_train_end

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._train_begin is not None:
            self._train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._epoch_begin is not None:
            self._epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._epoch_end is not None:
            self._epoch_end(epoch, logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._train_end is not None:
            self._train_end(logs)


class EarlyStopping(Callback):
    """Stop when a monitored metric has not improved for ``patience`` epochs.

    An epoch improves on the best so far when ``value < best - min_delta`` (mode ``"min"``) or
    ``value > best + min_delta`` (mode ``"max"``); ``"auto"`` is ``"max"`` for metrics whose name
    ends in ``accuracy`` and ``"min"`` otherwise. After ``patience`` epochs in a row without
    improvement training stops. With ``restore_best_weights`` the net ends with the weights of
    the best epoch (in place: ``net.parameters()`` stay the same objects).

    Attributes:
        best: best value seen. best_epoch: its epoch. stopped_epoch: the epoch training stopped
        at, or None if it ran to the end.

    Example:
        >>> es = EarlyStopping(monitor="val_loss", patience=5)
        >>> net.fit(X, y, validation_data=(Xv, yv), epochs=200, callbacks=[es])
        >>> es.best_epoch, es.stopped_epoch
        (41, 46)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True, mode: str = "auto") -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a metric name, got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if not isinstance(min_delta, numbers.Real) or not min_delta >= 0 or math.isinf(min_delta):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number >= 0, got "
                             f"{min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor: str = monitor
        self.patience: int = int(patience)
        self.min_delta: float = float(min_delta)
        self.restore_best_weights: bool = bool(restore_best_weights)
        if mode == "auto":
            mode = "max" if monitor.endswith("accuracy") else "min"
        self.mode: str = mode
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_weights: list[np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.monitor not in logs:
            hint = " (pass validation_data= to fit)" if self.monitor.startswith("val_") else ""
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not among the "
                             f"epoch metrics {sorted(logs)}{hint}")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = [p.data.copy() for p in self.net.parameters()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            for p, best in zip(self.net.parameters(), self._best_weights, strict=True):
                p.data[...] = best

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, restore_best_weights={self.restore_best_weights}, "
                f"mode={self.mode!r})")


class ModelCheckpoint(Callback):
    """Save the net (and its optimizer's state) with ``Net.save`` after every epoch, or only
    when a monitored metric improves.

    ``path`` may hold ``{epoch}`` (1-based) and metric names as format fields, e.g.
    ``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"``; without them each save replaces the last. Files
    are written atomically, so a crash never leaves a half-written checkpoint. In data-parallel
    training only rank 0 writes (``rank_zero_only``); the replicas are identical.

    Args:
        path: file name, optionally with format fields.
        monitor: None (save every epoch) or a metric name: save only when it improves on the best
            so far (``"min"``, or ``"max"`` for names ending in ``accuracy`` when ``mode="auto"``).
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_optimizer: also save the optimizer's state, so ``Net.load(path,
            with_optimizer=True)`` resumes training exactly.

    Attributes:
        saved: the paths written, in order. best: the best monitored value so far.

    Example:
        >>> net.fit(X, y, validation_data=(Xv, yv),
        ...         callbacks=[ModelCheckpoint("best.npz", monitor="val_loss")])
        >>> net, opt = fg.Net.load("best.npz", with_optimizer=True)
    """

    rank_zero_only = True

    def __init__(self, path: str, monitor: str | None = None, mode: str = "auto",
                 save_optimizer: bool = True) -> None:
        if not isinstance(path, str) or not path:
            raise TypeError(f"ModelCheckpoint: path must be a non-empty str, got {path!r}")
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"ModelCheckpoint: monitor must be a metric name or None, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if monitor is not None and monitor.endswith("accuracy") else "min"
        self.path, self.monitor, self.mode = path, monitor, mode
        self.save_optimizer = bool(save_optimizer)
        self.saved: list[str] = []
        self.best = math.inf if mode == "min" else -math.inf

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.monitor is not None:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, which is not among "
                                 f"the epoch metrics {sorted(logs)}")
            value = logs[self.monitor]
            if not (value < self.best if self.mode == "min" else value > self.best):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        self.net.save(path, optimizer=self.trainer.optimizer if self.save_optimizer else None)
        self.saved.append(path)

    def __repr__(self) -> str:
        return f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, mode={self.mode!r})"


def format_logs(logs: Logs) -> str:
    """``"loss 0.1234  accuracy 0.9500"``: metrics for one line of output."""
    return "  ".join(f"{k} {v:.4g}" for k, v in logs.items())


class ProgressBar(Callback):
    """Progress over epochs: a tqdm bar with the latest metrics, or one text line per epoch.

    ``fit(progress=True)`` adds one (tqdm when installed, else text lines); ``verbose=True``
    prints the text lines (through tqdm when a bar is shown).

    Args:
        bar: use a tqdm bar (requires tqdm). lines: print one line of metrics per epoch.
        file: where to write (default ``sys.stdout``).

    Example:
        >>> net.fit(X, y, callbacks=[ProgressBar(bar=False, lines=True)])
    """

    rank_zero_only = True

    def __init__(self, bar: bool = True, lines: bool = False, file: TextIO | None = None) -> None:
        self.bar, self.lines, self.file = bar, lines, file
        self._tqdm: Any = None
        self._t0 = 0.0
        self._epochs = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._epochs = int(self.trainer.fit_params.get("epochs", 0))
        if self.bar:
            from tqdm import tqdm

            self._tqdm = tqdm(total=self._epochs, unit="epoch", file=self.file or sys.stdout,
                              dynamic_ncols=True, leave=True)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        seconds = time.perf_counter() - self._t0
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(format_logs(logs), refresh=False)
            self._tqdm.update(1)
        if self.lines:
            line = f"epoch {epoch + 1}/{self._epochs}  {format_logs(logs)}  ({seconds:.3f} s)"
            if self._tqdm is not None:
                self._tqdm.write(line, file=self.file or sys.stdout)
            else:
                print(line, file=self.file or sys.stdout, flush=True)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Close the bar (also called by ``fit`` when training raises)."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
