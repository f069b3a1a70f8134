"""``get_optimizer``: build an optimizer from a name, a class or an instance."""

from __future__ import annotations

from typing import Any

from .adam import Adam, AdamW
from .base import Optimizer, ParamsT
from .lbfgs import LBFGS
from .sgd import SGD

__all__ = ["OPTIMIZERS", "get_optimizer"]

#: Optimizer classes by (lower-case) name.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
OPTIMIZERS["lbfgs"] = LBFGS


def get_optimizer(
    spec: str | type[Optimizer] | Optimizer, params: ParamsT | None = None, **hyper: Any
) -> Optimizer:
    """Return an optimizer for ``params`` from a name, an ``Optimizer`` subclass or an instance.

    Args:
        spec: ``"sgd"``, ``"adam"`` or ``"adamw"`` (case-insensitive), an ``Optimizer``
            subclass, or an ``Optimizer`` instance (returned as is; ``hyper`` must be empty).
        params: the parameters to optimize (ignored for an instance).
        **hyper: hyper-parameters for the constructor (``lr=0.1, momentum=0.9``, ...).

    Raises:
        ValueError: unknown name (the message lists the valid ones), or ``hyper`` given with an
            instance.
        TypeError: ``spec`` is none of the above.

    Example:
        >>> opt = get_optimizer("adam", net.parameters(), lr=1e-3)
    """
    if isinstance(spec, Optimizer):
        if hyper:
            raise ValueError(
                f"hyper-parameters {sorted(hyper)} were given with an already constructed "
                f"{type(spec).__name__}; set them on the optimizer itself instead"
            )
        return spec
    if isinstance(spec, str):
        cls = OPTIMIZERS.get(spec.lower())
        if cls is None:
            raise ValueError(
                f"unknown optimizer {spec!r}; valid names are {', '.join(map(repr, OPTIMIZERS))}"
            )
    elif isinstance(spec, type) and issubclass(spec, Optimizer):
        cls = spec
    else:
        raise TypeError(
            "optimizer must be a name ('sgd', 'adam', 'adamw'), an fastgd.optim.Optimizer "
            f"subclass or instance, got {spec!r}"
        )
    if params is None:
        raise ValueError(f"get_optimizer({spec!r}) needs the parameters to optimize")
    return cls(params, **hyper)
