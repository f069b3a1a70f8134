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
from .sparse import CsrRows

__all__ = [
    "ELU",
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "Identity",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
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


def _finite(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    return float(value)


def _flag(value: Any, name: str, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


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

    def cast_buffers(self, dtype: Any) -> None:
        """Convert the floating-point buffers to ``dtype`` (``Net.astype`` calls it); a no-op here."""

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

    def forward(self, X: np.ndarray | CsrRows) -> np.ndarray:
        """``X @ W + b`` for ``X`` (n, in_features), or a sparse ``CsrRows`` of the same shape
        (``ops.csr_linear_forward``: the CSR rows are never densified)."""
        W = self._weights()
        self._X = X  # type: ignore[assignment]
        b = None if self.b is None else self.b.data
        if isinstance(X, CsrRows):
            if X.shape[1] != self.in_features:
                raise ValueError(f"Linear: X must have {self.in_features} features (columns), got "
                                 f"shape {X.shape}")
            return ops.csr_linear_forward(X.indptr, X.indices, X.data, W.data, b)
        return ops.linear_forward(X, W.data, b)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        W = self._weights()
        X = self._saved("_X")
        if isinstance(X, CsrRows):  # a sparse input is the data: no dX
            if need_dx:
                raise ValueError("Linear.backward: the input was sparse (CsrRows), which has no "
                                 "gradient; call backward(dout, need_dx=False)")
            dW, db = ops.csr_linear_backward(X.indptr, X.indices, X.data, dout, self.in_features)
            W.grad += dW
            if self.b is not None:
                self.b.grad += db
            return None
        dX, dW, db = ops.linear_backward(X, W.data, dout, need_dx=need_dx)
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


# ------------------------------------------------------------------ activations (torch.nn names)


class GELU(Layer):
    """``A = X·Φ(X)`` (Φ the standard normal CDF), as ``torch.nn.GELU``; ``approximate="tanh"``
    uses torch's tanh approximation. Backward from the saved input.

    Example:
        >>> GELU().forward(np.array([[0.0, 1.0]]))
        array([[0.        , 0.84134475]])
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.gelu(X, self.approximate)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.gelu_backward(self._saved("_Z"), dout, self.approximate) if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "GELU", "approximate": self.approximate}


class SiLU(Layer):
    """``A = X·σ(X)`` (swish), as ``torch.nn.SiLU``; backward from the saved input.

    Example:
        >>> SiLU().forward(np.array([[0.0, 1.0]]))
        array([[0.        , 0.73105858]])
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.silu(X)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.silu_backward(self._saved("_Z"), dout) if need_dx else None


class ELU(Layer):
    """``A = X where X > 0 else alpha·(e^X - 1)``, as ``torch.nn.ELU``; backward from the input.

    Example:
        >>> ELU(alpha=1.0).forward(np.array([[-1.0, 2.0]]))
        array([[-0.63212056,  2.        ]])
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = _finite(alpha, "alpha", "ELU")

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.elu(X, self.alpha)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.elu_backward(self._saved("_Z"), dout, self.alpha) if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "ELU", "alpha": self.alpha}


class Softplus(Layer):
    """``A = log(1 + e^(beta·X))/beta``, and ``X`` where ``beta·X > threshold``, as
    ``torch.nn.Softplus``; overflow-free. Backward from the input: ``dout·σ(beta·X)``.

    Example:
        >>> Softplus().forward(np.array([[0.0, 30.0]]))
        array([[ 0.69314718, 30.        ]])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = _finite(beta, "beta", "Softplus")
        if self.beta == 0:
            raise ValueError("Softplus: beta must be non-zero, got 0")
        self.threshold = _finite(threshold, "threshold", "Softplus")

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._Z = X
        return ops.softplus(X, self.beta, self.threshold)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.softplus_backward(self._saved("_Z"), dout, self.beta, self.threshold) if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "Softplus", "beta": self.beta, "threshold": self.threshold}


class Softmax(Layer):
    """Row-wise probabilities ``A = e^X / Σ_row e^X`` (shifted by the row max: stable for any
    logits), as ``torch.nn.Softmax(dim=-1)`` on (n, features). Backward from the saved output:
    the Jacobian-vector product ``dX = A·(dout - Σ_row dout·A)``.

    For a classifier trained with ``"cross_entropy"`` leave it out (that loss takes logits);
    it is for nets whose output you want as probabilities.

    Example:
        >>> Softmax().forward(np.array([[0.0, 0.0]]))
        array([[0.5, 0.5]])
    """

    def __init__(self, dim: int = -1) -> None:
        if isinstance(dim, bool) or dim not in (-1, 1):
            raise ValueError(f"Softmax: dim must be -1 or 1 (the feature axis of (n, features)), got {dim!r}")
        self.dim = int(dim)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._A = ops.softmax(X)
        return self._A

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        return ops.softmax_backward(self._saved("_A"), dout) if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "Softmax", "dim": self.dim}


# ------------------------------------------------------------------------------- dropout


def _derived_seed(rng: np.random.Generator | int | None) -> int:
    """A 64-bit seed from ``rng`` without drawing from its stream (a child of its SeedSequence),
    so that adding a ``Dropout`` to a net leaves the other layers' initial weights unchanged."""
    gen = np.random.default_rng(rng)  # type: ignore[arg-type]
    seq = getattr(gen.bit_generator, "seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        return int(seq.spawn(1)[0].generate_state(1, np.uint64)[0])
    return int(gen.integers(0, 2**64, dtype=np.uint64))  # a generator without one: draw


class Dropout(Layer):
    """Inverted dropout, as ``torch.nn.Dropout``: in train mode each element is zeroed with
    probability ``p`` and the kept ones are scaled by ``1/(1 - p)``; in eval mode the identity.

    The mask of each training forward is a hash of ``(seed, counter, element index)`` (see
    ``fastgd.ops.dropout``): the seed comes from the net's seed when ``Net`` builds the layer (a
    child of its ``SeedSequence``, so the other layers' initial weights do not change), and the
    counter advances by one per training forward. The same seed and data give the same masks
    and bit-identical weights, fused or layer by layer. Both are buffers (``"seed"``,
    ``"counter"``), saved with the net so that training resumes with the masks it would have had.

    Args:
        p: drop probability in [0, 1); 0 is the identity.
        seed: an int in [0, 2**64) to fix the masks regardless of the net's seed (None: derived).

    Example:
        >>> drop = Dropout(0.5, seed=0)
        >>> A = drop.forward(np.ones((2, 4)))    # entries 0 or 2
        >>> drop.eval().forward(np.ones((1, 2)))
        array([[1., 1.]])
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed < 2**64):
            raise ValueError(f"Dropout: seed must be None or an int in [0, 2**64), got {seed!r}")
        self.p: float = float(p)
        self._given_seed: int | None = None if seed is None else int(seed)
        self._seed: np.ndarray | None = None if seed is None else np.array(seed, np.uint64)
        self.counter: np.ndarray = np.zeros((), np.int64)  # training forwards so far (updated in place)
        self._mask: np.ndarray | None = None

    @property
    def built(self) -> bool:
        return self._seed is not None

    @property
    def seed(self) -> int | None:
        """The seed of the masks (None before ``build``)."""
        return None if self._seed is None else int(self._seed)

    def build(self, rng: np.random.Generator | int | None = None, dtype: Any = "float32") -> Dropout:
        """Take the seed from ``rng`` (a child of its ``SeedSequence``: its stream is not drawn
        from) unless one was given; returns ``self``."""
        if self._given_seed is None:
            self._seed = np.array(_derived_seed(rng), np.uint64)
        return self

    def buffers(self) -> dict[str, np.ndarray]:
        if self._seed is None:
            return {"counter": self.counter}
        return {"seed": self._seed, "counter": self.counter}

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._mask = None
        if not self.training:
            return X
        seed = self.seed
        if seed is None:  # used on its own, never built: fresh randomness
            seed = self.build(None).seed
        counter = int(self.counter)
        self.counter[...] = counter + 1
        if self.p == 0:
            return X
        A, self._mask = ops.dropout(X, self.p, seed, counter)
        return A

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        return dout if self._mask is None else ops.dropout_backward(self._mask, dout, self.p)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"type": "Dropout", "p": self.p}
        if self._given_seed is not None:
            config["seed"] = self._given_seed
        return config


# ------------------------------------------------------------------------- normalisation


class _Norm(Layer):
    """Shared parts of the normalisation layers: ``weight``/``bias`` parameters and buffers."""

    weight: Parameter | None = None
    bias: Parameter | None = None
    _dtype: np.dtype | None = None

    @property
    def built(self) -> bool:
        return self._dtype is not None

    def _params(self, dtype: Any, c: int, weight: bool, bias: bool) -> np.dtype:
        dt = float_dtype(dtype)
        self.weight = Parameter(np.ones(c, dt), name="weight") if weight else None
        self.bias = Parameter(np.zeros(c, dt), name="bias") if bias else None
        self._dtype = dt
        return dt

    def _check_built(self) -> None:
        if self._dtype is None:
            raise RuntimeError(f"{self!r} is not built yet: put it in a Net (which builds it) or call "
                               ".build(seed, dtype)")

    def parameters(self) -> list[Parameter]:
        self._check_built()
        return [p for p in (self.weight, self.bias) if p is not None]

    def _accumulate(self, dw: np.ndarray, db: np.ndarray) -> None:
        if self.weight is not None:
            self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db

    def _data(self, p: Parameter | None) -> np.ndarray | None:
        return None if p is None else p.data


class BatchNorm1d(_Norm):
    """Batch normalisation of each feature over the batch, as ``torch.nn.BatchNorm1d`` on
    (n, num_features): ``Y = (X - mean)/sqrt(var + eps)·weight + bias``.

    Train mode: mean and biased variance of the batch (a batch of one sample is a
    ``ValueError``, as in torch), and, with ``track_running_stats``, the running statistics are
    updated: ``running = (1 - momentum)·running + momentum·batch`` (the *unbiased* variance for
    ``running_var``; ``momentum=None``: the cumulative average, factor ``1/num_batches_tracked``).
    Eval mode: the running statistics (batch statistics without ``track_running_stats``).

    Parameters ``weight`` (γ, ones) and ``bias`` (β, zeros) when ``affine``; buffers
    ``running_mean`` (zeros), ``running_var`` (ones), ``num_batches_tracked`` (int64, shape ()).

    Example:
        >>> bn = BatchNorm1d(3).build(0, "float64")
        >>> Y = bn.forward(np.random.default_rng(0).normal(5, 2, (8, 3)))   # columns ~ mean 0, std 1
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        owner = "BatchNorm1d"
        self.num_features = self.in_features = _positive_int(num_features, "num_features", owner)
        self.eps = _finite(eps, "eps", owner)
        if self.eps < 0:
            raise ValueError(f"{owner}: eps must be >= 0, got {eps!r}")
        self.momentum = None if momentum is None else _finite(momentum, "momentum", owner)
        self.affine = _flag(affine, "affine", owner)
        self.track_running_stats = _flag(track_running_stats, "track_running_stats", owner)
        self.running_mean: np.ndarray | None = None
        self.running_var: np.ndarray | None = None
        self.num_batches_tracked: np.ndarray | None = None
        self._X: np.ndarray | None = None

    def build(self, rng: np.random.Generator | int | None = None, dtype: Any = "float32") -> BatchNorm1d:
        """Create ``weight``/``bias`` (when affine) and the running statistics in ``dtype``."""
        dt = self._params(dtype, self.num_features, self.affine, self.affine)
        if self.track_running_stats:
            self.running_mean = np.zeros(self.num_features, dt)
            self.running_var = np.ones(self.num_features, dt)
            self.num_batches_tracked = np.zeros((), np.int64)
        return self

    def buffers(self) -> dict[str, np.ndarray]:
        if self.running_mean is None or self.running_var is None or self.num_batches_tracked is None:
            return {}
        return {"running_mean": self.running_mean, "running_var": self.running_var,
                "num_batches_tracked": self.num_batches_tracked}

    def cast_buffers(self, dtype: Any) -> None:
        dt = float_dtype(dtype)
        self._dtype = dt
        if self.running_mean is not None and self.running_var is not None:
            self.running_mean = self.running_mean.astype(dt)
            self.running_var = self.running_var.astype(dt)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_built()
        w, b = self._data(self.weight), self._data(self.bias)
        self._batch_stats = self.training or self.running_mean is None
        if not self._batch_stats:
            Y, self._mean, self._var = ops.batchnorm_forward(X, w, b, self.running_mean, self.running_var,
                                                             eps=self.eps)
            self._X = X
            return Y
        Y, self._mean, self._var = ops.batchnorm_forward(X, w, b, eps=self.eps)  # checks n >= 2
        self._X = X
        rm, rv, count = self.running_mean, self.running_var, self.num_batches_tracked
        if self.training and rm is not None and rv is not None and count is not None:
            count += 1
            f = 1.0 / float(count) if self.momentum is None else self.momentum
            n = X.shape[0]
            # as torch: in double, f·batch + (1 - f)·running, the variance unbiased (n/(n-1))
            rm[...] = f * self._mean.astype(np.float64) + (1 - f) * rm.astype(np.float64)
            rv[...] = f * self._var.astype(np.float64) * (n / (n - 1)) + (1 - f) * rv.astype(np.float64)
        return Y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dX, dw, db = ops.batchnorm_backward(self._saved("_X"), self._data(self.weight), self._mean, self._var,
                                            dout, eps=self.eps, batch_stats=self._batch_stats)
        self._accumulate(dw, db)
        return dX if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "BatchNorm1d", "num_features": self.num_features, "eps": self.eps,
                "momentum": self.momentum, "affine": self.affine,
                "track_running_stats": self.track_running_stats}


class LayerNorm(_Norm):
    """Normalisation of each sample over its features, as ``torch.nn.LayerNorm`` on
    (n, features): ``Y = (X - mean)/sqrt(var + eps)·weight + bias`` with the row's mean and
    biased variance; the same in train and eval mode.

    Args:
        normalized_shape: the number of features (an int, or a 1-tuple/list of it).
        eps: added to the variance. elementwise_affine: learn ``weight`` (ones) and, with
        ``bias=True``, ``bias`` (zeros), one per feature.

    Example:
        >>> ln = LayerNorm(4).build(0, "float64")
        >>> ln.forward(np.array([[1.0, 2.0, 3.0, 4.0]])).round(3)
        array([[-1.342, -0.447,  0.447,  1.342]])
    """

    def __init__(self, normalized_shape: int | tuple[int] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        owner = "LayerNorm"
        shape = normalized_shape
        if isinstance(shape, (tuple, list)):
            if len(shape) != 1:
                raise ValueError(f"{owner}: normalized_shape must be the number of features (an int or a "
                                 f"1-tuple) for (n, features) inputs, got {normalized_shape!r}")
            shape = shape[0]
        self.normalized_shape = self.in_features = _positive_int(shape, "normalized_shape", owner)
        self.eps = _finite(eps, "eps", owner)
        if self.eps < 0:
            raise ValueError(f"{owner}: eps must be >= 0, got {eps!r}")
        self.elementwise_affine = _flag(elementwise_affine, "elementwise_affine", owner)
        self.use_bias = _flag(bias, "bias", owner)
        self._X: np.ndarray | None = None

    def build(self, rng: np.random.Generator | int | None = None, dtype: Any = "float32") -> LayerNorm:
        """Create ``weight`` (and ``bias``) in ``dtype`` when ``elementwise_affine``."""
        self._params(dtype, self.normalized_shape, self.elementwise_affine,
                     self.elementwise_affine and self.use_bias)
        return self

    def cast_buffers(self, dtype: Any) -> None:
        self._dtype = float_dtype(dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._check_built()
        Y, self._mean, self._var = ops.layernorm_forward(X, self._data(self.weight), self._data(self.bias),
                                                         eps=self.eps)
        self._X = X
        return Y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dX, dw, db = ops.layernorm_backward(self._saved("_X"), self._data(self.weight), self._mean, self._var,
                                            dout, eps=self.eps)
        self._accumulate(dw, db)
        return dX if need_dx else None

    def config(self) -> dict[str, Any]:
        return {"type": "LayerNorm", "normalized_shape": self.normalized_shape, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.use_bias}
