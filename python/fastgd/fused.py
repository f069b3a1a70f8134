"""The fused training step: ``Trainer.step`` as one C++ call for nets of built-in layers.

``FusedStep`` turns a ``Net`` of built-in layers (those of ``LAYER_SPECS``), a built-in loss
(``LOSS_SPECS``) and an optimizer (``SGD``, ``Adam``, ``AdamW`` through the engine's own setters;
``RMSprop``, ``Adagrad``, ``NAdam``, ``RAdam`` through ``UPDATE_SPECS``) into a
``fastgd._core.Engine``: forward, loss, backward and the update run in C++ over one flat buffer,
with a workspace reused from step to step. The engine is a list of C++ units found by the names the two tables give
(``src/cpp/engine_ops.cpp``, ``engine_losses.cpp``, ``engine_updates.cpp``); a layer's
persistent buffers (``Layer.buffers()``, e.g. running statistics) are bound by name and written
in place, so the layer's own arrays always hold them.

For that, the net's parameters are moved into one contiguous buffer per net (``flatten``):
``Parameter.data``/``.grad`` become views into it, so users still see and edit the weights in
place. The optimizer's state arrays (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``, ``square_avg``, ``grad_avg``, ``sum``) become views into flat state buffers
the engine updates; the ``step`` count (and NAdam's ``mu_product``) lives in the engine and is
written back into ``optimizer.state`` whenever the optimizer is read (``state_dict``) or used
directly.

Several parameter groups are fused when together they hold each of the net's parameters once
(the flat buffer is laid out group after group), each with its own hyper-parameters. An option
edited in any group between steps (``lr`` by a schedule, or any other) reaches the next fused
step without rebuilding the engine. Anything else (custom layers or losses, groups that miss a
parameter, ``maximize``) keeps the layer-by-layer Python path, with the same results.

The step itself is called through ``fastgd._fastcall`` (Cython: it reads the arrays' NumPy
headers and calls the engine's C function table, handing anything it cannot take as it is to the
pybind11 ``Engine.step``, which converts or raises), measurably cheaper per call than the
pybind11 binding (``bench/bench_binding.py``); ``BINDING = "pybind11"`` makes new ``FusedStep``s
call ``Engine.step`` directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core, _fastcall, optim
from .layers import (
    ELU,
    GELU,
    BatchNorm1d,
    Dropout,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    PoissonNLLLoss,
    SmoothL1Loss,
)
from .parameter import Parameter
from .sparse import CsrRows

__all__ = ["BINDING", "FusedStep", "LAYER_SPECS", "LOSS_SPECS", "UPDATE_SPECS", "flatten", "plan"]

#: How a new ``FusedStep`` calls the engine's step: ``"cython"`` (``fastgd._fastcall``) or
#: ``"pybind11"`` (``fastgd._core.Engine.step``); same arguments, results and errors.
BINDING = "cython"

#: The offset of a parameter in the flat buffer (given to the spec builders).
Offset = Callable[[Parameter], int]

#: Layer class -> the engine op spec of one of its instances: ``(name, *numbers)``, optionally
#: ending in a dict ``{buffer name: array}`` of the layer's persistent buffers (the engine writes
#: them in place). ``name`` is a unit of the C++ op registry (``src/cpp/engine_ops.cpp``). A new
#: fused layer adds one entry here (and its unit there).
LAYER_SPECS: dict[type, Callable[[Any, Offset], tuple[Any, ...]]] = {
    Linear: lambda layer, off: ("linear", layer.in_features, layer.out_features, off(layer.W),
                                -1 if layer.b is None else off(layer.b)),
    ReLU: lambda layer, off: ("relu",),
    LeakyReLU: lambda layer, off: ("leaky_relu", layer.slope),
    Sigmoid: lambda layer, off: ("sigmoid",),
    Tanh: lambda layer, off: ("tanh",),
    Identity: lambda layer, off: ("identity",),
    GELU: lambda layer, off: ("gelu", 1 if layer.approximate == "tanh" else 0),
    SiLU: lambda layer, off: ("silu",),
    ELU: lambda layer, off: ("elu", layer.alpha),
    Softplus: lambda layer, off: ("softplus", layer.beta, layer.threshold),
    Softmax: lambda layer, off: ("softmax",),
    Dropout: lambda layer, off: _dropout_spec(layer),
    BatchNorm1d: lambda layer, off: _batchnorm_spec(layer, off),
    LayerNorm: lambda layer, off: ("layernorm", layer.normalized_shape, _off(off, layer.weight),
                                   _off(off, layer.bias), layer.eps),
}


def _off(off: Offset, p: Parameter | None) -> int:
    return -1 if p is None else off(p)


def _dropout_spec(layer: Dropout) -> tuple[Any, ...]:
    # The layer's own seed (its uint64 bits as int64) and counter: the masks of the Python path.
    seed = layer.buffers().get("seed")
    if seed is None:
        raise NotFusable(f"{layer!r} is not built (it has no seed)")
    return ("dropout", layer.p, {"seed": seed.view(np.int64), "counter": layer.counter})


def _batchnorm_spec(layer: BatchNorm1d, off: Offset) -> tuple[Any, ...]:
    momentum = 0.0 if layer.momentum is None else layer.momentum
    return ("batchnorm", layer.num_features, _off(off, layer.weight), _off(off, layer.bias), layer.eps, momentum,
            int(layer.momentum is None), int(layer.track_running_stats), layer.buffers())

#: Loss class -> the engine loss spec of an instance: a name or ``(name, *numbers)`` of the C++
#: loss registry (``src/cpp/engine_losses.cpp``); raise ``NotFusable`` for unsupported options.
LOSS_SPECS: dict[type, Callable[[Any], str | tuple[Any, ...]]] = {
    MSELoss: lambda loss: "mse",
    L1Loss: lambda loss: "l1",
    HuberLoss: lambda loss: ("huber", loss.delta),
    SmoothL1Loss: lambda loss: ("smooth_l1", loss.beta),
    PoissonNLLLoss: lambda loss: ("poisson_nll", float(loss.log_input), float(loss.full), loss.eps),
    CrossEntropyLoss: lambda loss: "cross_entropy" if loss.weight is None and not loss.label_smoothing else
    ("cross_entropy", loss.label_smoothing, *([] if loss.weight is None else loss.weight.tolist())),
    BCEWithLogitsLoss: lambda loss: "bce_with_logits" if loss.pos_weight is None else
    ("bce_with_logits", *loss.pos_weight.tolist()),
}


#: Optimizer class -> ``(unit name, hyper, state keys)`` for one of its parameter groups: the name
#: of the C++ update registry (``src/cpp/engine_updates.cpp``), its hyper-parameters by name, and
#: the per-parameter state arrays it updates (each a flat buffer over the group). A new fused
#: optimizer adds one entry here (and its unit there).
UPDATE_SPECS: dict[type, Callable[[dict[str, Any]], tuple[str, dict[str, float], list[str]]]] = {
    optim.RMSprop: lambda g: ("rmsprop", {
        "lr": g["lr"], "alpha": g["alpha"], "eps": g["eps"], "weight_decay": g["weight_decay"],
        "momentum": g["momentum"], "centered": float(bool(g["centered"]))},
        ["square_avg"] + (["momentum_buffer"] if g["momentum"] > 0 else [])
        + (["grad_avg"] if g["centered"] else [])),
    optim.Adagrad: lambda g: ("adagrad", {
        "lr": g["lr"], "lr_decay": g["lr_decay"], "weight_decay": g["weight_decay"], "eps": g["eps"]},
        ["sum"]),
    optim.NAdam: lambda g: ("nadam", {
        "lr": g["lr"], "beta1": g["betas"][0], "beta2": g["betas"][1], "eps": g["eps"],
        "weight_decay": g["weight_decay"], "momentum_decay": g["momentum_decay"],
        "decoupled": float(bool(g["decoupled_weight_decay"]))}, ["exp_avg", "exp_avg_sq"]),
    optim.RAdam: lambda g: ("radam", {
        "lr": g["lr"], "beta1": g["betas"][0], "beta2": g["betas"][1], "eps": g["eps"],
        "weight_decay": g["weight_decay"], "decoupled": float(bool(g["decoupled_weight_decay"]))},
        ["exp_avg", "exp_avg_sq"]),
}


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

    def off(p: Parameter) -> int:
        return offsets[id(p)]

    ops: list[tuple[Any, ...]] = []
    for layer in net.layers:
        kind = type(layer)
        if kind is Net:
            ops.extend(plan(layer, params))
        elif kind in LAYER_SPECS:
            ops.append(LAYER_SPECS[kind](layer, off))
        else:
            raise NotFusable(f"layer {layer!r} has no fused kernel")
    return ops


def _layers(net: Any) -> list[Layer]:
    """The leaf layers of ``net`` in plan order (nested ``Net``s flattened)."""
    from .net import Net

    out: list[Layer] = []
    for layer in net.layers:
        out.extend(_layers(layer) if type(layer) is Net else [layer])
    return out


class _Group:
    """One optimizer parameter group as the engine sees it: a contiguous range of the flat
    buffer, its flat state buffers and its step counter."""

    def __init__(self, group: dict[str, Any], params: list[Parameter], offset: int) -> None:
        self.group, self.params, self.offset = group, params, offset
        self.size = sum(p.data.size for p in params)
        self.counter = np.zeros((), np.int64)
        self.mu_product = np.ones((), np.float64)  # NAdam's, kept by the engine
        self.flat: dict[str, np.ndarray] = {}
        self.lr = float(group["lr"])
        self.hyper = _hyper(group)
        self.seen = tuple(group.values())  # what _sync_hyper compares on every step


def _hyper(group: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of a group's options (all but its parameters), to see edits between steps."""
    return {k: v for k, v in group.items() if k != "params"}


