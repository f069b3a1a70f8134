"""Callbacks for ``Net.fit``: hooks called at the start/end of training and of every epoch.

``fit`` calls, for every callback in order: ``set_trainer(trainer)`` once, then
``on_train_begin(logs)``, per epoch ``on_epoch_begin(epoch, logs)``, per batch
``on_batch_begin(batch, logs)`` and ``on_batch_end(batch, {"loss": batch loss, ...})`` (only for
callbacks that override them), and ``on_epoch_end(epoch, logs)`` (``logs`` holds that epoch's
metrics, e.g. ``{"loss": 0.3, "val_loss": 0.4}``; a callback may add entries, e.g. ``"lr"``, and
the ``History``, called after the callbacks, records them), and ``on_train_end(logs)``. A callback
stops training by setting
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
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

if TYPE_CHECKING:
    from .net import Net
    from .trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "LearningRateScheduler",
           "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau"]

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

    @property
    def needs_batches(self) -> bool:
        """Whether ``fit`` must call this callback's batch hooks: by default, whether its class
        overrides them. ``fit`` calls the batch hooks only of callbacks that need them; an
        epoch without any runs as one C++ call when the step is fused (``Engine.epoch``)."""
        kind = type(self)
        return (kind.on_batch_begin is not Callback.on_batch_begin
                or kind.on_batch_end is not Callback.on_batch_end)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before training step ``batch`` (0-based within the epoch); ``logs["size"]``
        is the batch's rows on this process. Only called when ``needs_batches``."""

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

    def plot(self, metrics: Sequence[str] | None = None, path: str | os.PathLike[str] | None = None,
             ax: Any = None) -> Any:
        """The learning curves (``fastgd.plot.learning_curves``): losses on one panel, accuracies
        on a second, validation dashed; returns the matplotlib Figure (shown inline in Jupyter).
        Needs matplotlib.

        Example:
            >>> net.fit(X, y, epochs=20, validation_split=0.2).plot()
        """
        from .plot import learning_curves

        return learning_curves(self, metrics=metrics, path=path, ax=ax)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. to log or plot per epoch.

    Args:
        on_epoch_end: ``f(epoch, logs)`` after every epoch.
        on_epoch_begin: ``f(epoch, logs)`` before every epoch.
        on_train_begin, on_train_end: ``f(logs)``.
        on_batch_begin, on_batch_end: ``f(batch, logs)`` around every training step.

    Example:
        >>> losses = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(self, on_epoch_end: Callable[[int, Logs], Any] | None = None,
                 on_epoch_begin: Callable[[int, Logs | None], Any] | None = None,
                 on_train_begin: Callable[[Logs | None], Any] | None = None,
                 on_train_end: Callable[[Logs | None], Any] | None = None,
                 on_batch_begin: Callable[[int, Logs | None], Any] | None = None,
                 on_batch_end: Callable[[int, Logs | None], Any] | None = None) -> None:
        for name, f in (("on_epoch_end", on_epoch_end), ("on_epoch_begin", on_epoch_begin),
                        ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                        ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end)):
            if f is not None and not callable(f):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {f!r}")
        self._epoch_end, self._epoch_begin = on_epoch_end, on_epoch_begin
        self._train_begin, self._train_end = on_train_begin, on_train_end
        self._batch_begin, self._batch_end = on_batch_begin, on_batch_end

    @property
    def needs_batches(self) -> bool:
        return self._batch_begin is not None or self._batch_end is not None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._train_begin is not None:
            self._train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._epoch_begin is not None:
            self._epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self._epoch_end is not None:
            self._epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self._batch_begin is not None:
            self._batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batch_end is not None:
            self._batch_end(batch, logs)

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

    The bar is ``tqdm.auto``'s: a widget in Jupyter, text in a terminal.

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
            from tqdm.auto import tqdm

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


def _first_lr(trainer: Trainer) -> float:
    return float(trainer.optimizer.param_groups[0]["lr"])


