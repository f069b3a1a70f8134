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
``ScheduleLR`` sets the lr to a schedule's value.

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
from collections.abc import Callable, Sequence
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
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each param group at ``self.last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's ``"lr"``; call after ``optimizer.step()``."""
        self._step_count += 1
        self.last_epoch += 1
        lrs = self.get_lr()
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
