"""Loss objects: a ``fastgd.ops`` loss kernel plus target validation and prediction helpers.

A loss is called as ``loss(pred, y) -> (loss: float, dpred)``: the mean loss over the batch and
its gradient with respect to the net's raw output ``pred`` (n, k). ``check_targets`` validates
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

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "Loss", "MSELoss", "check_sample_weight", "get_loss"]


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


def _unweighted(loss: Any, sample_weight: Any) -> None:
    if sample_weight is not None:
        raise NotImplementedError(f"{type(loss).__name__} has no sample weights yet")


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

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Mean squared error over all elements: ``mean((pred - y)²)``, via ``ops.mse``.

    Targets: float of the net's dtype, shape (n, k), or (n,) when the net has one output.

    Example:
        >>> MSELoss()(np.ones((2, 1)), np.zeros(2))[0]
        1.0
    """

    name = "mse"

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        _unweighted(self, sample_weight)
        if y.ndim == 1 and pred.ndim == 2:
            y = y.reshape(-1, 1)
        return ops.mse(pred, y)

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


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, via ``ops.softmax_cross_entropy``.

    Targets: integer class labels (n,) in ``[0, k)`` for a net with ``k >= 2`` outputs, or
    probabilities (n, k) of the net's dtype. ``predict`` is the argmax, ``predict_proba`` the
    softmax.

    Example:
        >>> CrossEntropyLoss().predict(np.array([[0.1, 2.0], [3.0, 0.0]]))
        array([1, 0])
    """

    name = "cross_entropy"
    is_classification = True

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        _unweighted(self, sample_weight)
        return ops.softmax_cross_entropy(pred, y)

    def check_targets(self, y: Any, out_shape: tuple[int, int], dtype: np.dtype,
                      name: str = "y") -> np.ndarray:
        y = _require_array(y, name)
        n, k = out_shape
        if k < 2:
            raise ValueError(
                f"the cross_entropy loss needs one output (logit) per class, at least 2, but the "
                f"net has {k} output; for two classes with one output use 'bce_with_logits'"
            )
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

    def __call__(self, pred: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        _unweighted(self, sample_weight)
        if y.ndim == 1 and pred.ndim == 2:
            y = y.reshape(-1, 1)
        return ops.bce_with_logits(pred, y)

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
    cls.name: cls for cls in (MSELoss, CrossEntropyLoss, BCEWithLogitsLoss)
}


def get_loss(spec: str | Loss | type[Loss]) -> Loss:
    """A ``Loss`` from a name (``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"``), a
    ``Loss`` subclass or instance (returned as is).

    Raises ``ValueError`` listing the names for an unknown name, ``TypeError`` for other types.

    Example:
        >>> get_loss("mse")
        MSELoss()
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, type) and issubclass(spec, Loss):
        return spec()
    if isinstance(spec, str):
        cls = LOSSES.get(spec)
        if cls is None:
            raise ValueError(f"unknown loss {spec!r}; choose one of {sorted(LOSSES)} or pass a "
                             "fastgd.losses.Loss instance")
        return cls()
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
        raise ValueError(f"{name} must be finite and >= 0, got {a[bad]!r} at index {bad}")
    return a