class LearningRateScheduler(Callback):
    """Drive a learning-rate schedule from ``fit``: a ``fastgd.optim.schedules`` scheduler
    (torch style), or a Keras-style function ``schedule(epoch, lr) -> new lr``.

    With a scheduler built over the optimizer given to ``fit``, ``scheduler.step()`` runs after
    every epoch (``interval="epoch"``, torch's usual loop) or after every training step
    (``interval="step"``, e.g. for ``OneCycleLR``). A function sets every param group's lr to
    ``schedule(epoch, lr)`` at the start of each epoch, as Keras' ``LearningRateScheduler``
    does (with ``interval="step"``: ``schedule(step, lr)`` before every step, ``step`` counting
    from 0 over the whole run). Each epoch's logs get ``"lr"``: the first group's lr at the end
    of the epoch (as Keras logs the optimizer's current lr): with ``interval="epoch"`` the lr the
    epoch trained with (read before the scheduler's step), with ``"step"`` the lr the next step
    will use.

    Args:
        scheduler: an ``LRScheduler`` (not ``ReduceLROnPlateau``: use the callback of that name)
            or a function ``(epoch, lr) -> lr``.
        interval: ``"epoch"`` or ``"step"``.
        verbose: print the lr whenever this callback changes it.

    Example:
        >>> opt = fg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        >>> sched = fg.optim.schedules.OneCycleLR(opt, max_lr=0.5, epochs=10,
        ...                                       steps_per_epoch=-(-len(X) // 32))
        >>> hist = net.fit(X, y, optimizer=opt, epochs=10, batch_size=32,
        ...                callbacks=[LearningRateScheduler(sched, interval="step")])
        >>> hist.history["lr"]
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", verbose: bool = False) -> None:
        from .optim.schedules import LRScheduler
        from .optim.schedules import ReduceLROnPlateau as _Plateau

        if isinstance(scheduler, _Plateau):
            raise ValueError("LearningRateScheduler: ReduceLROnPlateau needs the monitored "
                             "metric; use fastgd.callbacks.ReduceLROnPlateau(monitor=...) instead")
        if not isinstance(scheduler, LRScheduler) and not callable(scheduler):
            raise TypeError("LearningRateScheduler: scheduler must be a fastgd.optim.schedules "
                            "scheduler or a function (epoch, lr) -> lr, got "
                            f"{type(scheduler).__name__}")
        if interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: interval must be 'epoch' or 'step', got "
                             f"{interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.verbose = bool(verbose)
        self._torch_style = isinstance(scheduler, LRScheduler)
        self._step = 0
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._torch_style and self.scheduler.optimizer is not self.trainer.optimizer:
            raise ValueError("LearningRateScheduler: the scheduler was built over another "
                             "optimizer than the one fit trains with; build the optimizer, then "
                             "the scheduler over it, and pass that optimizer to fit")
        self._step = 0

    def _set(self, lr: float, when: str) -> None:
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"LearningRateScheduler: the schedule must return a number, got "
                            f"{lr!r}") from None
        if not lr >= 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned lr = {lr} {when}; "
                             "it must be >= 0")
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = lr
        if self.verbose:
            print(f"{when}: LearningRateScheduler setting learning rate to {lr:g}.")

    def _advance(self, when: str) -> None:
        # (OneCycleLR cycles the momentum too: a fused step sees any edited group option at
        # its next step and re-registers the update over the same engine and state buffers,
        # so nothing is rebuilt here)
        self.scheduler.step()
        if self.verbose:
            print(f"{when}: LearningRateScheduler setting learning rate to "
                  f"{self.scheduler.get_last_lr()}.")

    @property
    def needs_batches(self) -> bool:
        return self.interval == "step"  # an epoch schedule leaves the batches to C++

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch
        self._batches = 0
        if not self._torch_style and self.interval == "epoch":
            self._set(self.scheduler(epoch, _first_lr(self.trainer)), f"Epoch {epoch + 1}")

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if not self._torch_style and self.interval == "step":
            self._set(self.scheduler(self._step, _first_lr(self.trainer)), f"Step {self._step}")

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._batches += 1
        if self.interval == "step":
            if self._torch_style:
                self._advance(f"Step {self._step}")
            self._step += 1

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.interval == "step" and self._batches == 0:
            raise RuntimeError("LearningRateScheduler(interval='step'): this training loop does "
                               "not call the per-batch hooks (on_batch_end), so the schedule "
                               "would never advance; use interval='epoch' here")
        logs["lr"] = _first_lr(self.trainer)
        if self._torch_style and self.interval == "epoch":
            self._advance(f"Epoch {epoch + 1}")

    def __repr__(self) -> str:
        return (f"LearningRateScheduler({self.scheduler!r}, interval={self.interval!r})")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving (Keras).

    At the end of every epoch: during a cooldown (``cooldown`` epochs after a reduction) the
    counter of epochs without improvement stays 0; an epoch improves when ``value < best -
    min_delta`` (mode ``"min"``; ``value > best + min_delta`` for ``"max"``; ``"auto"`` is
    ``"max"`` for metric names containing ``acc``); after ``patience`` epochs in a row without
    improvement every param group whose lr is above ``min_lr`` gets ``max(lr · factor,
    min_lr)``. The epoch's logs get ``"lr"``, the lr that epoch trained with.

    Args:
        monitor: the metric, e.g. ``"val_loss"`` (needs ``validation_data``) or ``"loss"``.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before a reduction (an integer >= 0).
        verbose: print a line at each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement (>= 0).
        cooldown: epochs to wait after a reduction before counting again (an integer >= 0).
        min_lr: lower bound of the lr (>= 0).

    Attributes:
        best: the best value so far. wait: epochs since it. cooldown_counter: epochs of
        cooldown left.

    Example:
        >>> net.fit(X, y, validation_data=(Xv, yv), epochs=100,
        ...         callbacks=[ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=5)])
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: bool = False, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"ReduceLROnPlateau: monitor must be a metric name, got {monitor!r}")
        if (isinstance(factor, bool) or not isinstance(factor, numbers.Real)
                or not 0 < factor < 1):
            raise ValueError(f"ReduceLROnPlateau: factor must be a number in (0, 1), got "
                             f"{factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"ReduceLROnPlateau: {name} must be an int >= 0, got {value!r}")
        for name, value in (("min_delta", min_delta), ("min_lr", min_lr)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not 0 <= value < math.inf):
                raise ValueError(f"ReduceLROnPlateau: {name} must be a finite number >= 0, got "
                                 f"{value!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got "
                             f"{mode!r}")
        self.monitor: str = monitor
        self.factor: float = float(factor)
        self.patience: int = int(patience)
        self.verbose: bool = bool(verbose)
        self.min_delta: float = float(min_delta)
        self.cooldown: int = int(cooldown)
        self.min_lr: float = float(min_lr)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode: str = mode
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs["lr"] = _first_lr(self.trainer)
        if self.monitor not in logs:
            hint = " (pass validation_data= to fit)" if self.monitor.startswith("val_") else ""
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, which is not among "
                             f"the epoch metrics {sorted(logs)}{hint}")
        value = logs[self.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif not self.cooldown_counter > 0:  # (after the decrement, as in Keras)
            self.wait += 1
            if self.wait >= self.patience:
                reduced = False
                for group in self.trainer.optimizer.param_groups:
                    old = float(group["lr"])
                    if old > self.min_lr:
                        group["lr"] = max(old * self.factor, self.min_lr)
                        reduced = True
                if reduced:
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{_first_lr(self.trainer):g}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
                f"patience={self.patience}, mode={self.mode!r}, min_delta={self.min_delta}, "
                f"cooldown={self.cooldown}, min_lr={self.min_lr})")
