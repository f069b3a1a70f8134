"""PyTorch in and out: ``Net.from_torch(module)`` and ``net.to_torch()``.

One table, ``RULES``, keyed by fastgd layer class name, says for each layer which ``torch.nn``
class it is, how the constructor arguments translate and how the state is named. fastgd's layers
take torch's constructor arguments (``LeakyReLU``'s ``slope`` is torch's ``negative_slope``), and
their parameters and buffers carry torch's names, except ``Linear``'s ``W`` (fastgd's
``(in, out)``, torch's ``weight`` transposed) and ``b`` (torch's ``bias``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..layers import _REGISTRY, Layer
from . import state

if TYPE_CHECKING:
    from ..net import Net

__all__ = ["RULES", "from_torch", "to_torch"]


def _same_args(*names: str) -> Callable[[Any], dict[str, Any]]:
    """fastgd kwargs read from the torch module's attributes of the same names."""
    return lambda m: {name: getattr(m, name) for name in names}


def _linear_args(m: Any) -> dict[str, Any]:
    return {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}


def _layernorm_args(m: Any) -> dict[str, Any]:
    shape = tuple(m.normalized_shape)
    if len(shape) != 1:
        raise ValueError(f"from_torch: LayerNorm over {shape} is not supported: a Net's samples are "
                         "rows, so LayerNorm normalises one trailing dimension (normalized_shape=(n,))")
    return {"normalized_shape": shape[0], "eps": m.eps, "elementwise_affine": m.elementwise_affine,
            "bias": getattr(m, "bias", None) is not None}


def _softmax_args(m: Any) -> dict[str, Any]:
    if m.dim not in (-1, 1):
        raise ValueError(f"from_torch: Softmax(dim={m.dim}) is not supported: fastgd's Softmax is "
                         "over the features of each sample (dim=-1 or dim=1)")
    return {}


