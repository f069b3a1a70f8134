"""Optimizers with ``torch.optim`` semantics, learning-rate schedules and gradient clipping.

``SGD``, ``Adam`` and ``AdamW`` update parameters in place with fused C++ kernels
(``fastgd.ops.sgd_step`` / ``fastgd.ops.adam_step``); results match ``torch.optim`` for the same
hyper-parameters. ``schedules`` holds learning-rate schedules (functions of the step) and
torch-like schedulers; ``clip_grad_norm`` clips gradients by their global norm.

Example:
    >>> opt = fastgd.optim.Adam(net.parameters(), lr=1e-3)
    >>> opt.zero_grad(); net.backward(dout); opt.step()
"""

from __future__ import annotations

from . import schedules
from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm
from .lbfgs import LBFGS
from .registry import OPTIMIZERS, get_optimizer
from .sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "Adam",
    "AdamW",
    "LBFGS",
    "Optimizer",
    "SGD",
    "clip_grad_norm",
    "get_optimizer",
    "schedules",
]
