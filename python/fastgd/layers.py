"""Layers: small classes with ``forward``/``backward`` on the C++ kernels in ``fastgd.ops``.

Every layer keeps what its backward needs during ``forward`` (the input for ``Linear``, ``ReLU``
and ``LeakyReLU``, the output for ``Sigmoid`` and ``Tanh``) and ``backward(dout)`` returns the
gradient with respect to that input while *accumulating* (``+=``) into its parameters' ``.grad``.
Samples are in rows: ``X`` is ``(n_samples, features)``; a ``Linear`` weight is
``(in_features, out_features)``.

Writing your own layer: subclass ``Layer``, implement ``forward(X)`` and
``backward(dout, *, need_dx=True)``; a layer with weights also implements ``parameters()`` and
``build(rng, dtype)`` (called by ``Net`` to create them). ``config()`` must return the
constructor's keyword arguments plus ``"type"`` for ``Net.save``/``Net.load`` to rebuild it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from . import ops
from .parameter import Parameter

__all__ = [
    "Identity",
    "Layer",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "layer_from_config",
]

# Layer classes by name, filled by ``Layer.__init_subclass__``; ``layer_from_config`` reads it.
_REGISTRY: dict[str, type[Layer]] = {}

INITS = ("he", "xavier", "uniform", "lecun", "zeros")


def float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """``dtype`` as ``np.dtype('float32')`` or ``np.dtype('float64')``; anything else is an error.

    Example:
        >>> float_dtype("float32")
        dtype('float32')
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dt}")
    return dt


