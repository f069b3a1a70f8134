"""L-BFGS, exactly ``torch.optim.LBFGS`` (with its optional strong-Wolfe line search), in NumPy.

The algorithm works on one flat vector: the gradients of all parameters are concatenated,
the search direction is computed from the last ``history_size`` curvature pairs by the
two-loop recursion, and each parameter is moved by its slice of ``t · d``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DivergenceError
from ..parameter import Parameter
from .base import Optimizer, ParamsT

__all__ = ["LBFGS"]

Closure = Callable[[], Any]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a · b`` as a Python float, accumulated in float64 (the vectors may be long)."""
    if a.dtype != np.float64:
        a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b)


def _abs_max(a: np.ndarray) -> float:
    return float(np.max(np.abs(a)))


def _cubic_interpolate(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``, ``g2``,
    clipped to ``bounds`` (default: the interval between the points).

    With ``d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2)`` and ``d2 = sqrt(d1² - g1 g2)`` the minimiser
    is ``x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)`` (``x2`` the point further right);
    without a real ``d2`` (no minimum) it is the middle of the bounds.
    """
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(
    obj_func: Callable[[float], tuple[float, np.ndarray]],
    t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float,
    c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    """Line search along ``d`` for a step ``t`` meeting the strong Wolfe conditions.

    ``f(x + t d) <= f + c1 t gtd`` (sufficient decrease) and ``|g(x + t d)·d| <= -c2 gtd``
    (curvature), found as torch's ``_strong_wolfe`` (after minFunc) finds it: a bracketing phase
    that extrapolates by cubic interpolation, then a zoom phase that shrinks the bracket, at most
    ``max_ls`` evaluations of ``obj_func(t) -> (loss, flat gradient)`` in all.

    Returns:
        ``(loss, gradient, t, number of evaluations)`` at the chosen step.
    """
    d_norm = _abs_max(d)
    f_new, g_new = obj_func(t)
    ls_func_evals = 1
    gtd_new = _dot(g_new, d)

    # Bracketing: find an interval that contains a point satisfying the conditions.
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[np.ndarray] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate, at least 1% beyond the current step and at most 10 times it
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(t)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations: the bracket is [0, last step]
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # Zoom: shrink the bracket until a point satisfies the conditions.
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # A trial point too close to an end of the bracket (twice in a row, or outside it) is
        # moved to 10% of the bracket's length from that end.
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(t)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not a sufficient decrease, or not below the low end: the new point is the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _positive_int(group: dict[str, Any], name: str) -> None:
    value = group[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"LBFGS: {name} must be a positive integer, got {value!r}")


def _non_negative(group: dict[str, Any], name: str) -> None:
    value = group[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        raise ValueError(f"LBFGS: {name} must be a number >= 0, got {value!r}")


class LBFGS(Optimizer):
    r"""Limited-memory BFGS with ``torch.optim.LBFGS``'s algorithm, arguments and state.

    One ``step(closure)`` runs up to ``max_iter`` iterations (and ``max_eval`` evaluations of
    the closure). With ``g`` the flat gradient of all parameters and the last ``history_size``
    pairs ``s_i = t_i d_i`` (steps), ``y_i = g_{i+1} - g_i`` (gradient changes) kept when
    ``y_i·s_i > 1e-10``, each iteration

    * computes the direction ``d = -H g`` by the two-loop recursion, with the initial inverse
      Hessian ``H_0 = (y·s / y·y) I`` from the newest pair (``d = -g`` on the first iteration);
    * picks the step ``t``: ``lr`` (``min(1, 1 / Σ|g|) · lr`` on the very first iteration), or
      with ``line_search_fn="strong_wolfe"`` a step satisfying the strong Wolfe conditions
      (``c1 = 1e-4``, ``c2 = 0.9``) found by cubic interpolation from that initial guess;
    * moves ``x ← x + t d``,

    and stops when ``max|g| <= tolerance_grad``, the directional derivative ``g·d >
    -tolerance_change``, ``max|t d| <= tolerance_change``, the loss changes by less than
    ``tolerance_change``, or the iteration/evaluation budget is used up. The history persists
    across ``step`` calls (in ``state``), as in torch.

    The closure:
        ``closure()`` takes no arguments and must (1) zero the gradients, (2) compute the loss
        at the parameters' *current* values, (3) fill every parameter's ``.grad`` with the
        gradient of that loss (in place, as ``Net.backward`` does, or by assigning an array of
        the parameter's shape and dtype), and (4) return the loss as a float (or a 0-d array).
        It is called several times per step, at trial points; do not step another optimizer in
        it. A ``None`` ``.grad`` counts as zero.

    Args:
        params: the parameters (one group only: L-BFGS has no per-group options), all of one
            dtype; float32 parameters keep float32 buffers and accumulate dot products in
            float64.
        lr: step length scale (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient entry is at most this (default 1e-7).
        tolerance_change: stop when the loss or the step changes less (default 1e-9).
        history_size: curvature pairs kept (default 100).
        line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``.

    State (``state[first parameter]``, torch's keys): ``func_evals``, ``n_iter`` (totals over
    all steps), ``d`` (last direction), ``t`` (last step), ``old_dirs`` (the ``y_i``),
    ``old_stps`` (the ``s_i``), ``ro`` (``1 / y_i·s_i``), ``H_diag``, ``prev_flat_grad``,
    ``prev_loss``, ``al`` (two-loop scratch).

    Raises:
        ValueError: an invalid hyper-parameter (named), or parameter groups.
        TypeError: parameters of mixed dtypes; a closure that returns no number.
        fastgd.DivergenceError: the closure returned a NaN/inf loss or gradient (a
            ``FloatingPointError``); the parameters are left at the last point whose loss
            was finite.

    Example:
        >>> opt = fastgd.optim.LBFGS(net.parameters(), line_search_fn="strong_wolfe")
        >>> def closure():
        ...     net.zero_grad()
        ...     loss, dout = fastgd.losses.get_loss("mse")(net.forward(X), y)
        ...     net.backward(dout)
        ...     return loss
        >>> for _ in range(10):
        ...     loss = opt.step(closure)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_eval is None and isinstance(max_iter, numbers.Integral):
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        dtypes = sorted({str(p.dtype) for p in self._params})
        if len(dtypes) > 1:
            raise TypeError(
                f"LBFGS: all parameters must have one dtype (it works on one flat vector), got "
                f"{' and '.join(dtypes)}"
            )
        self._numel = sum(p.size for p in self._params)
        # Set by fastgd.minimize: called after every iteration's move with the loss there
        # (None when the step did not evaluate it), and why the last step stopped.
        self._on_iteration: Callable[[float | None], None] | None = None
        self._stop_reason = ""

    def _validate_group(self, group: dict[str, Any]) -> None:
        lr = group["lr"]
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not float(lr) >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        _positive_int(group, "max_iter")
        _positive_int(group, "max_eval")
        _non_negative(group, "tolerance_grad")
        _non_negative(group, "tolerance_change")
        _positive_int(group, "history_size")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                f"{group['line_search_fn']!r}"
            )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    @property
    def _params(self) -> list[Parameter]:
        return self.param_groups[0]["params"]

    # ------------------------------------------------------------ the flat parameter vector

    def _gather_flat_grad(self) -> np.ndarray:
        views = []
        for i, p in enumerate(self._params):
            g = p.grad
            if g is None:
                views.append(np.zeros(p.size, dtype=p.dtype))
                continue
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                got = (f"shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray)
                       else type(g).__name__)
                raise ValueError(
                    f"LBFGS: after the closure, parameter {i}'s .grad must be an array of shape "
                    f"{p.shape} and dtype {p.dtype} (the closure fills it), got {got}"
                )
            views.append(g.reshape(-1))
        return np.concatenate(views)

    def _add_grad(self, step_size: float, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.size
            p.data += step_size * update[offset:offset + n].reshape(p.shape)
            offset += n

    def _clone_param(self) -> list[np.ndarray]:
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data: list[np.ndarray]) -> None:
        for p, data in zip(self._params, params_data, strict=True):
            p.data[...] = data

    def _evaluate(self, closure: Closure, restore: list[np.ndarray] | None) -> tuple[float, np.ndarray]:
        """``closure()`` and the flat gradient; a non-finite result restores ``restore`` (the
        last point with a finite loss) and raises."""
        value = closure()
        try:
            loss = float(np.asarray(value).item())
        except (TypeError, ValueError):
            raise TypeError(
                "LBFGS: closure() must return the loss as a number, got "
                f"{type(value).__name__}" + (f" of shape {np.shape(value)}"
                                             if hasattr(value, "shape") else "")
            ) from None
        flat_grad = self._gather_flat_grad()
        bad = None if math.isfinite(loss) else f"a non-finite loss ({loss})"
        if bad is None and not np.isfinite(flat_grad).all():
            bad = f"a non-finite gradient (first at flat index {int(np.argmin(np.isfinite(flat_grad)))})"
        if bad is not None:
            if restore is not None:
                self._set_param(restore)
            raise DivergenceError(
                f"LBFGS: the closure returned {bad}; stopped, with the parameters at the last "
                "point whose loss was finite. Try a smaller lr, line_search_fn='strong_wolfe', "
                "or standardise the inputs; check that the closure computes the loss at the "
                "current parameters."
            )
        return loss, flat_grad

    def _directional_evaluate(self, closure: Closure, x: list[np.ndarray], t: float,
                              d: np.ndarray) -> tuple[float, np.ndarray]:
        self._add_grad(t, d)
        try:
            loss, flat_grad = self._evaluate(closure, x)
        finally:
            self._set_param(x)
        return loss, flat_grad

    # ---------------------------------------------------------------------------- the step

    def step(self, closure: Closure | None = None) -> float:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss at the starting point.

        Args:
            closure: re-evaluates the model: zeroes the gradients, computes the loss, fills
                every parameter's ``.grad`` and returns the loss (see the class docstring).
        """
        if closure is None or not callable(closure):
            raise TypeError(
                "LBFGS.step needs a closure: a function that computes the loss, fills each "
                f"parameter's .grad and returns the loss, got {type(closure).__name__}"
            )
        self._use_state(True)
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        # L-BFGS's state is global; like torch, it is kept as the first parameter's state.
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, flat_grad = self._evaluate(closure, None)
        loss = orig_loss
        current_evals = 1
        state["func_evals"] += 1
        if _abs_max(flat_grad) <= tolerance_grad:
            self._stop_reason = f"max |gradient| <= tolerance_grad ({tolerance_grad:g})"
            return orig_loss
        opt_cond = False

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        self._stop_reason = f"max_iter ({max_iter}) iterations done"
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- the direction d = -H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                assert old_dirs is not None and old_stps is not None and ro is not None
                assert d is not None and t is not None and prev_flat_grad is not None
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(y, s)
                if ys > 1e-10:  # keep only pairs with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _dot(y, y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # two-loop recursion: q = -g, newest pair first; then d = H_0 q, oldest first
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = _dot(old_stps[i], q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = q * H_diag
                for i in range(num_old):
                    be_i = _dot(old_dirs[i], d) * ro[i]
                    d += (al[i] - be_i) * old_stps[i]

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum(dtype=np.float64))) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)
            if gtd > -tolerance_change:
                self._stop_reason = (f"directional derivative {gtd:.3g} > -tolerance_change "
                                     f"({tolerance_change:g})")
                break

            ls_func_evals = 0
            new_loss: float | None
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(step: float, x: list[np.ndarray] = x_init,
                             direction: np.ndarray = d) -> tuple[float, np.ndarray]:
                    return self._directional_evaluate(closure, x, step, direction)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _abs_max(flat_grad) <= tolerance_grad
                new_loss = loss
            else:
                before = self._clone_param()
                self._add_grad(t, d)
                new_loss = None
                if n_iter != max_iter:
                    # (not on the last iteration: the next step evaluates there anyway)
                    loss, flat_grad = self._evaluate(closure, before)
                    opt_cond = _abs_max(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
                    new_loss = loss
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if self._on_iteration is not None:
                self._on_iteration(new_loss)

            # ---- stopping conditions
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                self._stop_reason = f"max_eval ({max_eval}) evaluations done"
                break
            if opt_cond:
                self._stop_reason = f"max |gradient| <= tolerance_grad ({tolerance_grad:g})"
                break
            if _abs_max(d * t) <= tolerance_change:
                self._stop_reason = f"step <= tolerance_change ({tolerance_change:g})"
                break
            if abs(loss - prev_loss) < tolerance_change:
                self._stop_reason = (f"loss change < tolerance_change ({tolerance_change:g})")
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    # ------------------------------------------------------------------------ serialisation

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()``; its flat vectors must match these parameters (checked
        before anything changes)."""
        n, dtype = self._numel, self._params[0].dtype
        for key, entry in (state_dict.get("state") or {}).items() if isinstance(
                state_dict, dict) else ():
            vectors = [(name, entry.get(name)) for name in ("d", "prev_flat_grad")]
            for name in ("old_dirs", "old_stps"):
                vectors += [(f"{name}[{i}]", v) for i, v in enumerate(entry.get(name) or [])]
            for name, v in vectors:
                if v is None:
                    continue
                if not isinstance(v, np.ndarray) or v.shape != (n,) or v.dtype != dtype:
                    got = (f"shape {v.shape} and dtype {v.dtype}" if isinstance(v, np.ndarray)
                           else type(v).__name__)
                    raise ValueError(
                        f"state[{key}][{name!r}] must be a flat array of shape ({n},) and dtype "
                        f"{dtype} (all parameters together), got {got}"
                    )
        super().load_state_dict(state_dict)
