"""Adagrad, exactly ``torch.optim.Adagrad``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .base import Optimizer, ParamsT

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad with ``torch.optim.Adagrad``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` (:math:`\gamma` = lr,
    :math:`\eta` = lr_decay, :math:`\lambda` = weight_decay)::

        t  = t + 1                                  (state["step"])
        g  = -g_t if maximize else g_t
        g  = g + λ·θ                                (if weight_decay != 0)
        s  = s + g²                                 (state["sum"], initial_accumulator_value at first)
        θ  = θ - γ/(1 + (t - 1)·η) · g / (sqrt(s) + ε)

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.adagrad_step``. As in
    torch, the state (``step`` 0, ``sum`` filled with ``initial_accumulator_value``) exists from
    construction on; a group's own ``initial_accumulator_value`` is used for its parameters.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        lr_decay: learning-rate decay η (>= 0).
        weight_decay: L2 penalty λ (>= 0), added to the gradient.
        initial_accumulator_value: the starting value of ``sum`` (>= 0).
        eps: ε added to the denominator (>= 0).
        maximize: ascend instead of descend.

    State (per parameter): ``step`` (int) and ``sum`` (array of the parameter's shape and dtype).

    Example:
        >>> opt = fastgd.optim.Adagrad(net.parameters(), lr=1e-2)
        >>> opt.zero_grad(); net.backward(dout); opt.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p)

    def _init_state(self, group: dict[str, Any], param: Parameter) -> dict[str, Any]:
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])
        return state

    def _validate_group(self, group: dict[str, Any]) -> None:
        # The messages are torch's, word for word.
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {group['lr_decay']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if not 0.0 <= group["initial_accumulator_value"]:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {group['initial_accumulator_value']}"
            )
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        if group["maximize"]:
            grad = -grad
        state = self._init_state(group, param)  # (a group added after construction)
        state["step"] += 1
        ops.adagrad_step(
            param.data,
            grad,
            state["sum"],
            step=state["step"],
            lr=group["lr"],
            lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
        )
