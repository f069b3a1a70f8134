"""Learning-rate schedules: pure functions of the step (optax style) and torch-like schedulers.

A *schedule* is a callable ``schedule(step) -> lr`` for ``step = 0, 1, 2, ...``; build one with
``constant``, ``step_decay``, ``exponential_decay`` or ``cosine``, or write your own (any
``Callable[[int], float]``). ``fastgd.minimize(..., schedule=...)`` takes one directly.

A *scheduler* drives the ``"lr"`` of an optimizer's ``param_groups`` the way
``torch.optim.lr_scheduler`` does: constructing it sets the lr for step 0, each ``.step()``
(called after ``optimizer.step()``) advances ``last_epoch`` by one and sets the next lr.
``StepLR``, ``ExponentialLR`` and ``CosineAnnealingLR`` give torch's values (computed in closed
form from each group's initial lr, so a hand edit of ``group["lr"]`` is overwritten at the next
``.step()``); ``LambdaLR`` multiplies the initial lr by a factor, as torch's does;
``ScheduleLR`` sets the lr to a schedule's value. ``MultiStepLR`` and ``LinearLR`` are chainable
as torch's are (each step scales the group's *current* lr, so they compose with hand edits and
inside ``SequentialLR``); ``CosineAnnealingWarmRestarts`` and ``OneCycleLR`` (which also cycles
the momentum) follow torch's closed forms; ``SequentialLR`` hands over from one scheduler to the
next at milestones; ``ReduceLROnPlateau.step(metric)`` lowers the lr when a metric stalls.

Example:
    >>> sched = fastgd.optim.schedules.cosine(0.1, T_max=100)
    >>> sched(0), sched(50), sched(100)
    (0.1, 0.05, 0.0)
    >>> opt = fastgd.optim.SGD(net.parameters(), lr=0.1)
    >>> scheduler = fastgd.optim.schedules.StepLR(opt, step_size=30, gamma=0.1)
    >>> for epoch in range(100):
    ...     train_one_epoch(opt)
    ...     scheduler.step()
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .base import Optimizer

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential_decay",
    "cosine",
    "LRScheduler",
    "ScheduleLR",
    "LambdaLR",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "MultiStepLR",
    "LinearLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "SequentialLR",
    "ReduceLROnPlateau",
]

#: A learning-rate schedule: step (0, 1, 2, ...) -> learning rate.
Schedule = Callable[[int], float]


class _Schedule:
    """A named schedule function with a readable repr (what the builders below return)."""

    __slots__ = ("_fn", "_text")

    def __init__(self, fn: Callable[[int], float], text: str) -> None:
        self._fn = fn
        self._text = text

    def __call__(self, step: int) -> float:
        return float(self._fn(step))

    def __repr__(self) -> str:
        return self._text


def _check_lr(lr: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def constant(lr: float) -> Schedule:
    """The constant schedule ``lr_t = lr``.

    Example:
        >>> constant(0.1)(1000)
        0.1
    """
    _check_lr(lr)
    return _Schedule(lambda step: lr, f"constant(lr={lr})")


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Decay by ``gamma`` every ``step_size`` steps: ``lr_t = lr · gamma^⌊t / step_size⌋``.

    The values of ``torch.optim.lr_scheduler.StepLR``.

    Example:
        >>> s = step_decay(1.0, step_size=10, gamma=0.5)
        >>> s(9), s(10), s(25)
        (1.0, 0.5, 0.25)
    """
    _check_lr(lr)
    _check_positive_int("step_size", step_size)
    return _Schedule(
        lambda step: lr * gamma ** (step // step_size),
        f"step_decay(lr={lr}, step_size={step_size}, gamma={gamma})",
    )


def exponential_decay(lr: float, gamma: float) -> Schedule:
    """Multiply by ``gamma`` every step: ``lr_t = lr · gamma^t``.

    The values of ``torch.optim.lr_scheduler.ExponentialLR`` (``lr *= gamma`` once per step).

    Example:
        >>> exponential_decay(1.0, gamma=0.5)(3)
        0.125
    """
    _check_lr(lr)
    return _Schedule(lambda step: lr * gamma**step, f"exponential_decay(lr={lr}, gamma={gamma})")


def cosine(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """Cosine annealing from ``lr`` to ``eta_min`` over ``T_max`` steps.

    ``lr_t = eta_min + (lr - eta_min) · (1 + cos(π t / T_max)) / 2``: the values of
    ``torch.optim.lr_scheduler.CosineAnnealingLR``. As there, past ``T_max`` the lr follows the
    cosine back up (period ``2·T_max``); use ``T_max`` = the number of steps for one decay.

    Example:
        >>> s = cosine(1.0, T_max=10)
        >>> s(0), s(5), s(10)
        (1.0, 0.5, 0.0)
    """
    _check_lr(lr)
    if not T_max > 0:
        raise ValueError(f"T_max must be positive, got {T_max!r}")
    return _Schedule(
        lambda step: eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / T_max)) / 2,
        f"cosine(lr={lr}, T_max={T_max}, eta_min={eta_min})",
    )


