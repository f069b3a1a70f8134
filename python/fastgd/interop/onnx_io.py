"""ONNX out: ``net.to_onnx(path)`` and the ``to_onnx`` of ``fastgd.sklearn``'s estimators.

The graph is the net in inference mode (what ``net.predict`` computes: ``Dropout`` is the
identity, ``BatchNorm1d`` uses its running statistics), in the net's dtype (float32 or float64),
with input ``"X"`` of shape ``(batch, in_features)`` and output ``"Y"`` of shape
``(batch, out_features)``, the batch axis dynamic. One table, ``EMITTERS``, keyed by fastgd layer
class name, writes each layer's nodes. Where ONNX's operator differs from torch's definition
(``Softplus`` has no threshold) or ONNX Runtime has no double kernel, the layer is written as the
exact formula in elementary operators.

Example:
    >>> net.to_onnx("model.onnx")
    >>> import onnxruntime as ort
    >>> ort.InferenceSession("model.onnx").run(None, {"X": X})[0]     # == net.predict(X)
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..layers import Layer

if TYPE_CHECKING:
    from ..net import Net

__all__ = ["DEFAULT_OPSET", "EMITTERS", "Graph", "to_onnx"]

#: The opset written by default: the lowest with LayerNormalization (17); Gelu (20) is then
#: written as its erf / tanh formula.
DEFAULT_OPSET = 17
MIN_OPSET = 17


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX export needs onnx: pip install 'fastgd[onnx]'") from exc
    return onnx


class Graph:
    """An ONNX graph under construction: nodes, constant initializers and fresh names.

    Args:
        dtype: float32 or float64, the dtype of every float tensor.
        opset: the ONNX opset the nodes follow.
    """

    def __init__(self, dtype: np.dtype, opset: int) -> None:
        self.onnx = _import_onnx()
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c", dtype: Any = None) -> str:
        """An initializer holding ``value`` (in the graph's dtype unless ``dtype``); its name."""
        a = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        """Append one node with one output; return the output's name."""
        out = self.name(hint or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    @property
    def elem_type(self) -> int:
        tp = self.onnx.TensorProto
        return tp.FLOAT if self.dtype == np.float32 else tp.DOUBLE

    def model(self, inputs: list[Any], outputs: list[Any], name: str) -> Any:
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="fastgd")
        # The lowest IR version that has this opset (from onnx's release table), so that older
        # runtimes load the file too.
        model.ir_version = min((row[1] for row in helper.VERSION_TABLE if row[2] >= self.opset),
                               default=model.ir_version)
        self.onnx.checker.check_model(model, full_check=True)
        return model


def _arrays(layer: Layer) -> dict[str, np.ndarray]:
    return {p.name: p.data for p in layer.parameters()} | layer.buffers()


def _linear(g: Graph, layer: Layer, x: str) -> str:
    a = _arrays(layer)
    W = g.const(a["W"], "W")
    if "b" in a:
        return g.node("Gemm", [x, W, g.const(a["b"], "b")], "linear")
    return g.node("MatMul", [x, W], "linear")


def _leaky_relu(g: Graph, layer: Layer, x: str) -> str:
    slope = float(layer.config()["slope"])
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], "leaky_relu", alpha=slope)
    # ONNX attributes are float32: a double graph takes the slope from a double constant.
    # A = X where X > 0 else slope·X.
    positive = g.node("Greater", [x, g.const(0.0, "zero")])
    return g.node("Where", [positive, x, g.node("Mul", [x, g.const(slope, "slope")])], "leaky_relu")


