"""The fused training step: ``Trainer.step`` as one C++ call for nets of built-in layers.

``FusedStep`` turns a ``Net`` of built-in layers (``Linear``, ``ReLU``, ``LeakyReLU``,
``Sigmoid``, ``Tanh``, ``Identity``), a built-in loss and an ``SGD``/``Adam``/``AdamW`` optimizer
with one parameter group into a ``fastgd._core.Engine``: forward, loss, backward and the update
run in C++ over one flat buffer, with a workspace reused from step to step.

For that, the net's parameters are moved into one contiguous buffer per net (``flatten``):
``Parameter.data``/``.grad`` become views into it, so users still see and edit the weights in
place. The optimizer's state arrays (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``) become views into flat state buffers the engine updates; Adam's ``step``
count lives in the engine and is written back into ``optimizer.state`` whenever the optimizer is
read (``state_dict``) or used directly.

Anything else (custom layers or losses, several parameter groups, ``maximize``) keeps the
layer-by-layer Python path, with the same results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, optim
from .layers import Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss
from .parameter import Parameter

__all__ = ["FusedStep", "flatten", "plan"]

_ACTIVATIONS = {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh", Identity: "identity"}
_LOSSES = {MSELoss: "mse", CrossEntropyLoss: "cross_entropy", BCEWithLogitsLoss: "bce_with_logits"}


class NotFusable(Exception):
    """Raised (internally) when a net/loss/optimizer combination has no fused path."""


def flatten(params: list[Parameter], extra: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Move ``params`` into one flat data buffer and one flat grad buffer; return both.

    Each ``Parameter.data``/``.grad`` becomes a view into the buffers (values kept). A no-op
    when they already are consecutive views of such buffers.

    With ``extra > 0`` the grad buffer gets ``extra`` more slots after the gradients (its
    ``.base``; a longer one is kept), so data-parallel training reduces gradients and a few
    scalars in one message; the returned grad is the view of the gradients alone.
    """
    if not params:
        raise NotFusable("no parameters")
    dtype = params[0].data.dtype
    base: Any = params[0].data.base
    gbase: Any = params[0].grad.base
    offset = 0
    already = isinstance(base, np.ndarray) and base.ndim == 1 and isinstance(gbase, np.ndarray)
    for p in params:
        if not already:
            break
        start = base.ctypes.data + offset * dtype.itemsize
        gstart = gbase.ctypes.data + offset * dtype.itemsize
        already = (p.data.base is base and p.grad.base is gbase
                   and p.data.flags.c_contiguous and p.grad.flags.c_contiguous
                   and p.data.ctypes.data == start and p.grad.ctypes.data == gstart)
        offset += p.data.size
    if already and offset == base.size and gbase.ndim == 1 and gbase.size >= offset + extra:
        return base, gbase[:offset]
    total = sum(p.data.size for p in params)
    data, slots = np.empty(total, dtype), np.zeros(total + extra, dtype)
    grad = slots[:total]
    offset = 0
    for p in params:
        k = p.data.size
        data[offset:offset + k] = p.data.ravel()
        grad[offset:offset + k] = p.grad.ravel()
        p.data = data[offset:offset + k].reshape(p.data.shape)
        p.grad = slots[offset:offset + k].reshape(p.grad.shape)
        offset += k
    return data, grad


def plan(net: Any, params: list[Parameter]) -> list[tuple[Any, ...]]:
    """The engine's op list for ``net`` (offsets into ``flatten(params)``), or ``NotFusable``."""
    from .net import Net

    offsets, offset = {}, 0
    for p in params:
        offsets[id(p)] = offset
        offset += p.data.size
    ops: list[tuple[Any, ...]] = []
    for layer in net.layers:
        kind = type(layer)
        if kind is Net:
            ops.extend(plan(layer, params))
        elif kind is Linear:
            b_off = -1 if layer.b is None else offsets[id(layer.b)]
            ops.append(("linear", layer.in_features, layer.out_features, offsets[id(layer.W)], b_off))
        elif kind is LeakyReLU:
            ops.append(("leaky_relu", layer.slope))
        elif kind in _ACTIVATIONS:
            ops.append((_ACTIVATIONS[kind],))
        else:
            raise NotFusable(f"layer {layer!r} has no fused kernel")
    return ops


