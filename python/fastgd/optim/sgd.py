"""Stochastic gradient descent (with momentum / Nesterov), exactly ``torch.optim.SGD``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .base import Optimizer, ParamsT

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with ``torch.optim.SGD``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`
    (:math:`\mu` = momentum, :math:`\tau` = dampening, :math:`\lambda` = weight_decay,
    :math:`\gamma` = lr)::

        g  = -g_t if maximize else g_t
        g  = g + λ·θ                                   (if weight_decay != 0)
        if μ != 0:
            b = g                     on the first step (b is state["momentum_buffer"])
            b = μ·b + (1 - τ)·g       afterwards
            g = g + μ·b  if nesterov  else  b
        θ  = θ - γ·g

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.sgd_step``.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        momentum: momentum factor μ (>= 0).
        dampening: dampening τ for momentum.
        weight_decay: L2 penalty λ (>= 0), added to the gradient.
        nesterov: Nesterov momentum (requires momentum > 0 and dampening = 0).
        maximize: ascend instead of descend.

    State (per parameter): ``momentum_buffer`` (shape and dtype of the parameter), once a
    step with momentum != 0 has been taken.

    Example:
        >>> opt = fastgd.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        >>> opt.zero_grad(); net.backward(dout); opt.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        # The messages are torch's, word for word.
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        if group["maximize"]:
            grad = -grad
        momentum = group["momentum"]
        buf = None
        init = False
        if momentum != 0:
            state = self.state.setdefault(param, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.empty_like(param.data)
                init = True
        ops.sgd_step(
            param.data,
            grad,
            buf,
            lr=group["lr"],
            momentum=momentum,
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            weight_decay=group["weight_decay"],
            init_buffer=init,
        )