def _batchnorm(g: Graph, layer: Layer, x: str) -> str:
    cfg, a = layer.config(), _arrays(layer)
    eps = float(cfg.get("eps", 1e-5))
    n = int(cfg["num_features"])
    weight = a.get("weight", np.ones(n))
    bias = a.get("bias", np.zeros(n))
    if "running_mean" in a and "running_var" in a and cfg.get("track_running_stats", True):
        # y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, folded into x*s + t.
        scale = np.asarray(weight, np.float64) / np.sqrt(np.asarray(a["running_var"], np.float64) + eps)
        shift = np.asarray(bias, np.float64) - np.asarray(a["running_mean"], np.float64) * scale
        return g.node("Add", [g.node("Mul", [x, g.const(scale, "bn_scale")]), g.const(shift, "bn_shift")],
                      "batchnorm")
    # Without running statistics torch normalises with the batch's own (biased) variance.
    y = _normalize(g, x, 0, eps)
    return g.node("Add", [g.node("Mul", [y, g.const(weight, "bn_weight")]), g.const(bias, "bn_bias")],
                  "batchnorm")


def _normalize(g: Graph, x: str, axis: int, eps: float) -> str:
    """(x - mean) / sqrt(var + eps) over ``axis``, with the biased variance (as torch)."""
    d = g.node("Sub", [x, _reduce_mean(g, x, axis)])
    var = _reduce_mean(g, g.node("Mul", [d, d]), axis)
    return g.node("Div", [d, g.node("Sqrt", [g.node("Add", [var, g.const(eps, "eps")])])])


def _reduce_mean(g: Graph, x: str, axis: int = 0) -> str:
    """Mean over ``axis`` (0: the batch, -1: the features), the axis kept with length 1."""
    if g.opset >= 18:
        return g.node("ReduceMean", [x, g.const([axis], "axes", np.int64)], keepdims=1)
    return g.node("ReduceMean", [x], axes=[axis], keepdims=1)


def _layernorm(g: Graph, layer: Layer, x: str) -> str:
    cfg, a = layer.config(), _arrays(layer)
    n = cfg["normalized_shape"]
    n = int(n[0] if isinstance(n, (list, tuple)) else n)
    scale = g.const(a.get("weight", np.ones(n)), "ln_weight")
    bias = g.const(a.get("bias", np.zeros(n)), "ln_bias")
    eps = float(cfg.get("eps", 1e-5))
    if g.dtype == np.float32:
        return g.node("LayerNormalization", [x, scale, bias], "layernorm", axis=-1, epsilon=eps)
    # ONNX attributes are float32: a double graph writes the formula with a double eps.
    return g.node("Add", [g.node("Mul", [_normalize(g, x, -1, eps), scale]), bias], "layernorm")


def _gelu(g: Graph, layer: Layer, x: str) -> str:
    approximate = layer.config().get("approximate", "none")
    if g.opset >= 20 and g.dtype == np.float32:  # ONNX Runtime has no double Gelu
        return g.node("Gelu", [x], "gelu", approximate=approximate)
    half = g.const(0.5, "half")
    one = g.const(1.0, "one")
    if approximate == "tanh":
        # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        x3 = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [x3, g.const(0.044715, "k")])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.const(math.sqrt(2 / math.pi), "sqrt_2_pi")])])
    else:
        # 0.5·x·(1 + erf(x/√2)); ONNX Runtime has no double Erf, so a float64 graph takes erf in
        # float32 (an error below 1e-7 in erf, i.e. |x|·6e-8 in the output).
        z = g.node("Mul", [x, g.const(1 / math.sqrt(2), "inv_sqrt2")])
        if g.dtype == np.float32:
            t = g.node("Erf", [z])
        else:
            tp = g.onnx.TensorProto
            t = g.node("Cast", [g.node("Erf", [g.node("Cast", [z], to=tp.FLOAT)])], to=tp.DOUBLE)
    return g.node("Mul", [g.node("Mul", [x, half]), g.node("Add", [t, one])], "gelu")


