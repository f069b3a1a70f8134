"""Gradient clipping by global norm, ``torch.nn.utils.clip_grad_norm_`` semantics."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..parameter import Parameter

__all__ = ["clip_grad_norm"]


def clip_grad_norm(
    params: Parameter | np.ndarray | Iterable[Parameter | np.ndarray],
    max_norm: float,
    norm_type: float | str = 2.0,
) -> float:
    r"""Rescale gradients in place so that their global norm is at most ``max_norm``.

    With ``total = ‖(‖g_1‖_p, …, ‖g_k‖_p)‖_p`` (the p-norm of all gradients as one vector;
    ``p = inf``: the largest ``|g|``)::

        coef = max_norm / (total + 1e-6)
        g_i  = g_i · coef   for every i, when coef < 1   (i.e. when total > max_norm - 1e-6)

    exactly as ``torch.nn.utils.clip_grad_norm_``. Non-finite gradients are treated as torch
    treats them: a NaN total makes every gradient NaN, an infinite one zeroes the finite entries.

    Args:
        params: ``fastgd.Parameter`` objects (their ``.grad`` is clipped; a ``None`` grad is
            skipped), or plain float arrays that *are* the gradients (as passed to
            ``Optimizer.step(grads=...)``), or a single one of either.
        max_norm: the largest allowed global norm (>= 0).
        norm_type: ``p`` of the norm (any positive float, or ``inf`` / ``"inf"``).

    Returns:
        The global norm of the gradients *before* clipping, as a Python float.

    Example:
        >>> total = fastgd.optim.clip_grad_norm(net.parameters(), max_norm=1.0)
        >>> opt.step()
    """
    items = [params] if isinstance(params, (Parameter, np.ndarray)) else list(params)
    grads: list[np.ndarray] = []
    for i, item in enumerate(items):
        g = item.grad if isinstance(item, Parameter) else item
        if g is None:
            continue
        if not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"clip_grad_norm: params[{i}] must be a fastgd.Parameter or a float32/float64 "
                f"array, got {type(g).__name__}"
            )
        grads.append(g)
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"clip_grad_norm: norm_type must be positive (or inf), got {norm_type!r}")
    max_norm = float(max_norm)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm}")
    if not grads:
        return 0.0

    # Per-array norms in float64 (a float32 sum of squares loses digits on large models).
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isinf(p):
            norms = [float(np.max(np.abs(g))) if g.size else 0.0 for g in grads]
            total = max(norms)
        else:
            norms = [float(np.linalg.norm(g.ravel().astype(np.float64), ord=p)) for g in grads]
            total = float(np.linalg.norm(np.array(norms), ord=p))
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0 and not math.isnan(coef):
        return total
    with np.errstate(invalid="ignore"):  # inf · 0 = NaN, as in torch
        for g in grads:
            g *= g.dtype.type(coef)
    return total