class FusedStep:
    """One C++ call per training step for ``(net, loss, optimizer)``; see the module docstring.

    ``grad_slots``: extra slots after the gradients in their flat buffer (see ``flatten``).
    Raises ``NotFusable`` from the constructor when the combination has no fused path.
    """

    def __init__(self, net: Any, loss: Loss, optimizer: Any, clip_norm: float | None,
                 grad_slots: int = 0) -> None:
        opt_kind = type(optimizer)
        if opt_kind not in (optim.SGD, optim.Adam, optim.AdamW):
            raise NotFusable(f"optimizer {opt_kind.__name__}")
        if type(loss) not in _LOSSES:
            raise NotFusable(f"loss {loss!r}")
        params = net.parameters()
        groups = optimizer.param_groups
        if len(groups) != 1 or [id(p) for p in groups[0]["params"]] != [id(p) for p in params]:
            raise NotFusable("the optimizer does not hold exactly the net's parameters in one group")
        group = groups[0]
        if group.get("maximize"):
            raise NotFusable("maximize")
        if net.in_features is None:
            raise NotFusable("the net's input width is not fixed")
        ops = plan(net, params)
        self.data, self.grad = flatten(params, grad_slots)
        self.engine = _core.Engine(str(net.dtype), ops, _LOSSES[type(loss)], net.in_features)
        self.engine.bind(self.data, self.grad)
        self.optimizer, self.params, self.group = optimizer, params, group
        self.counter = np.zeros((), np.int64)
        self._adopt_state(opt_kind)
        self.lr = float(group["lr"])
        if clip_norm:
            self.engine.set_clip_norm(float(clip_norm))

    def _flat_state(self, key: str, init_zero: bool = True) -> np.ndarray:
        """A flat buffer for state ``key`` holding each parameter's current value (or zeros),
        whose per-parameter views replace the optimizer's state arrays."""
        flat = np.zeros_like(self.data)
        offset = 0
        for p in self.params:
            k = p.data.size
            state = self.optimizer.state.setdefault(p, {})
            if key in state:
                flat[offset:offset + k] = np.asarray(state[key]).ravel()
            state[key] = flat[offset:offset + k].reshape(p.data.shape)
            offset += k
        return flat

    def _adopt_state(self, opt_kind: type) -> None:
        g, state = self.group, self.optimizer.state
        self._adam = opt_kind is not optim.SGD
        self._flat: dict[str, np.ndarray] = {}
        if not self._adam:
            started = [("momentum_buffer" in state.get(p, {})) for p in self.params]
            if g["momentum"] != 0 and any(started) and not all(started):
                raise NotFusable("some parameters have momentum buffers and some do not")
            self.counter[...] = 1 if any(started) else 0
            buf = None
            if g["momentum"] != 0:
                buf = self._flat["momentum_buffer"] = self._flat_state("momentum_buffer")
            self.engine.set_sgd(g["lr"], g["momentum"], g["dampening"], g["nesterov"],
                                g["weight_decay"], buf, self.counter)
        else:
            steps = {int(state.get(p, {}).get("step", 0)) for p in self.params}
            if len(steps) != 1:
                raise NotFusable("parameters are at different Adam steps")
            self.counter[...] = steps.pop()
            keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if g["amsgrad"] else [])
            for key in keys:
                self._flat[key] = self._flat_state(key)
            beta1, beta2 = g["betas"]
            self.engine.set_adam(g["lr"], beta1, beta2, g["eps"], g["weight_decay"],
                                 bool(g.get("decoupled_weight_decay", opt_kind is optim.AdamW)),
                                 self._flat["exp_avg"],
                                 self._flat["exp_avg_sq"], self._flat.get("max_exp_avg_sq"),
                                 self.counter)
        if int(self.counter) == 0:  # torch has no per-parameter state before the first step
            for p in self.params:
                state.pop(p, None)

    def step(self, X: np.ndarray, y: np.ndarray) -> float:
        """One fused training step; returns the batch loss (before the update)."""
        self._sync_lr()
        self.last_X = X
        return self.engine.step(X, y)

    def _sync_lr(self) -> None:
        lr = self.group["lr"]
        if lr != self.lr:
            self.engine.set_lr(lr)
            self.lr = lr

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss and backward into the flat grad buffer, no update; returns the loss."""
        self.last_X = X
        return self.engine.loss_and_grad(X, y)

    def update(self) -> None:
        """Clip (when set) and apply the optimizer update to the gradients in the flat buffer:
        the second half of ``step``, after e.g. averaging the gradients across processes."""
        self._sync_lr()
        self.engine.update()

    def last_output(self) -> np.ndarray:
        """The net's output for the last step's batch. The one-pass linear-regression step
        keeps none, so there it is recomputed (with the weights after the update)."""
        out = self.engine.last_output()
        if len(out) == 0 and len(self.last_X):
            out = self.engine.forward(self.last_X)
        return out

    def sync_state(self) -> None:
        """Write the engine's state into ``optimizer.state`` as torch lays it out: per parameter,
        views into the flat buffers and (Adam) the ``step`` count."""
        count = int(self.counter)
        if count == 0 or not (self._flat or self._adam):  # plain SGD keeps no state
            return
        offset = 0
        for p in self.params:
            k = p.data.size
            s = self.optimizer.state.setdefault(p, {})
            for key, flat in self._flat.items():
                s[key] = flat[offset:offset + k].reshape(p.data.shape)
            if self._adam:
                s["step"] = count
            offset += k