def _elu(g: Graph, layer: Layer, x: str) -> str:
    alpha = float(layer.config().get("alpha", 1.0))
    if g.dtype == np.float32:
        return g.node("Elu", [x], "elu", alpha=alpha)
    # ONNX Runtime has no double Elu: A = X where X > 0 else alpha·(e^min(X, 0) - 1).
    zero, one = g.const(0.0, "zero"), g.const(1.0, "one")
    neg = g.node("Mul", [g.node("Sub", [g.node("Exp", [g.node("Min", [x, zero])]), one]),
                         g.const(alpha, "alpha")])
    return g.node("Where", [g.node("Greater", [x, zero]), x, neg], "elu")


def _softplus(g: Graph, layer: Layer, x: str) -> str:
    # torch: x where beta·x > threshold else log(1 + e^(beta·x)) / beta; ONNX's Softplus has no
    # threshold, so the Where is written out, and log(1 + e^z) as max(z, 0) + log(1 + e^-|z|).
    cfg = layer.config()
    beta, threshold = float(cfg.get("beta", 1.0)), float(cfg.get("threshold", 20.0))
    z = g.node("Mul", [x, g.const(beta, "beta")])
    zero, one = g.const(0.0, "zero"), g.const(1.0, "one")
    log1p = g.node("Log", [g.node("Add", [one, g.node("Exp", [g.node("Neg", [g.node("Abs", [z])])])])])
    soft = g.node("Div", [g.node("Add", [g.node("Max", [z, zero]), log1p]), g.const(beta, "beta")])
    return g.node("Where", [g.node("Greater", [z, g.const(threshold, "threshold")]), x, soft], "softplus")


def _simple(op: str) -> Callable[[Graph, Layer, str], str]:
    return lambda g, layer, x: g.node(op, [x], op.lower())


EMITTERS: dict[str, Callable[[Graph, Layer, str], str]] = {
    "Linear": _linear,
    "ReLU": _simple("Relu"),
    "LeakyReLU": _leaky_relu,
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "Identity": _simple("Identity"),
    "Dropout": _simple("Identity"),  # inference: the identity
    "BatchNorm1d": _batchnorm,
    "LayerNorm": _layernorm,
    "GELU": _gelu,
    "SiLU": lambda g, layer, x: g.node("Mul", [x, g.node("Sigmoid", [x])], "silu"),
    "ELU": _elu,
    "Softplus": _softplus,
    "Softmax": lambda g, layer, x: g.node("Softmax", [x], "softmax", axis=-1),
}


def emit_net(g: Graph, net: Net, x: str) -> str:
    """Append the nodes of ``net``'s layers to ``g``, from input ``x``; the output's name."""
    from ..net import Net

    for i, layer in enumerate(net.layers):
        if isinstance(layer, Net):
            x = emit_net(g, layer, x)
            continue
        emit = EMITTERS.get(type(layer).__name__)
        if emit is None:
            raise ValueError(f"to_onnx: layers[{i}] {layer!r} has no ONNX export; supported: "
                             f"{', '.join(EMITTERS)}")
        x = emit(g, layer, x)
    return x


