"""fastgd: gradient-descent training on the CPU with C++/BLAS kernels and NumPy twins."""

from __future__ import annotations

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only hit on a broken install
    raise ImportError(
        "fastgd's compiled extension fastgd._core could not be imported. Did you build it? "
        "Install with `pip install .` (or `pip install -e .` for development) from the "
        f"source tree. Original error: {exc}"
    ) from exc

from . import ops, optim, reference
from .minimize import MinimizeResult, minimize
from .parameter import Parameter
from .runtime import get_num_threads, set_num_threads

__version__: str = _core.__version__

__all__ = [
    "MinimizeResult",
    "minimize",
    "optim",
    "Parameter",
    "__version__",
    "get_num_threads",
    "ops",
    "reference",
    "set_num_threads",
]
