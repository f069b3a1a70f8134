"""RMSprop, exactly ``torch.optim.RMSprop``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .base import Optimizer, ParamsT

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop with ``torch.optim.RMSprop``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` (:math:`\gamma` = lr,
    :math:`\alpha` = alpha, :math:`\lambda` = weight_decay, :math:`\mu` = momentum)::

        t   = t + 1                                 (state["step"])
        g   = -g_t if maximize else g_t
        g   = g + λ·θ                               (if weight_decay != 0)
        v   = α·v + (1 - α)·g²                      (state["square_avg"])
        if centered:
            ḡ = lerp(ḡ, g, 1 - α)                   (state["grad_avg"])
            a = sqrt(v - ḡ²) + ε
        else:
            a = sqrt(v) + ε
        if μ > 0:
            b = μ·b + g/a;  θ = θ - γ·b             (state["momentum_buffer"], zeros at first)
        else:
            θ = θ - γ·g/a

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.rmsprop_step``.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        alpha: smoothing constant α (>= 0).
        eps: ε added to the denominator (>= 0).
        weight_decay: L2 penalty λ (>= 0), added to the gradient.
        momentum: momentum factor μ (>= 0).
        centered: normalise by the estimated variance of the gradient instead of its second
            moment.
        maximize: ascend instead of descend.

    State (per parameter): ``step`` (int), ``square_avg`` and, with ``momentum > 0``,
    ``momentum_buffer``, with ``centered``, ``grad_avg`` (arrays of the parameter's shape and
    dtype).

    Example:
        >>> opt = fastgd.optim.RMSprop(net.parameters(), lr=1e-2, momentum=0.9, centered=True)
        >>> opt.zero_grad(); net.backward(dout); opt.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        # The messages are torch's, word for word.
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if not 0.0 <= group["momentum"]:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if not 0.0 <= group["alpha"]:
            raise ValueError(f"Invalid alpha value: {group['alpha']}")

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        if group["maximize"]:
            grad = -grad
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
        momentum = group["momentum"]
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param.data)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param.data)
        state["step"] += 1
        ops.rmsprop_step(
            param.data,
            grad,
            state["square_avg"],
            state["grad_avg"] if group["centered"] else None,
            state["momentum_buffer"] if momentum > 0 else None,
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum=momentum,
        )