def check_opset(opset: int | None) -> int:
    onnx = _import_onnx()
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int in {MIN_OPSET}..{newest} (this onnx's newest), "
                         f"got {opset!r}")
    return int(opset)


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (a complete file or the old one, never half)."""
    target = Path(path).expanduser()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_onnx(net: Net, path: str | os.PathLike[str], opset: int | None = None) -> None:
    """Write ``net`` in inference mode as an ONNX model: input ``"X"`` (batch, in_features),
    output ``"Y"`` (batch, out_features), both the net's dtype, the batch axis dynamic.

    Args:
        net: the net (any of ``EMITTERS``' layers, nested nets too).
        path: the ``.onnx`` file to write (atomically).
        opset: ONNX opset, 17 (default) up to the installed onnx's newest.

    Raises:
        ImportError: onnx is not installed. ValueError: a layer without export, a bad opset.

    Example:
        >>> net.to_onnx("model.onnx")
    """
    opset = check_opset(opset)
    g = Graph(net.dtype, opset)
    helper = g.onnx.helper
    width: Any = net.in_features if net.in_features is not None else "features"
    x = helper.make_tensor_value_info("X", g.elem_type, ["batch", width])
    g.nodes.append(helper.make_node("Identity", [emit_net(g, net, "X")], ["Y"], name="Y"))
    out_width: Any = net.out_features if net.out_features is not None else width
    outputs = [helper.make_tensor_value_info("Y", g.elem_type, ["batch", out_width])]
    save_model(g.model([x], outputs, "fastgd_net"), path)


def sklearn_to_onnx(estimator: Any, path: str | os.PathLike[str], opset: int | None = None) -> None:
    """Write a fitted ``fastgd.sklearn`` estimator as ONNX (float64 input ``"X"``).

    ``MLPClassifier``: outputs ``"label"`` (batch,) — values of ``classes_``, int64 or string —
    and ``"probabilities"`` (batch, n_classes), as ``predict``/``predict_proba``.
    ``MLPRegressor``: output ``"variable"``, (batch,) for one output (as ``predict``), else
    (batch, n_outputs), as ``predict``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "net_")
    opset = check_opset(opset)
    net = estimator.net_
    g = Graph(net.dtype, opset)
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    n_in = int(estimator.n_features_in_)
    inputs = [helper.make_tensor_value_info("X", g.elem_type, ["batch", n_in])]
    out = emit_net(g, net, "X")
    kind = getattr(estimator, "out_activation_", None)
    if kind == "logistic" and int(estimator.n_outputs_) > 1:
        raise ValueError("to_onnx: multilabel MLPClassifier (an indicator-matrix y) is not supported")
    if kind == "exp":  # MLPRegressor(loss="poisson"): the net outputs log-rates
        out = g.node("Exp", [out])
    if hasattr(estimator, "classes_"):
        classes = np.asarray(estimator.classes_)
        k = len(classes)
        if net.out_features == 1:  # binary: one logit, p(class 1) = sigmoid(logit)
            p = g.node("Sigmoid", [out])
            proba = g.node("Concat", [g.node("Sub", [g.const(1.0, "one"), p]), p], axis=1)
        else:
            proba = g.node("Softmax", [out], axis=-1)
        index = g.node("ArgMax", [proba], axis=1, keepdims=0)
        if classes.dtype.kind in "iub":
            table, label_type = g.const(classes.astype(np.int64), "classes", np.int64), tp.INT64
        elif classes.dtype.kind in "UO":
            name = g.name("classes")
            g.initializers.append(helper.make_tensor(name, tp.STRING, [k],
                                                     [str(c).encode() for c in classes]))
            table, label_type = name, tp.STRING
        else:
            raise ValueError(f"to_onnx: class labels of dtype {classes.dtype} are not supported (integers, "
                             "booleans or strings)")
        g.nodes.append(helper.make_node("Gather", [table, index], ["label"], axis=0, name="label"))
        g.nodes.append(helper.make_node("Identity", [proba], ["probabilities"], name="probabilities"))
        outputs = [helper.make_tensor_value_info("label", label_type, ["batch"]),
                   helper.make_tensor_value_info("probabilities", g.elem_type, ["batch", k])]
    else:
        if int(estimator.n_outputs_) == 1:  # predict gives (n,) for one output, as scikit-learn
            g.nodes.append(helper.make_node("Reshape", [out, g.const([-1], "shape", np.int64)], ["variable"],
                                            name="variable"))
            shape: list[Any] = ["batch"]
        else:
            g.nodes.append(helper.make_node("Identity", [out], ["variable"], name="variable"))
            shape = ["batch", int(estimator.n_outputs_)]
        outputs = [helper.make_tensor_value_info("variable", g.elem_type, shape)]
    save_model(g.model(inputs, outputs, type(estimator).__name__), path)