def _positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class Layer:
    """Base class of all layers: parameter-free, ``forward``/``backward`` to be implemented.

    ``parameters()`` returns ``[]`` here; ``zero_grad()`` clears the gradient of whatever
    ``parameters()`` returns, so subclasses never rewrite it.

    Example:
        >>> class Double(Layer):
        ...     def forward(self, X):
        ...         return 2 * X
        ...     def backward(self, dout, *, need_dx=True):
        ...         return 2 * dout if need_dx else None
    """

    #: Number of input features the layer requires, or None for elementwise layers (any width).
    in_features: int | None = None
    #: Train mode (True, the default) or eval mode, as ``torch.nn.Module.training``: layers such
    #: as ``Dropout`` and ``BatchNorm1d`` behave differently in the two. Set by ``train``/``eval``.
    training: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Output for input ``X`` (n, features); keeps what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(X)")

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Gradient w.r.t. the last ``forward``'s input, given ``dout`` (shape of its output).

        Accumulates parameter gradients into ``.grad``. With ``need_dx=False`` the input
        gradient is not computed and None is returned (a first layer needs none).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward(dout)")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    def parameters(self) -> list[Parameter]:
        """The layer's trainable ``Parameter`` objects (shared, not copies); ``[]`` by default."""
        return []

    def regularized_parameters(self) -> list[Parameter]:
        """The parameters a weight penalty (``fit(..., l2=λ)``) applies to: weight matrices,
        not biases nor normalisation parameters; ``[]`` by default."""
        return []

    def buffers(self) -> dict[str, np.ndarray]:
        """Persistent state that is not trained (e.g. ``BatchNorm1d``'s running statistics),
        by name: saved and restored with the net, updated in place; ``{}`` by default."""
        return {}

    def train(self, mode: bool = True) -> Layer:
        """Set train mode (``mode=True``) or eval mode, as ``torch.nn.Module.train``; returns
        ``self``."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Set eval mode (``train(False)``); returns ``self``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero, in place."""
        for p in self.parameters():
            p.zero_grad()

    @property
    def built(self) -> bool:
        """Whether the parameters exist (always True for parameter-free layers)."""
        return True

    def build(self, rng: np.random.Generator | int | None = None,
              dtype: Any = "float32") -> Layer:
        """Create the parameters from ``rng`` in ``dtype``; a no-op here. Returns ``self``."""
        return self

    def output_features(self, in_features: int) -> int:
        """Number of output columns for ``in_features`` input columns (unchanged here)."""
        return in_features

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description: ``{"type": class name, **constructor kwargs}``."""
        return {"type": type(self).__name__}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new, unbuilt layer from ``config()``'s output (``"type"`` is ignored here)."""
        return cls(**{k: v for k, v in config.items() if k != "type"})

    def _saved(self, attr: str) -> np.ndarray:
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer (without weights) from ``Layer.config()``.

    Raises ``ValueError`` for an unknown type or arguments its constructor rejects.

    Example:
        >>> layer_from_config({"type": "LeakyReLU", "slope": 0.1})
        LeakyReLU(slope=0.1)
    """
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ValueError(f"layer config must be a dict with a 'type' string, got {config!r}")
    name = config["type"]
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(
            f"unknown layer type {name!r}; known types: {sorted(_REGISTRY)} (a custom layer "
            "class must be defined/imported before loading)"
        )
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot rebuild layer {name} from config {config!r}: {exc}") from exc


def init_weights(init: str, rng: np.random.Generator, fan_in: int, fan_out: int,
                 bias: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Initial ``W`` (fan_in, fan_out) and ``b`` (fan_out,) in float64 (cast by the caller).

    - ``"he"``: W ~ N(0, 2/fan_in) (Kaiming normal, for ReLU nets), b = 0.
    - ``"lecun"``: W ~ N(0, 1/fan_in), b = 0.
    - ``"xavier"``: W ~ U(-a, a) with a = sqrt(6/(fan_in+fan_out)) (Glorot uniform), b = 0.
    - ``"uniform"``: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch.nn.Linear's default).
    - ``"zeros"``: W = 0, b = 0.

    Drawing in float64 and casting makes float32 and float64 nets with one seed start from the
    same values (up to rounding).

    Example:
        >>> W, b = init_weights("he", np.random.default_rng(0), 64, 32, bias=True)
    """
    shape = (fan_in, fan_out)
    b = np.zeros(fan_out) if bias else None
    if init == "he":
        W = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
    elif init == "lecun":
        W = rng.normal(0.0, math.sqrt(1.0 / fan_in), shape)
    elif init == "xavier":
        a = math.sqrt(6.0 / (fan_in + fan_out))
        W = rng.uniform(-a, a, shape)
    elif init == "uniform":
        bound = 1.0 / math.sqrt(fan_in)
        W = rng.uniform(-bound, bound, shape)
        if bias:
            b = rng.uniform(-bound, bound, fan_out)
    elif init == "zeros":
        W = np.zeros(shape)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return W, b


