"""Adam and AdamW, exactly ``torch.optim.Adam`` / ``torch.optim.AdamW``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .base import Optimizer, ParamsT

__all__ = ["Adam", "AdamW", "validate_adam_like"]


def validate_adam_like(group: dict[str, Any]) -> None:
    """Raise torch's ``ValueError`` for an invalid lr, eps, betas or weight_decay of ``group``."""
    # The messages are torch's, word for word.
    betas = group["betas"]
    if not 0.0 <= group["lr"]:
        raise ValueError(f"Invalid learning rate: {group['lr']}")
    if not 0.0 <= group["eps"]:
        raise ValueError(f"Invalid epsilon value: {group['eps']}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= group["weight_decay"]:
        raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")


class Adam(Optimizer):
    r"""Adam with ``torch.optim.Adam``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` (:math:`\gamma` = lr,
    :math:`\lambda` = weight_decay, :math:`\beta_1, \beta_2` = betas, :math:`\epsilon` = eps)::

        t  = t + 1                                  (state["step"], incremented first)
        g  = -g_t if maximize else g_t
        θ  = θ·(1 - γλ)                             (decoupled weight decay: AdamW)
        g  = g + λ·θ                                (coupled weight decay: Adam, λ != 0)
        m  = β1·m + (1 - β1)·g                      (state["exp_avg"])
        v  = β2·v + (1 - β2)·g²                     (state["exp_avg_sq"])
        v̂ = max(v̂, v) if amsgrad else v            (state["max_exp_avg_sq"])
        θ  = θ - γ/(1 - β1^t) · m / (sqrt(v̂)/sqrt(1 - β2^t) + ε)

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.adam_step``.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        betas: ``(β1, β2)``, each in [0, 1).
        eps: ε added to the denominator (>= 0).
        weight_decay: λ (>= 0); an L2 penalty added to the gradient (Adam), or decoupled
            shrinkage of the weights (``decoupled_weight_decay=True``, i.e. AdamW).
        amsgrad: use the running maximum of ``v`` (AMSGrad).
        maximize: ascend instead of descend.
        decoupled_weight_decay: AdamW's weight decay (as in torch).

    State (per parameter): ``step`` (int), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq`` (arrays of the parameter's shape and dtype).

    Example:
        >>> opt = fastgd.optim.Adam(net.parameters(), lr=1e-3)
        >>> opt.zero_grad(); net.backward(dout); opt.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
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
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        ops.adam_step(
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
            max_exp_avg_sq=state["max_exp_avg_sq"] if group["amsgrad"] else None,
        )


class AdamW(Adam):
    r"""AdamW (Adam with decoupled weight decay), exactly ``torch.optim.AdamW``.

    Same update as ``Adam`` except that the weights shrink before the Adam step instead of the
    gradient getting an L2 term: ``θ = θ·(1 - γλ)``, then
    ``θ -= γ/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)`` with ``m``, ``v`` built from the raw
    gradient. Default ``weight_decay=1e-2`` as in torch.

    Example:
        >>> opt = fastgd.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            decoupled_weight_decay=True,
        )

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        if not group["decoupled_weight_decay"]:
            raise ValueError(
                "AdamW always uses decoupled weight decay (decoupled_weight_decay=True)"
            )