def _config_kwargs(layer: Layer, rename: Mapping[str, str] = {}, drop: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    """torch constructor kwargs from the fastgd layer's ``config()`` (torch's argument names)."""
    return {rename.get(k, k): v for k, v in layer.config().items() if k != "type" and k not in drop}


@dataclass(frozen=True)
class Rule:
    """How one fastgd layer class maps to a ``torch.nn`` class.

    Attributes:
        torch_name: the ``torch.nn`` class name.
        from_torch: torch module -> fastgd constructor kwargs.
        to_torch: fastgd layer -> torch constructor kwargs.
        names: fastgd state name -> torch state name, where they differ.
        transposed: fastgd state names whose arrays torch stores transposed.
        fastgd_only: fastgd buffers torch has no counterpart for (``Dropout``'s mask seed and
            counter): left as built by ``from_torch``, not given to torch by ``to_torch``.
    """

    torch_name: str
    from_torch: Callable[[Any], dict[str, Any]] = lambda m: {}
    to_torch: Callable[[Layer], dict[str, Any]] = _config_kwargs
    names: Mapping[str, str] = field(default_factory=dict)
    transposed: frozenset[str] = frozenset()
    fastgd_only: frozenset[str] = frozenset()


RULES: dict[str, Rule] = {
    "Linear": Rule("Linear", _linear_args, lambda layer: _config_kwargs(layer, drop=("init",)),
                   names={"W": "weight", "b": "bias"}, transposed=frozenset({"W"})),
    "ReLU": Rule("ReLU"),
    "LeakyReLU": Rule("LeakyReLU", lambda m: {"slope": m.negative_slope},
                      lambda layer: _config_kwargs(layer, rename={"slope": "negative_slope"})),
    "Sigmoid": Rule("Sigmoid"),
    "Tanh": Rule("Tanh"),
    "Identity": Rule("Identity"),
    "Dropout": Rule("Dropout", _same_args("p"), lambda layer: {"p": layer.config()["p"]},
                    fastgd_only=frozenset({"seed", "counter"})),
    "BatchNorm1d": Rule("BatchNorm1d", _same_args("num_features", "eps", "momentum", "affine",
                                                  "track_running_stats")),
    "LayerNorm": Rule("LayerNorm", _layernorm_args),
    "GELU": Rule("GELU", _same_args("approximate")),
    "SiLU": Rule("SiLU"),
    "ELU": Rule("ELU", _same_args("alpha")),
    "Softplus": Rule("Softplus", _same_args("beta", "threshold")),
    "Softmax": Rule("Softmax", _softmax_args, lambda layer: {"dim": -1}),
}


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError("PyTorch interop needs torch: pip install 'fastgd[torch]'") from exc
    return torch


def _rule_for_torch(nn: Any, m: Any) -> tuple[str, Rule] | None:
    """The (fastgd name, rule) whose torch class is exactly ``type(m)`` (a subclass may have
    another forward), or None."""
    for name, rule in RULES.items():
        if type(m) is getattr(nn, rule.torch_name, None):
            return name, rule
    return None


def _supported() -> str:
    return ", ".join(f"nn.{r.torch_name}" for r in RULES.values()) + " (in nn.Sequential)"


def _chain(nn: Any, m: Any, where: str, checks: list[Any]) -> Iterator[tuple[str, Any, str, Rule]]:
    """The supported leaf modules of ``m`` in order, as (path, module, fastgd name, rule).

    ``nn.Sequential`` is flattened. Another container is taken as the chain of its children,
    and appended to ``checks`` so that the caller can verify its forward really is that chain.
    """
    if isinstance(m, nn.Sequential):
        for name, child in m.named_children():
            yield from _chain(nn, child, f"{where}.{name}" if where else name, checks)
        return
    found = _rule_for_torch(nn, m)
    if found is not None:
        yield (where or "module", m, *found)
        return
    children = list(m.named_children())
    if not children or isinstance(m, tuple(getattr(nn, r.torch_name) for r in RULES.values())):
        label = f"{where}: " if where else ""
        raise ValueError(f"from_torch: unsupported module {label}{type(m).__name__} ({m!r}); "
                         f"supported: {_supported()}")
    checks.append(m)
    for name, child in children:
        yield from _chain(nn, child, f"{where}.{name}" if where else name, checks)


def _module_dtype(torch: Any, module: Any) -> str:
    dtypes = {t.dtype for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()}
    names = {torch.float32: "float32", torch.float64: "float64"}
    unknown = dtypes - set(names)
    if unknown:
        raise TypeError(f"from_torch: the module has {sorted(map(str, unknown))} tensors; fastgd nets "
                        "are float32 or float64: convert with module.float() or module.double()")
    if len(dtypes) > 1:
        raise TypeError("from_torch: the module mixes torch.float32 and torch.float64 tensors; convert "
                        "with module.float() or module.double(), or pass dtype=")
    return names[dtypes.pop()] if dtypes else "float32"


def from_torch(module: Any, dtype: Any = None) -> Net:
    """A ``Net`` equal to the torch ``module``: its layers, weights, buffers and train/eval mode.

    Args:
        module: an ``nn.Sequential`` (nested ones are flattened), a single supported module, or a
            module whose forward is the chain of its children (checked on a random batch).
        dtype: the net's dtype; None: the module's (float32 when it has no tensors).

    Raises:
        TypeError: ``module`` is not a ``torch.nn.Module``, or has tensors of another dtype.
        ValueError: a module that fastgd has no layer for (the message names it), or a custom
            module whose output is not that of its children in sequence.

    Example:
        >>> net = fg.Net.from_torch(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    """
    from ..net import Net

    torch = _import_torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch: module must be a torch.nn.Module, got {type(module).__name__}")
    checks: list[Any] = []
    chain = list(_chain(nn, module, "", checks))
    if not chain:
        raise ValueError(f"from_torch: {type(module).__name__} has no layers")
    dt = _module_dtype(torch, module) if dtype is None else dtype
    layers: list[Layer] = []
    for path, m, name, rule in chain:
        cls = _REGISTRY.get(name)
        if cls is None:  # pragma: no cover - only before the layer exists in fastgd
            raise ValueError(f"from_torch: {path} ({type(m).__name__}) needs fastgd.{name}, which this "
                             "version of fastgd does not have")
        layers.append(cls(**rule.from_torch(m)))
    net = Net(layers, dtype=dt, seed=0)
    weights: dict[str, Any] = {}
    for i, (_, m, _, rule) in enumerate(chain):
        to_fastgd = {t: f for f, t in rule.names.items()}
        for key, tensor in m.state_dict().items():
            fg_name = to_fastgd.get(key, key)
            value = tensor.detach().cpu().numpy()
            weights[f"{i}.{fg_name}"] = value.T if fg_name in rule.transposed else value
    missing, unexpected = state.load_state_dict(net, weights, strict=False)
    own = {f"{i}.{n}" for i, (_, _, _, rule) in enumerate(chain) for n in rule.fastgd_only}
    if unexpected or set(missing) - own:  # pragma: no cover - a table entry out of step with a layer
        raise ValueError(f"from_torch: the state does not match fastgd's layers: torch names without a "
                         f"fastgd place {unexpected}, fastgd names torch does not give "
                         f"{sorted(set(missing) - own)}")
    for layer, (_, m, _, _) in zip(net.layers, chain):
        layer.train(m.training)
    net.training = bool(module.training)
    if checks:
        _check_chain(torch, module, net, checks)
    return net


def _check_chain(torch: Any, module: Any, net: Net, checks: list[Any]) -> None:
    """ValueError unless ``module``'s eval-mode output equals ``net``'s on a random batch (a custom
    forward may do other than call its children in order); every mode is restored."""
    torch_modes = [(m, m.training) for m in module.modules()]
    net_modes = [(layer, layer.training) for layer in net.layers] + [(net, net.training)]
    X = np.random.default_rng(0).standard_normal((5, net.in_features or 4)).astype(net.dtype)
    names = ", ".join(type(m).__name__ for m in checks)
    try:
        module.eval()
        with torch.no_grad():
            expected = module(torch.from_numpy(X.copy())).cpu().numpy()
        got = net.eval().predict(X)
    except Exception as exc:  # noqa: BLE001 - any failure means the chain is not the forward
        raise ValueError(f"from_torch: the forward of {names} is not the chain of its children "
                         f"({type(exc).__name__}: {exc}); use an nn.Sequential") from exc
    finally:
        for m, mode in torch_modes:
            m.training = mode
        for layer, mode in net_modes:
            layer.training = mode
    tol = 1e-5 if net.dtype == np.float32 else 1e-10
    if expected.shape != got.shape or not np.allclose(expected, got, rtol=tol, atol=tol):
        raise ValueError(f"from_torch: the forward of {names} is not the chain of its children "
                         "(outputs differ on a random batch); use an nn.Sequential")


def to_torch(net: Net) -> Any:
    """The ``nn.Sequential`` equal to ``net`` (weights, buffers, dtype, train/eval mode), with its
    own copies of the arrays. A nested ``Net`` becomes a nested ``nn.Sequential``.

    Raises:
        ValueError: a layer with no torch equivalent (the message names it).

    Example:
        >>> model = net.to_torch()
        >>> model(torch.from_numpy(X))
    """
    torch = _import_torch()
    from ..net import Net

    nn = torch.nn
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[net.dtype]
    modules = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Net):
            modules.append(to_torch(layer))
            continue
        rule = RULES.get(type(layer).__name__)
        if rule is None:
            raise ValueError(f"to_torch: layers[{i}] {layer!r} has no torch equivalent; supported: "
                             f"{', '.join(RULES)}")
        m = getattr(nn, rule.torch_name)(**rule.to_torch(layer)).to(tdtype)
        arrays = {p.name: p.data for p in layer.parameters()} | layer.buffers()
        weights = {}
        for fg_name, a in arrays.items():
            if fg_name in rule.fastgd_only:
                continue
            a = a.T if fg_name in rule.transposed else a
            weights[rule.names.get(fg_name, fg_name)] = torch.from_numpy(np.array(a, copy=True))
        m.load_state_dict(weights, strict=True)
        modules.append(m.train(layer.training))
    seq = nn.Sequential(*modules)
    seq.training = net.training
    return seq