# ------------------------------------------------------------------------------ schedulers


class LRScheduler:
    """Base of the torch-like schedulers: sets ``group["lr"]`` of every param group per step.

    Subclasses implement ``get_lr()``: the lr of each group at ``self.last_epoch`` computed from
    ``self.base_lrs`` (each group's ``"initial_lr"``).

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        last_epoch: ``-1`` to start; another value resumes (the groups must then hold
            ``"initial_lr"``, as after loading an optimizer state saved with a scheduler).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        "a scheduler with last_epoch >= 0: load the optimizer's state first"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    # True only while the constructor's first step runs (chainable schedulers read it).
    _is_initial = False

    def _initial_step(self) -> None:
        """The constructor's step: sets the lr of ``last_epoch + 1`` (SequentialLR reuses it)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each param group at ``self.last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's ``"lr"``; call after ``optimizer.step()``."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Set the lrs of the next epoch, or of ``epoch`` (by the closed form when there is one,
        as torch does: ``SequentialLR`` restarts a scheduler at epoch 0 this way)."""
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            lrs = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [float(lr) for lr in lrs]

    def get_last_lr(self) -> list[float]:
        """The learning rates last set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (everything but the optimizer and schedule functions)."""
        skip = ("optimizer", "schedules", "lr_lambdas")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (the group lrs come from the optimizer's own state)."""
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


def _per_group(fns: Any, n: int, what: str) -> list[Callable[[int], float]]:
    """One function per param group: a list as given, or one function repeated ``n`` times."""
    out: list[Any] = list(fns) if isinstance(fns, (list, tuple)) else [fns] * n
    if len(out) != n:
        raise ValueError(f"Expected {n} {what}s (one per param group), but got {len(out)}")
    for f in out:
        if not callable(f):
            raise TypeError(f"{what} must be callable, got {type(f).__name__}")
    return out


class ScheduleLR(LRScheduler):
    """Set each group's lr to ``schedule(last_epoch)`` (a schedule from this module, or any).

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        schedule: one schedule for every group, or a list with one per group.

    Example:
        >>> scheduler = ScheduleLR(opt, cosine(0.1, T_max=50))
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | Sequence[Schedule],
        last_epoch: int = -1,
    ) -> None:
        self.schedules = _per_group(schedule, len(optimizer.param_groups), "schedule")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [float(s(self.last_epoch)) for s in self.schedules]


class LambdaLR(LRScheduler):
    """``torch.optim.lr_scheduler.LambdaLR``: lr = initial lr × ``lr_lambda(last_epoch)``.

    Example:
        >>> scheduler = LambdaLR(opt, lambda epoch: 0.95**epoch)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.lr_lambdas = _per_group(lr_lambda, len(optimizer.param_groups), "lr_lambda")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [b * f(self.last_epoch) for b, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]


