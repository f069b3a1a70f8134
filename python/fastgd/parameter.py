"""``Parameter``: a trainable array and its gradient, both plain NumPy arrays."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array ``data`` with its gradient ``grad`` (same shape and dtype).

    Both are NumPy arrays owned by the model and shared, not copied: editing ``p.data`` in place
    edits the model. ``backward`` *accumulates* into ``grad``; ``zero_grad`` clears it.

    Example:
        >>> p = Parameter(np.zeros((3, 2), dtype=np.float32), name="W")
        >>> p.grad.shape
        (3, 2)
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: np.ndarray, name: str = "", grad: np.ndarray | None = None):
        if not isinstance(data, np.ndarray) or data.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"Parameter data must be a float32 or float64 numpy.ndarray, got "
                f"{type(data).__name__}{'' if not isinstance(data, np.ndarray) else ' ' + str(data.dtype)}"
            )
        self.data = data
        self.grad = np.zeros_like(data) if grad is None else grad
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        self.grad[...] = 0

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"Parameter({name}shape={self.data.shape}, dtype={self.data.dtype})"
