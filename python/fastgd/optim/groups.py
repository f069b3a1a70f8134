"""``param_groups``: torch-style parameter groups with no weight decay on biases and norms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..parameter import Parameter

__all__ = ["param_groups"]


def _owners(module: Any, out: dict[int, str]) -> None:
    """Map id(parameter) -> class name of the (innermost) layer that holds it."""
    for layer in getattr(module, "layers", ()):
        if hasattr(layer, "layers"):
            _owners(layer, out)
        else:
            for p in layer.parameters():
                out.setdefault(id(p), type(layer).__name__)


def param_groups(
    net: Any, weight_decay: float = 1e-4, no_decay: Iterable[str] = ("bias", "norm")
) -> list[dict[str, Any]]:
    """Split ``net``'s parameters into a decayed and a non-decayed group, as torch users do.

    A parameter gets no weight decay when an entry of ``no_decay`` (case-insensitive) names it:
    ``"bias"`` matches a parameter whose name (from ``net.named_parameters()``) ends in ``b`` or
    ``bias``; any entry matches the last part of the name itself or is contained in the class
    name of the layer that holds the parameter, so ``"norm"`` matches every parameter of a
    ``BatchNorm1d`` or ``LayerNorm``.

    Args:
        net: a ``fastgd.Net`` (anything with ``named_parameters()``).
        weight_decay: the decay of the first group.
        no_decay: what to exclude from weight decay.

    Returns:
        ``[{"params": [...], "weight_decay": weight_decay}, {"params": [...], "weight_decay":
        0.0}]`` in parameter order, leaving out a group that would be empty; pass it to any
        ``fastgd.optim`` optimizer (other options come from the optimizer's defaults).

    Example:
        >>> opt = fastgd.optim.AdamW(fastgd.optim.param_groups(net, weight_decay=0.05), lr=1e-3)
    """
    if isinstance(no_decay, str):
        no_decay = (no_decay,)
    keys = [str(k).lower() for k in no_decay]
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    named: list[tuple[str, Parameter]] = list(net.named_parameters())
    owners: dict[int, str] = {}
    _owners(net, owners)
    decay: list[Parameter] = []
    plain: list[Parameter] = []
    for name, p in named:
        last = name.rsplit(".", 1)[-1].lower()
        owner = owners.get(id(p), "").lower()
        excluded = any(
            last == k or (k == "bias" and last == "b") or (k and k in owner) for k in keys
        )
        (plain if excluded else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
