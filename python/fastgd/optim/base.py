"""``Optimizer``: the base of every fastgd optimizer, with ``torch.optim.Optimizer`` semantics.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus that group's
hyper-parameters, which users and schedulers may edit between steps) and ``state`` (one dict per
parameter, keyed by the ``Parameter``, with torch's key names). Subclasses only validate their
hyper-parameters and implement ``_update``, which hands one parameter to a fused C++ kernel.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..parameter import Parameter

__all__ = ["Optimizer", "ParamsT"]

#: What an optimizer accepts: parameters (``fastgd.Parameter`` or plain float arrays), or dicts
#: ``{"params": [...], **per_group_options}``.
ParamsT = Iterable[Parameter | np.ndarray] | Iterable[dict[str, Any]]

# State entries that are arrays shaped like their parameter (checked by ``load_state_dict``).
_ARRAY_STATE = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg",
                "grad_avg", "sum")


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} and dtype {a.dtype}"


def _as_parameter(p: Any, index: int) -> Parameter:
    """Return ``p`` as a ``Parameter`` (a plain float array is wrapped, sharing its memory).

    Raises ``TypeError`` for anything that is not a float32/float64 array or Parameter, and
    ``ValueError`` when the array cannot be updated in place (read-only, not C-contiguous).
    """
    if isinstance(p, Parameter):
        param = p
    elif isinstance(p, np.ndarray):
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"optimizer parameter {index} must be a float32 or float64 array, got an array "
                f"of {_describe(p)}"
            )
        param = Parameter(p)
    else:
        raise TypeError(
            f"optimizer parameter {index} must be a fastgd.Parameter or a float NumPy array, "
            f"got {type(p).__name__}"
        )
    data = param.data
    if not isinstance(data, np.ndarray) or data.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"optimizer parameter {index}: .data must be a float32 or float64 array, "
            f"got {type(data).__name__}"
        )
    if not data.flags.c_contiguous:
        raise ValueError(
            f"optimizer parameter {index} (shape {data.shape}) must be C-contiguous: it is "
            f"updated in place; pass np.ascontiguousarray(x) and keep a reference to it"
        )
    if not data.flags.writeable:
        raise ValueError(
            f"optimizer parameter {index} (shape {data.shape}) is read-only; it is updated in place"
        )
    return param


class Optimizer:
    """Base class of fastgd optimizers (``torch.optim.Optimizer`` semantics).

    Args:
        params: an iterable of parameters — ``fastgd.Parameter`` objects (updated from their
            ``.grad``) or writable C-contiguous float32/float64 NumPy arrays (wrapped in a
            ``Parameter`` that shares their memory; pass their gradients to ``step(grads=...)``)
            — or an iterable of dicts ``{"params": [...], "lr": ..., ...}``, one per parameter
            group, whose options override ``defaults`` for that group.
        defaults: the default hyper-parameters of every group.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (list of ``Parameter``) and the
            group's hyper-parameters; edit e.g. ``group["lr"]`` between steps.
        state: dict ``Parameter -> dict`` of per-parameter buffers (``step``,
            ``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``,
            ``grad_avg``, ``sum``, ``mu_product``).

    Example:
        >>> w = np.zeros(3)
        >>> opt = fastgd.optim.SGD([w], lr=0.1)
        >>> opt.step(grads=[np.ones(3)])
        >>> w
        array([-0.1, -0.1, -0.1])
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self._validate_group(defaults)
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: dict[Parameter, dict[str, Any]] = {}
        # Called as hook(writing) before the state is read (False) or changed (True) here: a
        # fused Trainer keeps state in C++ and syncs it back through this.
        self._state_hooks: list[Any] = []
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (np.ndarray, Parameter, dict)):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of parameters or "
                f"dicts, but got a single {type(params).__name__}; wrap it in a list: [params]"
            )
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of a set changes between runs; please use a list instead"
            )
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -------------------------------------------------------------------- parameter groups

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ``ValueError`` for an invalid hyper-parameter (overridden by subclasses)."""

    def _use_state(self, writing: bool) -> None:
        for hook in getattr(self, "_state_hooks", ()):
            hook(writing)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group: ``{"params": [...], **options}``; missing options take defaults.

        Raises ``ValueError`` when a parameter is already optimized (in this or another group).
        """
        self._use_state(True)
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        raw = param_group["params"]
        if isinstance(raw, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of a set changes between runs; please use a list instead"
            )
        raw = [raw] if isinstance(raw, (np.ndarray, Parameter)) else list(raw)
        first = sum(len(g["params"]) for g in self.param_groups)
        params = [_as_parameter(p, first + i) for i, p in enumerate(raw)]
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._validate_group(group)

        # Identity of the Parameter *and* of its array: one array given twice (or as a plain
        # array and inside a Parameter) would silently be updated twice per step.
        seen_params = {id(p) for g in self.param_groups for p in g["params"]}
        seen_arrays = {id(p.data) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if id(p) in seen_params or id(p.data) in seen_arrays:
                raise ValueError(
                    f"optimizer parameter {first + i} (shape {p.shape}) appears more than once; "
                    "some parameters appear in more than one parameter group"
                )
            seen_params.add(id(p))
            seen_arrays.add(id(p.data))
        self.param_groups.append({"params": params, **group})

    @property
    def params(self) -> list[Parameter]:
        """All parameters, in group order (the order of ``step(grads=...)``)."""
        return [p for g in self.param_groups for p in g["params"]]

    # ------------------------------------------------------------------------------ updates

    def _update(self, group: dict[str, Any], param: Parameter, grad: np.ndarray) -> None:
        """Apply one update to ``param`` with gradient ``grad`` (implemented by subclasses)."""
        raise NotImplementedError

    def _gradients(
        self, grads: Sequence[np.ndarray | None] | None
    ) -> list[np.ndarray | None]:
        params = self.params
        if grads is None:
            return [p.grad for p in params]
        if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
            raise TypeError(
                f"grads must be a list of arrays, one per parameter ({len(params)}), "
                f"got {type(grads).__name__}"
            )
        if len(grads) != len(params):
            raise ValueError(
                f"grads must have one array per parameter: expected {len(params)}, "
                f"got {len(grads)}"
            )
        out: list[np.ndarray | None] = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g is None:
                out.append(None)
                continue
            g = np.asarray(g)
            if g.dtype != p.dtype:
                raise TypeError(
                    f"grads[{i}] has dtype {g.dtype} but parameter {i} has dtype {p.dtype}; "
                    "they must match"
                )
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{i}] has shape {g.shape} but parameter {i} has shape {p.shape}"
                )
            out.append(g)
        return out

    def step(self, grads: Sequence[np.ndarray | None] | None = None) -> None:
        """Update every parameter once, in place.

        Args:
            grads: optional list of gradient arrays, one per parameter in group order (same
                shape and dtype as the parameter), used instead of each parameter's ``.grad``.
                A ``None`` entry (or a ``None`` ``.grad``) skips that parameter, as torch does.

        Example:
            >>> opt.zero_grad(); net.backward(dout); opt.step()
            >>> opt.step(grads=[g_W, g_b])   # plain arrays
        """
        self._use_state(True)
        k = 0
        gradients = self._gradients(grads)
        for group in self.param_groups:
            for p in group["params"]:
                g = gradients[k]
                k += 1
                if g is not None:
                    self._update(group, p, g)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero, in place (the arrays stay shared)."""
        for p in self.params:
            if p.grad is not None:
                p.grad[...] = 0

    # ------------------------------------------------------------------------ serialisation

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data, like torch's (arrays are copies).

        Returns:
            ``{"state": {index: {key: value}}, "param_groups": [{**options, "params":
            [indices]}]}`` where indices number the parameters across groups in order.
        """
        self._use_state(False)
        index = {id(p): i for i, p in enumerate(self.params)}
        state = {
            index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v)
                           for k, v in s.items()}
            for p, s in self.state.items()
        }
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()``: group options and per-parameter state (arrays are copied).

        Everything is checked before anything changes. Raises ``ValueError`` when the number of
        groups or of parameters per group differs, or a state array's shape or dtype differs
        from its parameter's.
        """
        self._use_state(True)
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(
                "state_dict must be a dict with 'state' and 'param_groups' entries (as returned "
                f"by Optimizer.state_dict()), got {type(state_dict).__name__}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups: "
                f"expected {len(self.param_groups)}, got {len(saved_groups)}"
            )
        id_map: dict[Any, Parameter] = {}
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"loaded state dict's parameter group {gi} has {len(saved['params'])} "
                    f"parameters but the optimizer's has {len(group['params'])}"
                )
            id_map.update(zip(saved["params"], group["params"], strict=True))
            options = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            self._validate_group({**self.defaults, **options})
            new_groups.append({**group, **options, "params": group["params"]})

        new_state: dict[Parameter, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            if key not in id_map:
                raise ValueError(f"loaded state dict has state for unknown parameter index {key!r}")
            p = id_map[key]
            entry: dict[str, Any] = {}
            for name, value in saved_state.items():
                if name in _ARRAY_STATE:
                    if not isinstance(value, np.ndarray):
                        raise ValueError(
                            f"state[{key}][{name!r}] must be a NumPy array, "
                            f"got {type(value).__name__}"
                        )
                    if value.shape != p.shape:
                        raise ValueError(
                            f"state[{key}][{name!r}] has shape {value.shape} but parameter {key} "
                            f"has shape {p.shape}"
                        )
                    if value.dtype != p.dtype:
                        raise ValueError(
                            f"state[{key}][{name!r}] has dtype {value.dtype} but parameter {key} "
                            f"has dtype {p.dtype}"
                        )
                    entry[name] = np.array(value, order="C", copy=True)
                elif name == "step":
                    integral = isinstance(value, (int, np.integer)) or (
                        isinstance(value, (float, np.floating)) and float(value).is_integer()
                    )
                    if isinstance(value, bool) or not integral or value < 0:
                        raise ValueError(
                            f"state[{key}]['step'] must be a non-negative integer, got {value!r}"
                        )
                    entry[name] = int(value)
                elif name == "mu_product":  # NAdam: a number (torch: a 0-d float32 tensor)
                    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                        raise ValueError(
                            f"state[{key}]['mu_product'] must be a number, got {value!r}"
                        )
                    entry[name] = float(value)
                else:
                    entry[name] = copy.deepcopy(value)
            new_state[p] = entry

        self.param_groups = new_groups
        self.state = new_state

    # ------------------------------------------------------------------------------- repr

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            params = group["params"]
            n = sum(p.size for p in params)
            dtypes = "/".join(sorted({str(p.dtype) for p in params}))
            lines.append(f"    params: {len(params)} arrays, {n} {dtypes} values")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
