"""``Net.state_dict`` / ``Net.load_state_dict``: every parameter and buffer by name, as torch's.

Names are fastgd's: ``named_parameters()`` (``"0.W"``, ``"0.b"``, ``"1.weight"``, ...) plus
``buffers()`` (``"1.running_mean"``, ...), each layer's in layer order; arrays are in fastgd's
layout (a ``Linear`` weight is ``(in_features, out_features)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from ..net import Net

__all__ = ["IncompatibleKeys", "load_state_dict", "state_dict"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(d, strict=False)`` could not match, as torch's ``_IncompatibleKeys``:
    names of the net missing from ``d``, and names in ``d`` the net does not have."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _layer_index(name: str) -> int:
    return int(name.split(".", 1)[0])


def _targets(net: Net) -> dict[str, np.ndarray]:
    """Every array of the net by state-dict name (the live arrays, not copies), layer by layer:
    a layer's parameters, then its buffers, as torch orders a module's state."""
    named: list[tuple[str, np.ndarray]] = [(n, p.data) for n, p in net.named_parameters()]
    named += list(net.buffers().items())
    # A stable sort on the layer index keeps parameters before buffers within a layer.
    named.sort(key=lambda item: _layer_index(item[0]))
    return dict(named)


def state_dict(net: Net) -> dict[str, np.ndarray]:
    """Copies of every parameter and buffer of ``net``, by name (see the module docstring).

    Unlike torch's, the arrays are copies: the dict is a snapshot that later training does not
    change.

    Example:
        >>> net = fg.Net([fg.Linear(3, 2)], seed=0)
        >>> {k: v.shape for k, v in state_dict(net).items()}
        {'0.W': (3, 2), '0.b': (2,)}
    """
    return {name: np.array(a, copy=True) for name, a in _targets(net).items()}


def _as_array(value: Any, key: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - whatever asarray raises, report the key
        raise TypeError(f"load_state_dict: {key!r} must be an array, got {type(value).__name__}") from exc
    if a.dtype.kind not in "fiub":
        raise TypeError(f"load_state_dict: {key!r} must be a numeric array, got dtype {a.dtype}")
    return a


def load_state_dict(net: Net, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
    """Copy ``state``'s arrays into ``net``'s parameters and buffers, in place.

    Values are NumPy arrays (or torch tensors, or anything ``np.asarray`` accepts) of the shape
    of the net's array with that name; they are converted to the net's array dtype (the net's
    dtype never changes), as torch's ``copy_`` does.

    Args:
        net: the net to fill.
        state: ``{name: array}`` as returned by ``state_dict``.
        strict: require exactly the net's names (``ValueError`` listing the missing and
            unexpected ones); False loads the names both have and reports the rest.

    Returns:
        ``IncompatibleKeys(missing_keys, unexpected_keys)`` (both empty when strict).

    Raises:
        TypeError: ``state`` is not a mapping, a key is not a string, a value is not numeric.
        ValueError: names differ (strict), or a value's shape differs from the net's (always, as
            in torch). Nothing is loaded when anything is wrong.

    Example:
        >>> twin.load_state_dict(net.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"load_state_dict: state_dict must be a mapping of name -> array, got "
                        f"{type(state).__name__}")
    for key in state:
        if not isinstance(key, str):
            raise TypeError(f"load_state_dict: keys must be strings, got {key!r}")
    if not isinstance(strict, (bool, np.bool_)):
        raise TypeError(f"load_state_dict: strict must be True or False, got {strict!r}")
    targets = _targets(net)
    missing = [k for k in targets if k not in state]
    unexpected = [k for k in state if k not in targets]
    if strict and (missing or unexpected):
        raise ValueError(f"load_state_dict: the names differ from the net's: missing keys {missing}, "
                         f"unexpected keys {unexpected} (strict=False loads the names both have)")
    values: list[tuple[np.ndarray, np.ndarray]] = []
    for key, target in targets.items():
        if key not in state:
            continue
        value = _as_array(state[key], key)
        if value.shape != target.shape:
            raise ValueError(f"load_state_dict: {key!r} must have shape {target.shape}, got shape "
                             f"{value.shape}")
        values.append((target, value))
    for target, value in values:  # only once every value is known to fit
        target[...] = value
    return IncompatibleKeys(missing, unexpected)
