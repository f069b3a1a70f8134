"""``gradcheck``: compare a net's backpropagated gradients with central differences."""

from __future__ import annotations

from typing import Any

import numpy as np

from .losses import Loss, get_loss

__all__ = ["gradcheck"]


def gradcheck(net: Any, X: np.ndarray, y: np.ndarray, loss: str | Loss = "mse", eps: float = 1e-6,
              max_elements: int | None = 200, seed: int = 0) -> dict[str, float]:
    """Worst relative error between backprop and central differences, per parameter.

    The check runs on a float64 copy of ``net`` (``net`` itself is not changed), in the net's
    mode, on the mean loss over ``(X, y)``. Every evaluation starts from the same buffers, so a
    ``Dropout`` in train mode keeps one mask (that of the backprop pass) and ``BatchNorm1d``
    the same running statistics. For each parameter, up to ``max_elements`` entries (a seeded
    random subset; None: all) are perturbed by ``±eps``; the error of an entry is
    ``|analytic - numeric| / max(|analytic|, |numeric|, 1e-8)`` (a parameter whose gradient is
    zero, such as a bias right before a ``BatchNorm1d``, shows the differences' rounding noise,
    ~1e-2).

    Returns:
        ``{"0.W": 3e-9, "0.b": 1e-10, ...}``; correct layers give ~1e-7 or less.

    Example:
        >>> errors = fastgd.gradcheck(net, X[:8], y[:8], loss="cross_entropy")
        >>> max(errors.values()) < 1e-6
        True
    """
    loss_fn = get_loss(loss)
    net64 = net.astype("float64")
    X64 = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    y64 = y.astype(np.float64) if y.dtype.kind == "f" else y
    X64 = net64.check_input(X64)
    y64 = loss_fn.check_targets(y64, (len(X64), net64.output_features(X64.shape[1])), net64.dtype)

    start = {name: b.copy() for name, b in net64.buffers().items()}

    def restart() -> None:  # the buffers as before the first forward: the same dropout masks
        for name, b in net64.buffers().items():
            b[...] = start[name]

    def value() -> float:
        restart()
        return float(loss_fn(net64.forward(X64), y64)[0])

    restart()
    net64.zero_grad()
    _, dout = loss_fn(net64.forward(X64), y64)
    net64.backward(dout)
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    for name, p in net64.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.reshape(-1)
        idx = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            idx = rng.choice(flat.size, max_elements, replace=False)
        worst = 0.0
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            fp = value()
            flat[i] = old - eps
            fm = value()
            flat[i] = old
            num = (fp - fm) / (2 * eps)
            err = abs(grad[i] - num) / max(abs(grad[i]), abs(num), 1e-8)
            worst = max(worst, float(err))
        errors[name] = worst
    return errors