class StepLR(LRScheduler):
    """``torch.optim.lr_scheduler.StepLR``: lr = initial lr · gamma^⌊epoch / step_size⌋.

    Example:
        >>> scheduler = StepLR(opt, step_size=30, gamma=0.1)
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check_positive_int("step_size", step_size)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [step_decay(b, self.step_size, self.gamma)(self.last_epoch) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """``torch.optim.lr_scheduler.ExponentialLR``: lr = initial lr · gamma^epoch.

    Example:
        >>> scheduler = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [exponential_decay(b, self.gamma)(self.last_epoch) for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingLR`` (its closed form, see ``cosine``).

    lr = eta_min + (initial lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2.

    Example:
        >>> scheduler = CosineAnnealingLR(opt, T_max=100, eta_min=1e-5)
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not T_max > 0:
            raise ValueError(f"T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [cosine(b, self.T_max, self.eta_min)(self.last_epoch) for b in self.base_lrs]


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _per_group_values(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list/tuple as given (checked length), or ``value`` repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {n}."
            )
        return list(value)
    return [value] * n


class MultiStepLR(LRScheduler):
    """``torch.optim.lr_scheduler.MultiStepLR``: multiply the lr by ``gamma`` at each milestone.

    Chainable, as torch's: at an epoch listed in ``milestones`` (``k`` times) each group's
    *current* lr is multiplied by ``gamma^k``; other epochs leave it as it is. Without outside
    edits this is ``lr = initial lr · gamma^(number of milestones <= epoch)``.

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        milestones: epoch indices (integers; repeats multiply again).
        gamma: the factor applied at each milestone.

    Example:
        >>> scheduler = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        try:
            ms = list(milestones)
        except TypeError:
            raise TypeError(
                f"milestones must be an iterable of epoch indices, got {type(milestones).__name__}"
            ) from None
        for m in ms:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral):
                raise ValueError(f"milestones must be integers, got {ms!r}")
        self.milestones = Counter(int(m) for m in ms)
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch not in self.milestones:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma ** self.milestones[self.last_epoch] for g in groups]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        k = bisect_right(milestones, self.last_epoch)
        return [b * self.gamma**k for b in self.base_lrs]


class LinearLR(LRScheduler):
    """``torch.optim.lr_scheduler.LinearLR``: a linear warm-up (or decay) of the lr's factor.

    The factor goes linearly from ``start_factor`` at epoch 0 to ``end_factor`` at epoch
    ``total_iters`` and stays there: ``lr = initial lr · (start + (end - start) ·
    min(epoch, total_iters) / total_iters)``. Chainable, as torch's: each step multiplies the
    current lr by the ratio of consecutive factors.

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        start_factor: factor at epoch 0, in (0, 1].
        end_factor: factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: the number of epochs of the ramp (a positive integer).

    Example:
        >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        start_factor = _check_real("start_factor", start_factor)
        end_factor = _check_real("end_factor", end_factor)
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal "
                f"to 1: start_factor = {start_factor}"
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(
                f"Ending multiplicative factor expected to be between 0 and 1: end_factor = "
                f"{end_factor}"
            )
        _check_positive_int("total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [g["lr"] for g in groups]
        delta = self.end_factor - self.start_factor
        # factor(e) / factor(e - 1), written as torch writes it
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [g["lr"] * ratio for g in groups]

    def _get_closed_form_lr(self) -> list[float]:
        delta = self.end_factor - self.start_factor
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [b * (self.start_factor + delta * frac) for b in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (SGDR).

    ``lr = eta_min + (initial lr - eta_min) · (1 + cos(π · T_cur / T_i)) / 2`` where ``T_cur``
    counts the epochs since the last restart and ``T_i`` is the length of the current period:
    ``T_0`` first, multiplied by ``T_mult`` after every restart.

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        T_0: epochs until the first restart (a positive integer).
        T_mult: period growth factor (an integer >= 1).
        eta_min: the lowest lr.

    ``step(epoch)`` with a (fractional) epoch jumps there, as torch's does (e.g.
    ``scheduler.step(epoch + i / n_batches)`` per batch).

    Example:
        >>> scheduler = CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0!r}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult!r}")
        self.eta_min = _check_real("eta_min", eta_min)
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        c = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (b - self.eta_min) * c for b in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``) and set each group's lr."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not epoch >= 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [float(lr) for lr in lrs]


class OneCycleLR(LRScheduler):
    """``torch.optim.lr_scheduler.OneCycleLR``: the 1cycle policy, stepped once per *batch*.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` and anneals (cosine or linear) down to ``initial lr / final_div_factor``;
    with ``three_phase`` it first comes back down to the initial lr symmetrically. With
    ``cycle_momentum`` the momentum (SGD's ``momentum``, Adam's ``beta1``) moves inversely
    between ``max_momentum`` and ``base_momentum``. Not chainable (torch's formula; it sets
    ``initial_lr``, ``max_lr`` and ``min_lr`` in every group).

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        max_lr: peak lr, one for all groups or a list with one per group.
        total_steps: steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        pct_start: fraction of the cycle spent raising the lr (a float in [0, 1]).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        cycle_momentum, base_momentum, max_momentum: the momentum cycle.
        div_factor: initial lr = max_lr / div_factor.
        final_div_factor: final lr = initial lr / final_div_factor.
        three_phase: use the paper's three phases instead of fastai's two.

    Raises:
        ValueError: stepping past ``total_steps``, or an invalid argument (named).

    Example:
        >>> scheduler = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(batches))
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer

        def positive_int(name: str, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Expected positive integer {name}, but got {value!r}")
            return value

        if total_steps is not None:
            self.total_steps = positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = positive_int("epochs", epochs) * positive_int(
                "steps_per_epoch", steps_per_epoch
            )
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy!r}"
            )
        div_factor = _check_real("div_factor", div_factor)
        final_div_factor = _check_real("final_div_factor", final_div_factor)
        if div_factor <= 0 or final_div_factor <= 0:
            raise ValueError(
                f"div_factor and final_div_factor must be positive, got {div_factor} and "
                f"{final_div_factor}"
            )
        self.anneal_strategy = anneal_strategy
        up = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        # (end step, start lr key, end lr key, start momentum key, end momentum key)
        self._schedule_phases: list[tuple[float, str, str, str, str]] = (
            [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"),
                (last, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
            if three_phase
            else [
                (up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (last, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        )
        max_lrs = _per_group_values("max_lr", optimizer, max_lr)
        for m in max_lrs:
            _check_lr(m)
        if last_epoch == -1:
            for group, m in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option "
                    f"enabled; {type(optimizer).__name__} has neither"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            max_ms = _per_group_values("max_momentum", optimizer, max_momentum)
            base_ms = _per_group_values("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_ms, base_ms, optimizer.param_groups,
                                                strict=True):
                    if self.use_beta1:
                        group["betas"] = (m_max, *group["betas"][1:])
                    else:
                        group["momentum"] = m_max
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._schedule_phases):
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[m0], group[m1], pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start = end
        return lrs


class SequentialLR(LRScheduler):
    """``torch.optim.lr_scheduler.SequentialLR``: run ``schedulers[i]`` between milestones.

    Up to ``milestones[0]`` the first scheduler sets the lr, then the second restarts (from its
    epoch 0, in closed form where it has one) and so on, e.g. a ``LinearLR`` warm-up followed
    by a ``CosineAnnealingLR``. Build the inner schedulers over the same optimizer first; their
    constructors' steps are undone here, as torch does.

    Example:
        >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        >>> decay = CosineAnnealingLR(opt, T_max=95)
        >>> scheduler = SequentialLR(opt, [warmup, decay], milestones=[5])
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        schedulers = list(schedulers)
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        for i, sched in enumerate(schedulers):
            if not isinstance(sched, LRScheduler):
                raise TypeError(
                    f"SequentialLR: schedulers[{i}] must be a scheduler, got {type(sched).__name__}"
                )
            if isinstance(sched, ReduceLROnPlateau):
                raise ValueError(
                    "SequentialLR does not support `ReduceLROnPlateau` scheduler as it requires "
                    "additional kwargs to be specified when calling `step`, but got one at index "
                    f"{i} in the given schedulers sequence."
                )
            if sched.optimizer is not optimizer:
                raise ValueError(
                    "SequentialLR expects all schedulers to belong to the same optimizer, but got "
                    f"scheduler {type(sched).__name__} at index {i} with another optimizer"
                )
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than "
                f"the number of milestone points, but got number of schedulers {len(schedulers)} "
                f"and the number of milestones to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def _undo(self, sched: LRScheduler) -> None:
        """Take back the constructor step of every inner scheduler (recursively)."""
        if isinstance(sched, SequentialLR):
            for s in sched._schedulers:
                self._undo(s)
        else:
            sched.last_epoch -= 1

    def step(self) -> None:
        """Advance one epoch with the scheduler whose turn it is."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """The state, with each inner scheduler's ``state_dict()`` under ``"_schedulers"``."""
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``, the inner schedulers' too."""
        inner = state_dict["_schedulers"]
        if len(inner) != len(self._schedulers):
            raise ValueError(
                f"state_dict has {len(inner)} inner schedulers, this SequentialLR has "
                f"{len(self._schedulers)}"
            )
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for s, sd in zip(self._schedulers, inner, strict=True):
            s.load_state_dict(sd)


class ReduceLROnPlateau(LRScheduler):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau``: lower the lr when a metric stops improving.

    ``step(metric)`` once per epoch. A value is an improvement when it beats the best so far by
    the threshold (mode ``"min"``: ``a < best·(1 - threshold)`` in ``"rel"`` mode, ``a < best -
    threshold`` in ``"abs"`` mode; mirrored for ``"max"``). After more than ``patience`` epochs
    without one, every group's lr becomes ``max(lr · factor, min_lr)`` (skipped when that
    changes it by no more than ``eps``), then ``cooldown`` epochs are ignored.

    Args:
        optimizer: a ``fastgd.optim.Optimizer``.
        mode: ``"min"`` or ``"max"``.
        factor: the multiplier, < 1.
        patience: bad epochs tolerated before a reduction (an integer >= 0).
        threshold, threshold_mode: what counts as an improvement (``"rel"`` or ``"abs"``).
        cooldown: epochs to wait after a reduction (an integer >= 0).
        min_lr: lower bound, one for all groups or a list with one per group.
        eps: smallest change of lr that is applied.

    Example:
        >>> scheduler = ReduceLROnPlateau(opt, patience=3)
        >>> for epoch in range(100):
        ...     val_loss = train_one_epoch(opt)
        ...     scheduler.step(val_loss)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        factor = _check_real("factor", factor)
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0: factor = {factor}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            self.default_min_lr: float | None = None
            self.min_lrs = [_check_real("min_lr", m) for m in min_lr]
        else:
            self.default_min_lr = _check_real("min_lr", min_lr)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.eps = _check_real("eps", eps)
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]
        self._init_is_better(mode, _check_real("threshold", threshold), threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _is_better(self, a: float, best: float) -> bool:
        """Whether metric value ``a`` improves on ``best`` (by the threshold)."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        """Whether the cooldown after a reduction is still running."""
        return self.cooldown_counter > 0

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the lr if it has stalled for too long."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(
                f"ReduceLROnPlateau.step needs the metric as a number, got {metrics!r}"
            ) from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the optimizer ({len(groups)}) differs from "
                    f"when ReduceLROnPlateau was initialized ({len(self.min_lrs)}); set min_lrs "
                    "to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
