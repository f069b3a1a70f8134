"""fastgd: gradient-descent training on the CPU with C++/BLAS kernels and NumPy twins."""

from __future__ import annotations

from typing import Any

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only hit on a broken install
    raise ImportError(
        "fastgd's compiled extension fastgd._core could not be imported. Did you build it? "
        "Install with `pip install .` (or `pip install -e .` for development) from the "
        f"source tree. Original error: {exc}"
    ) from exc

from . import callbacks, datasets, distributed, losses, ops, optim, reference
from .callbacks import Callback, EarlyStopping, History, LambdaCallback, ModelCheckpoint
from .errors import DivergenceError
from .gradcheck import gradcheck
from .layers import (
    ELU,
    GELU,
    BatchNorm1d,
    Dropout,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .minimize import MinimizeResult, minimize
from .net import Net
from .parameter import Parameter
from .runtime import get_num_threads, set_num_threads
from .trainer import Trainer

__version__: str = _core.__version__

__all__ = [
    "BatchNorm1d",
    "Callback",
    "DivergenceError",
    "Dropout",
    "ELU",
    "EarlyStopping",
    "GELU",
    "History",
    "Identity",
    "LambdaCallback",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "ModelCheckpoint",
    "Net",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "Trainer",
    "callbacks",
    "datasets",
    "distributed",
    "gradcheck",
    "losses",
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


def __getattr__(name: str) -> Any:
    # fastgd.plot on first use: importing fastgd does not import matplotlib.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'fastgd' has no attribute {name!r}")
