"""RAdam, exactly ``torch.optim.RAdam``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .adam import validate_adam_like
from .base import Optimizer, ParamsT

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam (rectified Adam) with ``torch.optim.RAdam``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` (:math:`\gamma` = lr,
    :math:`\lambda` = weight_decay)::

        t   = t + 1                                  (state["step"])
        g   = -g_t if maximize else g_t
        θ   = θ·(1 - γλ)                             (decoupled_weight_decay)
        g   = g + λ·θ                                (otherwise, λ != 0)
        m   = lerp(m, g, 1 - β1)                     (state["exp_avg"])
        v   = β2·v + (1 - β2)·g²                     (state["exp_avg_sq"])
        ρ∞  = 2/(1 - β2) - 1;   ρ_t = ρ∞ - 2t·β2^t/(1 - β2^t)
        if ρ_t > 5:
            r = sqrt((ρ_t - 4)(ρ_t - 2)ρ∞ / ((ρ∞ - 4)(ρ∞ - 2)ρ_t))
            θ = θ - γ·m/(1 - β1^t) · r·sqrt(1 - β2^t)/(sqrt(v) + ε)
        else:
            θ = θ - γ·m/(1 - β1^t)                   (the variance is not yet tractable)

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.radam_step``.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        betas: ``(β1, β2)``, each in [0, 1).
        eps: ε added to the denominator (>= 0).
        weight_decay: λ (>= 0).
        decoupled_weight_decay: shrink the weights (AdamW-style) instead of adding λθ to g.
        maximize: ascend instead of descend.

    State (per parameter): ``step`` (int), ``exp_avg``, ``exp_avg_sq``.

    Example:
        >>> opt = fastgd.optim.RAdam(net.parameters(), lr=1e-3)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        validate_adam_like(group)

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        if group["maximize"]:
            grad = -grad
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        ops.radam_step(
            param.data,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            step=state["step"],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            decoupled=group["decoupled_weight_decay"],
        )