class FusedStep:
    """One C++ call per training step for ``(net, loss, optimizer)``; see the module docstring.

    ``grad_slots``: extra slots after the gradients in their flat buffer (see ``flatten``).
    Raises ``NotFusable`` from the constructor when the combination has no fused path.

    Several parameter groups are fused when together they hold each of the net's parameters
    once: the flat buffer is laid out group after group, so each group is one range of it.
    """

    def __init__(self, net: Any, loss: Loss, optimizer: Any, clip_norm: float | None,
                 grad_slots: int = 0) -> None:
        opt_kind = type(optimizer)
        # LBFGS steps itself through closures: the engine gives it loss and gradients only
        closure = opt_kind is optim.LBFGS
        if opt_kind not in (optim.SGD, optim.Adam, optim.AdamW) and opt_kind not in UPDATE_SPECS \
                and not closure:
            raise NotFusable(f"optimizer {opt_kind.__name__}")
        if type(loss) not in LOSS_SPECS:
            raise NotFusable(f"loss {loss!r}")
        params = net.parameters()
        if closure and [id(p) for p in optimizer.param_groups[0]["params"]] != [id(p) for p in params]:
            raise NotFusable("LBFGS does not hold exactly the net's parameters")
        self.groups = [] if closure else self._split_groups(optimizer.param_groups, params)
        if any(g.group.get("maximize") for g in self.groups):
            raise NotFusable("maximize")
        if net.in_features is None:
            raise NotFusable("the net's input width is not fixed")
        if self.groups:
            params = [p for g in self.groups for p in g.params]  # the flat buffer's order
        ops = plan(net, params)
        loss_spec = LOSS_SPECS[type(loss)](loss)
        self.data, self.grad = flatten(params, grad_slots)
        self.engine = _core.Engine(str(net.dtype), ops, loss_spec, net.in_features)
        self.engine.bind(self.data, self.grad)
        if BINDING not in ("cython", "pybind11"):
            raise ValueError(f"fastgd.fused.BINDING must be 'cython' or 'pybind11', got {BINDING!r}")
        self._engine_step = _fastcall.EngineStep(self.engine).step if BINDING == "cython" else self.engine.step
        self.optimizer, self.params = optimizer, params
        self.group = self.groups[0].group if self.groups else optimizer.param_groups[0]
        # the first group's step count (one group: all)
        self.counter = self.groups[0].counter if self.groups else np.zeros((), np.int64)
        self._kind = opt_kind
        self._adam = opt_kind is not optim.SGD  # keeps a "step" in its state
        for g in self.groups:
            self._adopt_state(g, opt_kind)
        if clip_norm:
            self.engine.set_clip_norm(float(clip_norm))

    @staticmethod
    def _split_groups(groups: list[dict[str, Any]], params: list[Parameter]) -> list[_Group]:
        """The optimizer's groups over the flat buffer, laid out group after group (so any
        grouping of the net's parameters, e.g. ``optim.param_groups``, is a set of contiguous
        ranges)."""
        ids = {id(p) for p in params}
        out: list[_Group] = []
        seen: set[int] = set()
        offset = 0
        for group in groups:
            ps = list(group["params"])
            if not ps or any(id(p) not in ids or id(p) in seen for p in ps):
                raise NotFusable("the optimizer's groups do not split the net's parameters")
            seen.update(id(p) for p in ps)
            out.append(_Group(group, ps, offset))
            offset += out[-1].size
        if len(seen) != len(ids):
            raise NotFusable("the optimizer does not hold exactly the net's parameters")
        return out

    def _flat_state(self, g: _Group, key: str, fill: float = 0.0) -> np.ndarray:
        """A flat buffer of group ``g`` for state ``key`` holding each parameter's current value
        (or ``fill``), whose per-parameter views replace the optimizer's state arrays."""
        flat = np.full(g.size, fill, self.data.dtype)
        offset = 0
        for p in g.params:
            k = p.data.size
            state = self.optimizer.state.setdefault(p, {})
            if key in state:
                flat[offset:offset + k] = np.asarray(state[key]).ravel()
            state[key] = flat[offset:offset + k].reshape(p.data.shape)
            offset += k
        return flat

    def _adopt_state(self, gr: _Group, opt_kind: type) -> None:
        g, state = gr.group, self.optimizer.state
        if not self._adam:
            started = [("momentum_buffer" in state.get(p, {})) for p in gr.params]
            if g["momentum"] != 0 and any(started) and not all(started):
                raise NotFusable("some parameters have momentum buffers and some do not")
            gr.counter[...] = 1 if any(started) else 0
        else:
            steps = {int(state.get(p, {}).get("step", 0)) for p in gr.params}
            if len(steps) != 1:
                raise NotFusable("parameters are at different steps")
            gr.counter[...] = steps.pop()
            if opt_kind is optim.NAdam:
                products = {float(state.get(p, {}).get("mu_product", 1.0)) for p in gr.params}
                if len(products) != 1:
                    raise NotFusable("parameters have different NAdam mu_products")
                gr.mu_product[...] = products.pop()
        self._register(gr)
        # torch has no per-parameter state before the first step (Adagrad's exists from its
        # construction on)
        if int(gr.counter) == 0 and opt_kind is not optim.Adagrad:
            for p in gr.params:
                state.pop(p, None)

    def _state_keys(self, g: dict[str, Any]) -> list[str]:
        if self._kind is optim.SGD:
            return ["momentum_buffer"] if g["momentum"] != 0 else []
        if self._kind in UPDATE_SPECS:
            return UPDATE_SPECS[self._kind](g)[2]
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if g["amsgrad"] else [])

    def _register(self, gr: _Group) -> None:
        """Give the engine group ``gr``'s update unit with its current hyper-parameters (its flat
        state buffers made on first use: values from ``optimizer.state``, else torch's initial
        values)."""
        g = gr.group
        for key in self._state_keys(g):
            if key not in gr.flat:
                fill = float(g["initial_accumulator_value"]) if key == "sum" else 0.0
                gr.flat[key] = self._flat_state(gr, key, fill)
        rng = {} if len(self.groups) == 1 else {"offset": gr.offset, "size": gr.size}
        if self._kind is optim.SGD:
            self.engine.set_sgd(g["lr"], g["momentum"], g["dampening"], g["nesterov"],
                                g["weight_decay"], gr.flat.get("momentum_buffer"), gr.counter, **rng)
        elif self._kind in UPDATE_SPECS:
            name, hyper, keys = UPDATE_SPECS[self._kind](g)
            scalars = {"mu_product": gr.mu_product} if name == "nadam" else {}
            self.engine.set_update(name, hyper, {k: gr.flat[k] for k in keys}, scalars, gr.counter,
                                   **rng)
        else:
            beta1, beta2 = g["betas"]
            self.engine.set_adam(g["lr"], beta1, beta2, g["eps"], g["weight_decay"],
                                 bool(g.get("decoupled_weight_decay", self._kind is optim.AdamW)),
                                 gr.flat["exp_avg"], gr.flat["exp_avg_sq"],
                                 gr.flat.get("max_exp_avg_sq") if g["amsgrad"] else None,
                                 gr.counter, **rng)
        gr.lr, gr.hyper, gr.seen = float(g["lr"]), _hyper(g), tuple(g.values())

    def step(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One fused training step; returns the batch loss (before the update).

        ``sample_weight`` (n,) of the net's dtype, finite and >= 0: the loss is
        ``Σ wᵢ ℓᵢ / Σ wᵢ`` (ℓᵢ sample i's loss), its gradient that of this weighted mean.
        """
        self._sync_hyper()
        self.last_X = X
        if isinstance(X, CsrRows):  # the first Linear reads the CSR rows (Engine::step_csr)
            return self.engine.step_csr(X.indptr, X.indices, X.data, y, sample_weight)
        return self._engine_step(X, y, sample_weight)

    def step_dense(self, X: np.ndarray, y: np.ndarray) -> float:
        """``step(X, y)`` for an ``X`` that is a NumPy array (``Trainer.step``'s usual case)."""
        if not _fastcall.unchanged(self.groups):
            self._sync_hyper()
        self.last_X = X
        return self._engine_step(X, y, None)

    def epoch(self, X: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None,
              sample_weight: np.ndarray | None, divergence_factor: float | None,
              first_loss: float | None, accuracy: bool, rows_weight: bool = False
              ) -> tuple[float, float, int, int, int, float, float | None, bool, float]:
        """A whole epoch of fused steps in one C++ call (``Engine.epoch``): batches of
        ``batch_size`` rows of ``X`` in ``order`` (None: in order). Returns ``(Σ loss·weight,
        Σ weight, correct, predictions, batches done, last batch loss, the run's first loss
        (None: none yet), diverged, Σ l2·weight)`` (a batch's weight: its rows with
        ``rows_weight``, else its rows or Σ w; l2 the L2 term of its loss); stops after a batch
        that fails the divergence check (``divergence_factor`` None: none) against
        ``first_loss``."""
        self._sync_hyper()
        out = self.engine.epoch(X, y, batch_size, order, sample_weight,
                                0.0 if divergence_factor is None else float(divergence_factor),
                                math.nan if first_loss is None else float(first_loss), accuracy,
                                rows_weight)
        total, weight, correct, count, done, last, first, diverged, penalty = out
        return (total, weight, correct, count, done, last,
                None if math.isnan(first) else first, diverged, penalty)

    def _sync_hyper(self) -> None:
        """Hand the groups' edited options to the engine: a new ``lr`` alone is set in place;
        any other change rebuilds that group's update unit over the same state buffers (the
        engine, its workspace and the flat buffers stay)."""
        if _fastcall.unchanged(self.groups):  # on every step: the same objects, nothing to do
            return
        for g in self.groups:
            if tuple(g.group.values()) != g.seen:
                break
        else:
            return
        single = len(self.groups) == 1
        changed = []
        for i, g in enumerate(self.groups):
            now = _hyper(g.group)
            if now == g.hyper:
                g.seen = tuple(g.group.values())
                continue
            if {**now, "lr": None} == {**g.hyper, "lr": None}:
                self.engine.set_lr(now["lr"], -1 if single else i)
                g.lr, g.hyper, g.seen = now["lr"], now, tuple(g.group.values())
            else:
                changed.append(g)
        if changed:
            if any(g.group.get("maximize") for g in changed):
                raise ValueError("maximize cannot be switched on while a Trainer's step is fused; "
                                 "build the Trainer with fused=False")
            # groups are kept in order by the engine: re-register all of them
            self.engine.clear_groups()
            for g in self.groups:
                self._register(g)

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray,
                      sample_weight: np.ndarray | None = None) -> float:
        """Forward, loss and backward into the flat grad buffer, no update; returns the loss."""
        self.last_X = X
        if isinstance(X, CsrRows):
            return self.engine.loss_and_grad_csr(X.indptr, X.indices, X.data, y, sample_weight)
        return self.engine.loss_and_grad(X, y, sample_weight)

    def update(self) -> None:
        """Clip (when set) and apply the optimizer update to the gradients in the flat buffer:
        the second half of ``step``, after e.g. averaging the gradients across processes."""
        self._sync_hyper()
        self.engine.update()

    def forward(self, X: np.ndarray) -> np.ndarray:
        """The net's output for ``X`` in eval mode (as ``net.eval(); net.forward(X)``), from
        the flat buffers; the workspace of the last step is overwritten."""
        if isinstance(X, CsrRows):
            return self.engine.forward_csr(X.indptr, X.indices, X.data, training=False)
        return self.engine.forward(X, training=False)

    def set_l2(self, lam: float, per_weight: bool = False) -> None:
        """Add ``½·lam·Σ‖W‖²`` over the Linear weights (not biases) to the loss, ``lam·W`` to
        their gradients, inside the fused step; with ``per_weight``, ``lam`` is divided by each
        batch's ``Σ wᵢ`` (its rows when unweighted) at every step (scikit-learn's L2 term)."""
        self.engine.set_l2(float(lam), bool(per_weight))

    def set_seed(self, seed: int, step: int = 0) -> None:
        """The random stream of the ops (e.g. Dropout masks): ``seed``, and the step counter
        (advanced once per training step) restarted at ``step``."""
        self.engine.set_seed(int(seed), int(step))

    def last_output(self) -> np.ndarray:
        """The net's output for the last step's batch. The one-pass linear-regression step
        keeps none, so there it is recomputed (with the weights after the update)."""
        out = self.engine.last_output()
        if len(out) == 0 and len(self.last_X):
            out = self.forward(self.last_X)
        return out

    def sync_state(self) -> None:
        """Write the engine's state into ``optimizer.state`` as torch lays it out: per parameter,
        views into the flat buffers, the ``step`` count (all but SGD) and NAdam's
        ``mu_product``."""
        for g in self.groups:
            count = int(g.counter)
            if not (g.flat or self._adam):  # plain SGD keeps no state
                continue
            if count == 0 and self._kind is not optim.Adagrad:  # no state before a step
                continue
            offset = 0
            for p in g.params:
                k = p.data.size
                s = self.optimizer.state.setdefault(p, {})
                for key, flat in g.flat.items():
                    s[key] = flat[offset:offset + k].reshape(p.data.shape)
                if self._adam:
                    s["step"] = count
                if self._kind is optim.NAdam:
                    s["mu_product"] = float(g.mu_product)
                offset += k
