"""Data sets: the bundled 8×8 handwritten digits (a copy of scikit-learn's, from UCI optdigits),
MNIST and Fashion-MNIST (downloaded and checked on first use), and a reader (and writer) for IDX
files, the format of MNIST and its drop-ins."""

from __future__ import annotations

from importlib import resources

import numpy as np

from .download import DownloadError, data_home
from .idx import load_idx, save_idx
from .mnist import load_fashion_mnist, load_mnist

__all__ = ["DownloadError", "data_home", "load_digits", "load_fashion_mnist", "load_idx", "load_mnist",
           "save_idx"]


def load_digits(*, dtype: str | np.dtype = "float32", scale: bool = True,
                n_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Load the 1797 bundled 8×8 digit images as ``(X, y)``.

    Args:
        dtype: float dtype of X.
        scale: divide pixel values (0..16) by 16 so features lie in [0, 1].
        n_class: keep only digits ``0 .. n_class-1`` (as scikit-learn's ``load_digits``).
    Returns:
        X: (n, 64) of ``dtype``; y: (n,) int64 labels.

    Example:
        >>> X, y = load_digits()
        >>> X.shape, y.shape
        ((1797, 64), (1797,))
    """
    if not 1 <= n_class <= 10:
        raise ValueError(f"load_digits: n_class must be in 1..10, got {n_class}")
    with resources.files(__package__).joinpath("digits.npz").open("rb") as f, np.load(f) as d:
        X, y = d["data"], d["target"].astype(np.int64)
    keep = y < n_class
    X = X[keep].astype(dtype)
    if scale:
        X /= 16
    return X, y[keep]
