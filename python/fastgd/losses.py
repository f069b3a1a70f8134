"""Loss objects: a ``fastgd.ops`` loss kernel plus target validation and prediction helpers.

A loss is called as ``loss(pred, y, sample_weight=None) -> (loss: float, dpred)``: the mean loss
over the batch and its gradient with respect to the net's raw output ``pred`` (n, k); with
``sample_weight`` (n,) the weighted mean ``Σ wᵢ ℓᵢ / Σ wᵢ`` (ℓᵢ the sample's loss, the mean over
its outputs for the element-wise losses; for ``CrossEntropyLoss`` with class weights the
denominator is ``Σ wᵢ·weight[yᵢ]``, as torch's weighted mean). The losses, their defaults and
formulas are torch's: ``MSELoss``, ``L1Loss``, ``HuberLoss``, ``SmoothL1Loss``, ``PoissonNLLLoss``,
``CrossEntropyLoss`` and ``BCEWithLogitsLoss``; ``config()`` gives the constructor arguments
(what ``Net.save`` keeps) and ``get_loss(name, **config)`` builds one back. ``check_targets`` validates
``y`` against the output shape once, with messages that say what was expected; ``predict`` turns
raw outputs into predictions (class indices for classification) and ``n_correct`` counts hits
for the accuracy metric.

Example:
    >>> loss = get_loss("cross_entropy")
    >>> value, dlogits = loss(np.zeros((2, 3), np.float32), np.array([0, 2]))
    >>> round(value, 4)
    1.0986
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from . import ops

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "Loss", "MSELoss", "PoissonNLLLoss",
           "SmoothL1Loss", "check_sample_weight", "get_loss"]


def _require_array(y: Any, name: str) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(y).__name__}")
    return y


def _require_float(y: np.ndarray, dtype: np.dtype, name: str, loss: str) -> None:
    if y.dtype != dtype:
        kind = "float" if y.dtype.kind == "f" else "non-float"
        raise TypeError(
            f"{name} for the {loss} loss must have the net's dtype {dtype}, got {kind} {y.dtype}; "
            f"convert with {name}.astype(np.{dtype})"
        )


def _weights(pred: np.ndarray, sample_weight: Any) -> np.ndarray | None:
    """``sample_weight`` checked and in ``pred``'s dtype (None stays None)."""
    if sample_weight is None:
        return None
    return check_sample_weight(sample_weight, len(pred), pred.dtype)


