"""``minimize``: gradient descent on any differentiable function of a vector."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DivergenceError
from .optim import LBFGS, Optimizer, get_optimizer
from .optim.schedules import Schedule

__all__ = ["MinimizeResult", "minimize", "numerical_gradient"]

# Central differences have truncation error O(h²) and rounding error O(ε/h): h ~ ε^(1/3) balances.
_FD_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)


@dataclass(repr=False)
class MinimizeResult:
    """The result of ``minimize``.

    Attributes:
        x: the final point, float64 ``(dim,)``.
        fun: ``fun(x)``.
        grad: the gradient at ``x``, ``(dim,)``.
        path: every iterate, ``(n_steps + 1, dim)``; ``path[0]`` is ``x0``, ``path[-1]`` is ``x``.
        n_steps: the number of optimizer steps taken.
        converged: whether a stopping tolerance was met (not just the step budget used up).
        message: why the descent stopped.
    """

    x: np.ndarray
    fun: float
    grad: np.ndarray
    path: np.ndarray = field(repr=False)
    n_steps: int
    converged: bool
    message: str

    def __repr__(self) -> str:
        with np.printoptions(precision=6, threshold=8, edgeitems=3):
            return (
                f"MinimizeResult(converged={self.converged}, n_steps={self.n_steps},\n"
                f"               message={self.message!r},\n"
                f"               x={self.x!r},\n"
                f"               fun={self.fun:.6g}, |grad|={np.linalg.norm(self.grad):.3g},\n"
                f"               path=<array of shape {self.path.shape}>)"
            )


def numerical_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference gradient of ``fun`` at ``x`` (float64 ``(dim,)``).

    ``∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)`` with
    ``h_i = ε^(1/3) · max(1, |x_i|)`` (step scaled to the magnitude of ``x_i``); ``2·dim``
    evaluations of ``fun``.

    Example:
        >>> numerical_gradient(lambda v: float(v @ v), np.array([1.0, 2.0]))
        array([2., 4.])
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.empty_like(x)
    for i in range(x.size):
        h = _FD_STEP * max(1.0, abs(x[i]))
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (_scalar(fun, xp) - _scalar(fun, xm)) / (xp[i] - xm[i])  # the exact 2h
    return g


def _scalar(fun: Callable[[np.ndarray], Any], x: np.ndarray) -> float:
    value = fun(x.copy())  # a copy: fun may modify its argument without breaking the descent
    try:
        return float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise TypeError(
            f"fun must return a scalar, got {type(value).__name__}"
            + (f" of shape {np.shape(value)}" if hasattr(value, "shape") else "")
        ) from None


def _as_x0(x0: Any) -> np.ndarray:
    try:
        x = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"x0 must be a number or a 1-D sequence of numbers, got {type(x0).__name__}"
        ) from None
    if x.ndim > 1:
        raise ValueError(f"x0 must be a scalar or a 1-D vector, got an array of shape {x.shape}")
    x = x.reshape(-1)
    if x.size == 0:
        raise ValueError("x0 must have at least one element, got shape (0,)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be finite, got {x}")
    return x


def minimize(
    fun: Callable[[np.ndarray], float],
    x0: Any,
    grad: Callable[[np.ndarray], np.ndarray] | None = None,
    optimizer: str | type[Optimizer] = "sgd",
    steps: int = 1000,
    tol: float = 1e-8,
    schedule: Schedule | None = None,
    callback: Callable[[int, np.ndarray, float], Any] | None = None,
    **hyper: Any,
) -> MinimizeResult:
    """Minimise a differentiable function of a vector by gradient descent.

    At step ``k = 0, 1, ...``: ``g = grad(x)``; stop if ``‖g‖ < tol``; otherwise one update of
    the optimizer (``x -= lr·g`` for plain SGD) with ``lr = schedule(k)`` when a schedule is
    given; stop if ``‖x_new - x‖ < tol``.

    With ``optimizer="lbfgs"`` (``fastgd.optim.LBFGS``, e.g. ``line_search_fn="strong_wolfe"``)
    a step is one L-BFGS iteration: the iterates are exactly those of ``LBFGS.step(closure)``
    called until ``steps`` iterations are done (each call runs up to ``max_iter`` of them, the
    line-search trial points are not iterates), and the descent also stops, converged, when
    L-BFGS's own tolerances (``tolerance_grad``, ``tolerance_change``) are met. Points already
    evaluated are not evaluated again.

    Args:
        fun: ``fun(x) -> float`` for ``x`` a float64 ``(dim,)`` array.
        x0: the starting point: a number, list, tuple or 1-D array (converted to float64).
        grad: ``grad(x) -> (dim,)`` array; ``None`` uses central differences
            (``numerical_gradient``, ``2·dim`` evaluations of ``fun`` per step).
        optimizer: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"lbfgs"`` or a
            ``fastgd.optim.Optimizer`` subclass.
        steps: the largest number of updates.
        tol: stop when the gradient norm, or the length of a step, falls below ``tol``.
        schedule: optional ``schedule(k) -> lr`` for update ``k`` (see
            ``fastgd.optim.schedules``), e.g. ``exponential_decay(0.1, 0.99)`` for a decaying
            step size; it overrides ``lr`` (not with L-BFGS, whose step comes from ``lr`` and
            its line search).
        callback: optional ``callback(k, x, fun(x))`` after each update; returning ``True``
            stops the descent.
        **hyper: the optimizer's hyper-parameters (``lr=0.1, momentum=0.9``, ...).

    Returns:
        A ``MinimizeResult`` with ``x``, ``fun``, ``grad``, ``path`` (``(n_steps + 1, dim)``:
        every iterate, for plotting the descent on a contour plot), ``n_steps``,
        ``converged`` and ``message``.

    Raises:
        TypeError: ``fun``/``grad``/``callback`` not callable, ``fun`` not returning a scalar.
        ValueError: bad ``x0`` (not 1-D, empty, not finite), ``grad`` of the wrong shape,
            an unknown optimizer name, ``steps < 0`` or ``tol < 0``, ``fun(x0)`` not finite,
            a ``schedule`` with L-BFGS.
        fastgd.errors.DivergenceError: ``fun`` (or the gradient) became NaN/inf on the way;
            the message suggests a smaller learning rate.

    Example:
        >>> res = fastgd.minimize(lambda v: (v[0] - 1) ** 2 + 2 * v[1] ** 2, [3.0, 2.0],
        ...                       lr=0.1, momentum=0.9)
        >>> res.x.round(6), res.converged
        (array([1., 0.]), True)
        >>> rosenbrock = lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2
        >>> res = fastgd.minimize(rosenbrock, [-1.2, 1.0], optimizer="lbfgs",
        ...                       line_search_fn="strong_wolfe")
        >>> res.x.round(4), res.n_steps
        (array([1., 1.]), 34)
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if grad is not None and not callable(grad):
        raise TypeError(f"grad must be callable or None, got {type(grad).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    if schedule is not None and not callable(schedule):
        raise TypeError(
            f"schedule must be a function of the step (see fastgd.optim.schedules), "
            f"got {type(schedule).__name__}"
        )
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    x = _as_x0(x0)
    if schedule is not None:
        hyper["lr"] = schedule(0)
    opt = get_optimizer(optimizer, [x], **hyper)
    group = opt.param_groups[0]

    def gradient(at: np.ndarray) -> np.ndarray:
        if grad is None:
            return numerical_gradient(fun, at)
        g = np.array(grad(at.copy()), dtype=np.float64)
        if g.shape != at.shape:
            g = g.reshape(-1) if g.size == at.size and g.ndim <= 1 else g
            if g.shape != at.shape:
                raise ValueError(f"grad must return an array of shape {at.shape}, got {g.shape}")
        return g

    def diverged(what: str, k: int, value: Any) -> DivergenceError:
        return DivergenceError(
            f"minimize diverged at step {k}: {what} = {value} (lr = {group['lr']:g}). "
            "Try a smaller learning rate (lr=...) or a decaying schedule; for SGD, lower momentum."
        )

    if isinstance(opt, LBFGS):
        if schedule is not None:
            raise ValueError(
                "schedule is not supported with L-BFGS: its step length comes from lr and "
                "its line search (line_search_fn='strong_wolfe')"
            )
        return _minimize_lbfgs(opt, fun, x, gradient, steps, tol, callback)

    path = [x.copy()]
    message = ""
    converged = False
    # Overflow on the way to divergence is reported as a DivergenceError, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        f = _scalar(fun, x)
        if not math.isfinite(f):
            raise ValueError(f"fun(x0) must be finite, got {f}")
        g = gradient(x)
        if not np.all(np.isfinite(g)):
            raise ValueError(f"the gradient at x0 must be finite, got {g}")
        for k in range(steps):
            gnorm = float(np.linalg.norm(g))
            if gnorm < tol:
                converged = True
                message = f"gradient norm {gnorm:.3g} < tol {tol:g}"
                break
            if schedule is not None:
                group["lr"] = float(schedule(k))
            previous = path[-1]
            opt.step(grads=[g])
            path.append(x.copy())
            f = _scalar(fun, x)
            if not math.isfinite(f):
                raise diverged("fun(x)", k + 1, f)
            g = gradient(x)
            if not np.all(np.isfinite(g)):
                raise diverged("the gradient", k + 1, g)
            if callback is not None and callback(k, x.copy(), f) is True:
                message = f"stopped by callback after {k + 1} steps"
                break
            moved = float(np.linalg.norm(x - previous))
            if moved < tol:
                converged = True
                message = f"step length {moved:.3g} < tol {tol:g}"
                break
        if not message:
            gnorm = float(np.linalg.norm(g))
            if gnorm < tol:
                converged = True
                message = f"gradient norm {gnorm:.3g} < tol {tol:g}"
            else:
                message = f"reached steps={steps} with gradient norm {gnorm:.3g} (tol {tol:g})"
    return MinimizeResult(
        x=x.copy(),
        fun=f,
        grad=g,
        path=np.array(path),
        n_steps=len(path) - 1,
        converged=converged,
        message=message,
    )


class _Stop(Exception):
    """Ends an L-BFGS descent from inside its step (a callback, or a step shorter than tol)."""

    def __init__(self, message: str, converged: bool) -> None:
        super().__init__(message)
        self.message, self.converged = message, converged


def _minimize_lbfgs(
    opt: LBFGS,
    fun: Callable[[np.ndarray], float],
    x: np.ndarray,
    gradient: Callable[[np.ndarray], np.ndarray],
    steps: int,
    tol: float,
    callback: Callable[[int, np.ndarray, float], Any] | None,
) -> MinimizeResult:
    """``minimize`` with L-BFGS: ``opt.step(closure)`` until ``steps`` iterations are done or a
    tolerance is met; every iteration (not every line-search trial) is one point of the path."""
    group = opt.param_groups[0]
    param = opt.params[0]
    max_iter = group["max_iter"]
    path = [x.copy()]
    # (x, f, g) of this step's evaluations: a call at a point seen before is answered from here
    # (L-BFGS re-evaluates the point each step starts from, which the last step evaluated).
    seen: list[tuple[np.ndarray, float, np.ndarray]] = []

    def evaluate(at: np.ndarray) -> tuple[float, np.ndarray]:
        for point, f, g in reversed(seen):
            if np.array_equal(point, at):
                return f, g
        f = _scalar(fun, at)
        g = gradient(at) if math.isfinite(f) else np.full_like(at, np.nan)
        seen.append((at.copy(), f, g))
        return f, g

    def closure() -> float:
        f, g = evaluate(x)
        param.grad[...] = g
        return f

    def on_iteration(loss: float | None) -> None:
        k = len(path) - 1
        previous = path[-1]
        path.append(x.copy())
        if callback is not None:
            f = loss if loss is not None else evaluate(x)[0]
            if callback(k, x.copy(), f) is True:
                raise _Stop(f"stopped by callback after {k + 1} steps", converged=False)
        moved = float(np.linalg.norm(x - previous))
        if moved < tol:
            raise _Stop(f"step length {moved:.3g} < tol {tol:g}", converged=True)

    opt._on_iteration = on_iteration
    message, converged = "", False
    with np.errstate(over="ignore", invalid="ignore"):
        f0 = _scalar(fun, x)
        if not math.isfinite(f0):
            raise ValueError(f"fun(x0) must be finite, got {f0}")
        g0 = gradient(x)
        if not np.all(np.isfinite(g0)):
            raise ValueError(f"the gradient at x0 must be finite, got {g0}")
        seen.append((x.copy(), f0, g0))
        try:
            while True:
                n = len(path) - 1
                f, g = evaluate(x)
                gnorm = float(np.linalg.norm(g))
                if gnorm < tol:
                    message, converged = f"gradient norm {gnorm:.3g} < tol {tol:g}", True
                    break
                if n >= steps:
                    message = f"reached steps={steps} with gradient norm {gnorm:.3g} (tol {tol:g})"
                    break
                seen[:] = [e for e in seen if np.array_equal(e[0], x)]
                group["max_iter"] = min(max_iter, steps - n)
                opt.step(closure)
                reason = opt._stop_reason
                if len(path) - 1 == n or not reason.startswith(("max_iter", "max_eval")):
                    # L-BFGS's own tolerances were met (or it could not move at all)
                    message, converged = f"L-BFGS stopped: {reason}", True
                    break
        except _Stop as stop:
            message, converged = stop.message, stop.converged
        except DivergenceError as exc:
            raise DivergenceError(
                f"minimize diverged at step {len(path)}: {exc}"
            ) from exc
        finally:
            group["max_iter"] = max_iter
            opt._on_iteration = None
        f, g = evaluate(x)
    return MinimizeResult(
        x=x.copy(),
        fun=f,
        grad=g,
        path=np.array(path),
        n_steps=len(path) - 1,
        converged=converged,
        message=message,
    )
