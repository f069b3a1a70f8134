"""NAdam, exactly ``torch.optim.NAdam``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..parameter import Parameter
from .adam import validate_adam_like
from .base import Optimizer, ParamsT

__all__ = ["NAdam", "nadam_mu", "next_mu_product"]


def nadam_mu(beta1: float, momentum_decay: float, step: int) -> float:
    """NAdam's momentum coefficient at ``step``: ``μ_t = β1·(1 - 0.5·0.96^(t·momentum_decay))``."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def next_mu_product(mu_product: float, mu: float) -> float:
    """``mu_product · mu`` as torch computes it: its ``mu_product`` is a float32 tensor (torch's
    default scalar dtype, whatever the parameter's dtype), so each product is rounded to float32."""
    return float(np.float32(mu_product) * np.float32(mu))


class NAdam(Optimizer):
    r"""NAdam (Adam with Nesterov momentum) with ``torch.optim.NAdam``'s semantics and defaults.

    For each parameter :math:`\theta` with gradient :math:`g_t` (:math:`\gamma` = lr,
    :math:`\lambda` = weight_decay, :math:`\psi` = momentum_decay)::

        t   = t + 1                                  (state["step"])
        g   = -g_t if maximize else g_t
        θ   = θ·(1 - γλ)                             (decoupled_weight_decay)
        g   = g + λ·θ                                (otherwise, λ != 0)
        μ_t = β1·(1 - ½·0.96^(tψ));  μ_{t+1} likewise
        Π   = Π·μ_t                                  (state["mu_product"], 1 at first; float32)
        m   = lerp(m, g, 1 - β1)                     (state["exp_avg"])
        v   = β2·v + (1 - β2)·g²                     (state["exp_avg_sq"])
        d   = sqrt(v / (1 - β2^t)) + ε
        θ   = θ - γ(1 - μ_t)/(1 - Π) · g/d - γμ_{t+1}/(1 - Π·μ_{t+1}) · m/d

    The update runs in one fused pass of the C++ kernel ``fastgd.ops.nadam_step``.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate γ (>= 0).
        betas: ``(β1, β2)``, each in [0, 1).
        eps: ε added to the denominator (>= 0).
        weight_decay: λ (>= 0).
        momentum_decay: ψ (>= 0).
        decoupled_weight_decay: shrink the weights (AdamW-style) instead of adding λθ to g.
        maximize: ascend instead of descend.

    State (per parameter): ``step`` (int), ``mu_product`` (float, a float32 value as in torch),
    ``exp_avg``, ``exp_avg_sq`` (arrays of the parameter's shape and dtype).

    Example:
        >>> opt = fastgd.optim.NAdam(net.parameters(), lr=2e-3)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        validate_adam_like(group)
        if not 0.0 <= group["momentum_decay"]:
            raise ValueError(f"Invalid momentum_decay value: {group['momentum_decay']}")

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        if group["maximize"]:
            grad = -grad
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        mu = nadam_mu(beta1, group["momentum_decay"], state["step"])
        state["mu_product"] = next_mu_product(state["mu_product"], mu)
        ops.nadam_step(
            param.data,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            step=state["step"],
            mu_product=state["mu_product"],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"],
            decoupled=group["decoupled_weight_decay"],
        )
