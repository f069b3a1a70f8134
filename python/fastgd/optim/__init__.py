"""Optimizers with ``torch.optim`` semantics, learning-rate schedules and gradient clipping.

``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``NAdam`` and ``RAdam`` update parameters
in place with fused C++ kernels (``fastgd.ops.sgd_step``, ``adam_step``, ``rmsprop_step``,
``adagrad_step``, ``nadam_step``, ``radam_step``); results match ``torch.optim`` for the same
hyper-parameters. ``param_groups(net)`` builds groups without weight decay on biases and norms.
``schedules`` holds learning-rate schedules (functions of the step) and torch-like schedulers;
``clip_grad_norm`` clips gradients by their global norm.

Example:
    >>> opt = fastgd.optim.Adam(net.parameters(), lr=1e-3)
    >>> opt.zero_grad(); net.backward(dout); opt.step()
"""

from __future__ import annotations

from . import schedules
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm
from .groups import param_groups
from .lbfgs import LBFGS
from .nadam import NAdam
from .radam import RAdam
from .registry import OPTIMIZERS, get_optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "Adagrad",
    "Adam",
    "AdamW",
    "LBFGS",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "SGD",
    "clip_grad_norm",
    "get_optimizer",
    "param_groups",
    "schedules",
]
