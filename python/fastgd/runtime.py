"""Thread control and build information."""

from __future__ import annotations

from . import _core


def set_num_threads(n: int) -> None:
    """Set the number of threads fastgd's kernels use (OpenBLAS and elementwise loops).

    Example:
        >>> fastgd.set_num_threads(1)
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads fastgd's kernels use."""
    return int(_core.get_num_threads())


def blas_info() -> dict[str, str]:
    """OpenBLAS build configuration and the CPU kernel it selected."""
    return {"config": _core.blas_config(), "corename": _core.blas_corename()}