def _number(loss: str, arg: str, value: Any, ok: Any, expected: str) -> float:
    """A float hyper-parameter, checked: TypeError for a non-number, ValueError when not ``ok``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{loss}: {arg} must be a number, got {type(value).__name__}")
    value = float(value)
    if not ok(value):
        raise ValueError(f"{loss}: {arg} must be {expected}, got {value!r}")
    return value


def _flag(loss: str, arg: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{loss}: {arg} must be True or False, got {value!r}")
    return bool(value)


def _weight_vector(loss: str, arg: str, value: Any) -> np.ndarray | None:
    """Class weights / pos_weight: None, or a 1-D float64 vector of finite values >= 0."""
    if value is None:
        return None
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{loss}: {arg} must hold numbers, got dtype {a.dtype}")
    a = np.atleast_1d(a.astype(np.float64))
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{loss}: {arg} must be a 1-D vector of weights, got shape {np.shape(value)}")
    if not (np.isfinite(a).all() and a.min() >= 0):
        raise ValueError(f"{loss}: {arg} must be finite and >= 0, got {a.tolist()}")
    return a


class Loss:
    """Base class: a mean loss over samples and its gradient w.r.t. the raw outputs.

    Subclasses set ``name`` (used by ``get_loss`` and serialisation) and
    ``is_classification``, and implement ``__call__`` and ``check_targets``.
    """

    name: ClassVar[str] = ""
    #: True when ``predict`` returns class labels and ``accuracy`` is reported.
    is_classification: ClassVar[bool] = False

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """``(mean loss, dpred)`` for raw outputs ``pred`` (n, k) and targets ``y``; with
        ``sample_weight`` (n,) the weighted mean ``Σ wᵢ ℓᵢ / Σ wᵢ``."""
        raise NotImplementedError

    def check_targets(self, y: Any, out_shape: tuple[int, int], dtype: np.dtype,
                      name: str = "y") -> np.ndarray:
        """Validate ``y`` against outputs of shape ``out_shape`` and the net's ``dtype``.

        Returns ``y`` ready for ``__call__`` (possibly a reshaped view, never a float cast).
        Raises ``TypeError`` for a wrong type/dtype and ``ValueError`` for wrong shapes or values.
        """
        raise NotImplementedError

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Predictions from raw outputs: the outputs themselves for regression."""
        return out

    def predict_proba(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities from raw outputs (classification losses only)."""
        raise ValueError(f"the {self.name} loss is not a classification loss: no probabilities")

    def n_correct(self, out: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        """``(number of correct predictions, number of predictions)`` for the accuracy metric."""
        raise ValueError(f"the {self.name} loss is not a classification loss: no accuracy")

    def accuracy(self, out: np.ndarray, y: np.ndarray) -> float:
        """Fraction of correct predictions (classification losses only)."""
        correct, total = self.n_correct(out, y)
        return correct / total if total else float("nan")

    def config(self) -> dict[str, Any]:
        """The constructor arguments that differ from the defaults, JSON-serialisable:
        ``type(self)(**config)`` (or ``get_loss(self.name, **config)``) is the same loss."""
        return {}

    def total_weight(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The denominator of this batch's mean: the number of samples, ``Σ wᵢ`` with weights
        (``CrossEntropyLoss`` with class weights: ``Σ wᵢ·weight[yᵢ]``). Batch losses combine as
        ``Σ_b loss_b·W_b / Σ_b W_b`` into the loss of all the batches at once."""
        return float(len(y)) if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class _Pointwise(Loss):
    """An element-wise regression loss: float targets of the net's dtype, shape (n, k), or (n,)
    when the net has one output; the mean over all elements (per sample with weights)."""

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        if y.ndim == 1 and pred.ndim == 2:
            y = y.reshape(-1, 1)
        w = _weights(pred, sample_weight)
        return self._kernel(pred, y) if w is None else self._kernel(pred, y, sample_weight=w)

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def check_targets(self, y: Any, out_shape: tuple[int, int], dtype: np.dtype,
                      name: str = "y") -> np.ndarray:
        y = _require_array(y, name)
        _require_float(y, dtype, name, self.name)
        n, k = out_shape
        if y.ndim == 1 and k == 1 and len(y) == n:
            return y.reshape(n, 1)
        if y.shape != (n, k):
            raise ValueError(
                f"{name} must have shape ({n}, {k})" + (f" or ({n},)" if k == 1 else "")
                + f" to match the net's output ({n}, {k}), got shape {y.shape}"
            )
        return y


class MSELoss(_Pointwise):
    """Mean squared error over all elements: ``mean((pred - y)²)``, via ``ops.mse``.

    Targets: float of the net's dtype, shape (n, k), or (n,) when the net has one output.

    Example:
        >>> MSELoss()(np.ones((2, 1)), np.zeros(2))[0]
        1.0
    """

    name = "mse"

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        return ops.mse(pred, y, **kw)


class L1Loss(_Pointwise):
    """Mean absolute error ``mean(|pred - y|)`` (``torch.nn.L1Loss``), via ``ops.l1``.

    Example:
        >>> L1Loss()(np.array([[1.0], [-3.0]]), np.zeros(2))[0]
        2.0
    """

    name = "l1"

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        return ops.l1(pred, y, **kw)


class HuberLoss(_Pointwise):
    """Huber loss (``torch.nn.HuberLoss(delta=1.0)``), via ``ops.huber``: with ``r = pred - y``,
    ``½r²`` where ``|r| < delta``, else ``delta·(|r| - ½delta)``; ``delta > 0``.

    Example:
        >>> HuberLoss(delta=2.0)(np.array([[1.0], [-5.0]]), np.zeros(2))[0]
        4.25
    """

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = _number("HuberLoss", "delta", delta, lambda v: 0 < v < np.inf, "a finite number > 0")

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        return ops.huber(pred, y, self.delta, **kw)

    def config(self) -> dict[str, Any]:
        return {} if self.delta == 1.0 else {"delta": self.delta}


class SmoothL1Loss(_Pointwise):
    """Smooth L1 loss (``torch.nn.SmoothL1Loss(beta=1.0)``), via ``ops.smooth_l1``: with
    ``r = pred - y``, ``½r²/beta`` where ``|r| < beta``, else ``|r| - ½beta``; ``beta = 0`` is L1.

    Example:
        >>> SmoothL1Loss()(np.array([[0.5], [-3.0]]), np.zeros(2))[0]
        1.3125
    """

    name = "smooth_l1"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = _number("SmoothL1Loss", "beta", beta, lambda v: 0 <= v < np.inf, "a finite number >= 0")

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        return ops.smooth_l1(pred, y, self.beta, **kw)

    def config(self) -> dict[str, Any]:
        return {} if self.beta == 1.0 else {"beta": self.beta}


class PoissonNLLLoss(_Pointwise):
    """Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss(log_input=True, full=False,
    eps=1e-8)``), via ``ops.poisson_nll``: ``exp(pred) - y·pred`` when the net outputs log-rates
    (``log_input``), else ``pred - y·log(pred + eps)``; ``full`` adds Stirling's approximation
    of ``log(y!)`` where ``y > 1``. Targets: counts (or rates) of the net's dtype.

    Example:
        >>> round(PoissonNLLLoss()(np.zeros((2, 1)), np.array([1.0, 3.0]))[0], 4)
        1.0
    """

    name = "poisson_nll"

    def __init__(self, log_input: bool = True, full: bool = False, eps: float = 1e-8) -> None:
        self.log_input = _flag("PoissonNLLLoss", "log_input", log_input)
        self.full = _flag("PoissonNLLLoss", "full", full)
        self.eps = _number("PoissonNLLLoss", "eps", eps, lambda v: 0 <= v < np.inf, "a finite number >= 0")

    def _kernel(self, pred: np.ndarray, y: np.ndarray, **kw: Any) -> tuple[float, np.ndarray]:
        return ops.poisson_nll(pred, y, log_input=self.log_input, full=self.full, eps=self.eps, **kw)

    def config(self) -> dict[str, Any]:
        defaults = {"log_input": True, "full": False, "eps": 1e-8}
        return {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, via ``ops.softmax_cross_entropy``.

    Targets: integer class labels (n,) in ``[0, k)`` for a net with ``k >= 2`` outputs, or
    probabilities (n, k) of the net's dtype. ``predict`` is the argmax, ``predict_proba`` the
    softmax.

    Args (``torch.nn.CrossEntropyLoss``'s): weight: class weights (k,) >= 0 or None; with labels
        the batch mean is divided by the sum of the labels' weights (``Σ wᵢ·weight[yᵢ]`` with
        sample weights), with probabilities by the number (or total weight) of samples.
        label_smoothing: ε in [0, 1]: the targets become ``(1 - ε)·t + ε/k``.

    Example:
        >>> CrossEntropyLoss().predict(np.array([[0.1, 2.0], [3.0, 0.0]]))
        array([1, 0])
        >>> CrossEntropyLoss(weight=[1.0, 3.0], label_smoothing=0.1)
        CrossEntropyLoss(weight=[1.0, 3.0], label_smoothing=0.1)
    """

    name = "cross_entropy"
    is_classification = True

    def __init__(self, weight: Any = None, label_smoothing: float = 0.0) -> None:
        self.weight = _weight_vector("CrossEntropyLoss", "weight", weight)
        self.label_smoothing = _number("CrossEntropyLoss", "label_smoothing", label_smoothing,
                                       lambda v: 0 <= v <= 1, "in [0, 1]")
        self._typed: dict[np.dtype, np.ndarray] = {}

    def _weight(self, dtype: np.dtype) -> np.ndarray | None:
        if self.weight is None:
            return None
        if dtype not in self._typed:
            self._typed[dtype] = self.weight.astype(dtype)
        return self._typed[dtype]

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        w = _weights(pred, sample_weight)
        if self.weight is None and not self.label_smoothing and w is None:
            return ops.softmax_cross_entropy(pred, y)
        return ops.softmax_cross_entropy(pred, y, weight=self._weight(pred.dtype),
                                         label_smoothing=self.label_smoothing, sample_weight=w)

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.weight is not None:
            out["weight"] = self.weight.tolist()
        if self.label_smoothing:
            out["label_smoothing"] = self.label_smoothing
        return out

    def total_weight(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        if self.weight is None or y.ndim != 1:
            return super().total_weight(y, sample_weight)
        w = self.weight[y]
        return float(w.sum() if sample_weight is None else (w * sample_weight).sum())

    def check_targets(self, y: Any, out_shape: tuple[int, int], dtype: np.dtype,
                      name: str = "y") -> np.ndarray:
        y = _require_array(y, name)
        n, k = out_shape
        if k < 2:
            raise ValueError(
                f"the cross_entropy loss needs one output (logit) per class, at least 2, but the "
                f"net has {k} output; for two classes with one output use 'bce_with_logits'"
            )
        if self.weight is not None and len(self.weight) != k:
            raise ValueError(f"CrossEntropyLoss: weight has {len(self.weight)} class weights, the net "
                             f"has {k} outputs (classes)")
        if y.ndim == 2:
            _require_float(y, dtype, name, self.name)
            if y.shape != (n, k):
                raise ValueError(f"{name} (class probabilities) must have shape ({n}, {k}) to "
                                 f"match the net's output ({n}, {k}), got shape {y.shape}")
            if y.size and not (np.isfinite(y).all() and y.min() >= 0):
                raise ValueError(f"{name} (class probabilities) must be finite and >= 0")
            return y
        if y.ndim != 1:
            raise ValueError(f"{name} must be class labels of shape ({n},) or probabilities of "
                             f"shape ({n}, {k}), got shape {y.shape}")
        if y.dtype.kind == "b":
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            raise TypeError(f"{name} (class labels) must have an integer dtype, got {y.dtype}; "
                            "convert with y.astype(np.int64)")
        if len(y) != n:
            raise ValueError(f"{name} must have shape ({n},) to match {n} samples, got shape {y.shape}")
        if n and (y.min() < 0 or y.max() >= k):
            raise ValueError(
                f"{name} must hold class labels in [0, {k}) for a net with {k} outputs, got labels "
                f"in [{y.min()}, {y.max()}]; the last Linear layer needs one output per class"
            )
        return y

    def predict(self, out: np.ndarray) -> np.ndarray:
        return np.argmax(out, axis=1)

    def predict_proba(self, out: np.ndarray) -> np.ndarray:
        return ops.softmax(out)

    def n_correct(self, out: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        true = y if y.ndim == 1 else np.argmax(y, axis=1)
        return int(np.count_nonzero(np.argmax(out, axis=1) == true)), len(true)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits (sigmoid inside), via ``ops.bce_with_logits``.

    Targets: 0/1 as int or bool, or floats in [0, 1] of the net's dtype; shape (n, k), or (n,)
    when the net has one output. ``predict`` is ``logit > 0`` (probability > 0.5) as int64,
    (n,) for one output; ``predict_proba`` the sigmoid (n, k).

    Example:
        >>> BCEWithLogitsLoss().predict(np.array([[-1.0], [2.0]]))
        array([0, 1])
    """

    name = "bce_with_logits"
    is_classification = True

    def __init__(self, pos_weight: Any = None) -> None:
        self.pos_weight = _weight_vector("BCEWithLogitsLoss", "pos_weight", pos_weight)
        self._typed: dict[np.dtype, np.ndarray] = {}

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        if y.ndim == 1 and pred.ndim == 2:
            y = y.reshape(-1, 1)
        w = _weights(pred, sample_weight)
        if self.pos_weight is None and w is None:
            return ops.bce_with_logits(pred, y)
        pw = None
        if self.pos_weight is not None:
            if pred.dtype not in self._typed:
                self._typed[pred.dtype] = self.pos_weight.astype(pred.dtype)
            pw = self._typed[pred.dtype]
        return ops.bce_with_logits(pred, y, pos_weight=pw, sample_weight=w)

    def config(self) -> dict[str, Any]:
        return {} if self.pos_weight is None else {"pos_weight": self.pos_weight.tolist()}

    def check_targets(self, y: Any, out_shape: tuple[int, int], dtype: np.dtype,
                      name: str = "y") -> np.ndarray:
        y = _require_array(y, name)
        n, k = out_shape
        if y.dtype.kind == "f":
            _require_float(y, dtype, name, self.name)
        elif y.dtype.kind not in "iub":
            raise TypeError(f"{name} for the bce_with_logits loss must be 0/1 integers, booleans "
                            f"or floats in [0, 1], got dtype {y.dtype}")
        if y.ndim == 1 and k == 1 and len(y) == n:
            y = y.reshape(n, 1)
        if y.shape != (n, k):
            raise ValueError(
                f"{name} must have shape ({n}, {k})" + (f" or ({n},)" if k == 1 else "")
                + f" to match the net's output ({n}, {k}), got shape {y.shape}"
            )
        if self.pos_weight is not None and len(self.pos_weight) not in (1, k):
            raise ValueError(f"BCEWithLogitsLoss: pos_weight has {len(self.pos_weight)} entries, the net "
                             f"has {k} outputs (one weight per output, or one for all)")
        if y.size and y.dtype.kind != "b":
            lo, hi = y.min(), y.max()
            if y.dtype.kind in "iu" and (lo < 0 or hi > 1):
                raise ValueError(f"{name} must hold 0/1 labels for bce_with_logits, got values "
                                 f"in [{lo}, {hi}]")
            if y.dtype.kind == "f" and not (lo >= 0 and hi <= 1):
                raise ValueError(f"{name} must hold probabilities in [0, 1] for bce_with_logits, "
                                 f"got values in [{lo}, {hi}]")
        return y

    def predict(self, out: np.ndarray) -> np.ndarray:
        classes = (out > 0).astype(np.int64)
        return classes[:, 0] if classes.ndim == 2 and classes.shape[1] == 1 else classes

    def predict_proba(self, out: np.ndarray) -> np.ndarray:
        return ops.sigmoid(out)

    def n_correct(self, out: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return int(np.count_nonzero((out > 0) == (y > 0.5))), y.size


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (MSELoss, CrossEntropyLoss, BCEWithLogitsLoss, L1Loss, HuberLoss, SmoothL1Loss,
                               PoissonNLLLoss)
}


def get_loss(spec: str | Loss | type[Loss], **options: Any) -> Loss:
    """A ``Loss`` from a name (``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"``, ``"l1"``,
    ``"huber"``, ``"smooth_l1"``, ``"poisson_nll"``) or a ``Loss`` subclass, built with
    ``options`` (its constructor arguments, e.g. a saved ``config()``), or a ``Loss`` instance
    (returned as is).

    Raises ``ValueError`` listing the names for an unknown name, ``TypeError`` for other types
    and for options the loss does not take.

    Example:
        >>> get_loss("mse")
        MSELoss()
        >>> get_loss("huber", delta=0.5)
        HuberLoss(delta=0.5)
    """
    if isinstance(spec, Loss):
        if options:
            raise TypeError(f"get_loss: options {sorted(options)} given with a Loss instance {spec!r}")
        return spec
    if isinstance(spec, type) and issubclass(spec, Loss):
        return spec(**options)
    if isinstance(spec, str):
        cls = LOSSES.get(spec)
        if cls is None:
            raise ValueError(f"unknown loss {spec!r}; choose one of {sorted(LOSSES)} or pass a "
                             "fastgd.losses.Loss instance")
        return cls(**options)
    raise TypeError(f"loss must be a name {sorted(LOSSES)} or a fastgd.losses.Loss, got "
                    f"{type(spec).__name__}")


def check_sample_weight(w: Any, n: int, dtype: np.dtype, name: str = "sample_weight") -> np.ndarray:
    """``w`` as a contiguous (n,) array of ``dtype``: finite, non-negative weights, one per
    sample. A wrong shape, a negative or NaN/inf weight is a ``ValueError`` naming ``name``.

    Example:
        >>> check_sample_weight([1, 2, 0], 3, np.dtype("float32"))
        array([1., 2., 0.], dtype=float32)
    """
    try:
        a = np.asarray(w)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise TypeError(f"{name} must be an array of {n} weights, got {type(w).__name__}") from exc
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one weight per sample), got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=dtype)
    if n and not (np.isfinite(a).all() and a.min() >= 0):
        bad = int(np.flatnonzero(~(np.isfinite(a) & (a >= 0)))[0])
        raise ValueError(f"{name} must be finite and >= 0, got {float(a[bad])!r} at index {bad}")
    return a