class Linear(Layer):
    """Dense layer ``Z = X @ W + b`` with ``W`` (in_features, out_features), ``b`` (out_features,).

    Parameters are created by ``build(rng, dtype)``; ``Net`` does that with its seed and dtype,
    so a layer used on its own needs ``Linear(3, 2).build(seed, "float64")``.

    Args:
        in_features, out_features: sizes (positive ints).
        bias: whether to add ``b``.
        init: ``"he"`` (default), ``"xavier"``, ``"uniform"``, ``"lecun"`` or ``"zeros"``
            (see ``init_weights``).

    Example:
        >>> lin = Linear(3, 2).build(0, "float64")
        >>> lin.forward(np.ones((4, 3))).shape
        (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str = "he") -> None:
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"Linear: bias must be True or False, got {bias!r}")
        if init not in INITS:
            raise ValueError(f"Linear: init must be one of {INITS}, got {init!r}")
        self.bias = bool(bias)
        self.init = init
        self.W: Parameter | None = None
        self.b: Parameter | None = None
        self._X: np.ndarray | None = None

    @property
    def built(self) -> bool:
        return self.W is not None

    @property
    def dtype(self) -> np.dtype | None:
        """Dtype of the weights, None before ``build``."""
        return None if self.W is None else self.W.dtype

    def build(self, rng: np.random.Generator | int | None = None,
              dtype: Any = "float32") -> Linear:
        """Create fresh ``W`` and ``b`` from ``rng`` (Generator, seed or None) in ``dtype``."""
        dt = float_dtype(dtype)
        W, b = init_weights(self.init, np.random.default_rng(rng), self.in_features,  # type: ignore[arg-type]
                            self.out_features, self.bias)
        self.W = Parameter(W.astype(dt), name="W")
        self.b = Parameter(b.astype(dt), name="b") if b is not None else None
        return self

    def _weights(self) -> Parameter:
        if self.W is None:
            raise RuntimeError(
                f"{self!r} has no weights yet: put it in a Net (which builds it) or call "
                ".build(seed, dtype)"
            )
        return self.W

    def parameters(self) -> list[Parameter]:
        W = self._weights()
        return [W] if self.b is None else [W, self.b]

    def regularized_parameters(self) -> list[Parameter]:
        return [self._weights()]

    def output_features(self, in_features: int) -> int:
        return self.out_features

    def forward(self, X: np.ndarray) -> np.ndarray:
        W = self._weights()
        self._X = X
        return ops.linear_forward(X, W.data, None if self.b is None else self.b.data)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        W = self._weights()
        dX, dW, db = ops.linear_backward(self._saved("_X"), W.data, dout, need_dx=need_dx)
        W.grad += dW
        if self.b is not None:
            self.b.grad += db
        return dX

    def config(self) -> dict[str, Any]:
        return {"type": "Linear", "in_features": self.in_features,
                "out_features": self.out_features, "bias": self.bias, "init": self.init}

    def __repr__(self) -> str:
        extra = "" if self.bias else ", bias=False"
        return f"Linear({self.in_features}, {self.out_features}{extra}, init={self.init!r})"


class ReLU(Layer):
    """``A = max(X, 0)``; backward from the saved input: ``dX = dout where X > 0 else 0``.

    Example:
        >>> ReLU().forward(np.array([[-1.0, 2.0]]))
        array([[0., 2.]])
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.relu(X)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.relu_backward(self._saved("_Z"), dout) if need_dx else None


class LeakyReLU(Layer):
    """``A = X where X > 0 else slope·X``; backward from the saved input.

    Example:
        >>> LeakyReLU(0.1).forward(np.array([[-1.0, 2.0]]))
        array([[-0.1,  2. ]])
    """

    def __init__(self, slope: float = 0.01) -> None:
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real) or not math.isfinite(slope):
            raise ValueError(f"LeakyReLU: slope must be a finite number, got {slope!r}")
        self.slope: float = float(slope)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.leaky_relu(X, self.slope)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.leaky_relu_backward(self._saved("_Z"), dout, self.slope) if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "slope": self.slope}


class Sigmoid(Layer):
    """``A = 1 / (1 + e^-X)``; backward from the saved *output*: ``dX = dout·A·(1-A)``.

    Example:
        >>> Sigmoid().forward(np.zeros((1, 2)))
        array([[0.5, 0.5]])
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._A = ops.sigmoid(X)
        return self._A

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.sigmoid_backward(self._saved("_A"), dout) if need_dx else None


class Tanh(Layer):
    """``A = tanh(X)``; backward from the saved *output*: ``dX = dout·(1-A²)``.

    Example:
        >>> Tanh().forward(np.zeros((1, 2)))
        array([[0., 0.]])
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._A = ops.tanh(X)
        return self._A

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.tanh_backward(self._saved("_A"), dout) if need_dx else None


class Identity(Layer):
    """``A = X``; ``dX = dout`` (e.g. a placeholder when an architecture is built from a list).

    Example:
        >>> Identity().forward(np.ones((1, 2)))
        array([[1., 1.]])
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return dout if need_dx else None
