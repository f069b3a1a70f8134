"""``Net``: a sequence of layers with forward/backward, training, evaluation and persistence."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .layers import Layer, float_dtype, layer_from_config
from .losses import (
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    check_sample_weight,
    get_loss,
)
from .parameter import Parameter
from .sparse import CsrRows, csr_rows, is_sparse

if TYPE_CHECKING:
    from .callbacks import Callback, History

__all__ = ["Net"]

#: Losses whose targets are real values (or counts): ``fit``/``evaluate`` take them as integers
#: or booleans too, converted to the net's dtype once per call.
REGRESSION = (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, PoissonNLLLoss)


class Net(Layer):
    """A feed-forward network: layers applied in order, samples in rows.

    ``Net`` builds every layer that has no weights yet from one random generator seeded with
    ``seed``, in ``dtype`` (so the same seed gives the same initial weights); layers that already
    have weights are kept (shared) and must already be in ``dtype``. A ``Net`` is itself a
    ``Layer``, so nets nest.

    Args:
        layers: the layers, e.g. ``[Linear(64, 32), ReLU(), Linear(32, 10)]``.
        dtype: ``"float32"`` (default) or ``"float64"``; inputs must have this dtype (a
            mismatch is a ``TypeError``, never a silent cast).
        seed: int, ``np.random.Generator`` or None (fresh randomness) for weight initialisation.

    Attributes:
        layers: the list of layers.
        dtype: ``np.dtype`` of parameters, inputs and outputs.
        in_features, out_features: input and output widths (None when no layer fixes them).
        loss: the ``Loss`` last used by ``fit`` (or restored by ``load``): the default for
            ``evaluate``, ``predict_classes`` and ``predict_proba``.

    Example:
        >>> import fastgd as fg
        >>> net = fg.Net([fg.Linear(4, 8), fg.ReLU(), fg.Linear(8, 3)], seed=0)
        >>> out = net.forward(np.ones((5, 4), np.float32))        # (5, 3)
        >>> dX = net.backward(np.ones_like(out))                    # (5, 4); grads accumulated
        >>> [p.name for p in net.parameters()]
        ['W', 'b', 'W', 'b']
    """

    def __init__(self, layers: Sequence[Layer], dtype: Any = "float32",
                 seed: int | np.random.Generator | None = None) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Sequence | Iterator):
            raise TypeError(f"Net: layers must be a list of fastgd layers, got "
                            f"{type(layers).__name__}")
        layers = list(layers)
        if not layers:
            raise ValueError("Net: layers must not be empty")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                hint = " (an instance, not the class: ReLU())" if isinstance(layer, type) else ""
                raise TypeError(f"Net: layers[{i}] must be a fastgd Layer{hint}, got {layer!r}")
        self.dtype = float_dtype(dtype)
        rng = np.random.default_rng(seed)
        for i, layer in enumerate(layers):
            if not layer.built:
                layer.build(rng, self.dtype)
            for p in layer.parameters():
                if p.dtype != self.dtype:
                    raise TypeError(
                        f"Net: layers[{i}] {layer!r} has {p.dtype} parameters but the net's dtype "
                        f"is {self.dtype}; build the net with dtype='{p.dtype}' or use a fresh layer"
                    )
        self.layers: list[Layer] = layers
        self.loss: Loss | None = None
        self.in_features, self.out_features = self._check_widths()
        self._out_shape: tuple[int, ...] | None = None

    def _check_widths(self) -> tuple[int | None, int | None]:
        """Check that consecutive layers agree on widths; return (in_features, out_features)."""
        net_in: int | None = None
        width: int | None = None
        for i, layer in enumerate(self.layers):
            need = layer.in_features
            if need is not None:
                if width is None and net_in is None:
                    net_in = need  # the layers before it (if any) are elementwise
                elif width is not None and need != width:
                    raise ValueError(
                        f"Net: layers[{i}] {layer!r} expects {need} input features but the "
                        f"layers before it produce {width}"
                    )
                width = need
            if width is not None:
                width = layer.output_features(width)
        return net_in, width

    # ------------------------------------------------------------------ layer protocol

    def output_features(self, in_features: int) -> int:
        return in_features if self.out_features is None else self.out_features

    def parameters(self) -> list[Parameter]:
        """All trainable parameters in layer order (shared objects; a shared layer counts once)."""
        return [p for _, p in self.named_parameters()]

    def regularized_parameters(self) -> list[Parameter]:
        """Every layer's weight matrices (what ``fit(..., l2=λ)`` penalises), each once."""
        seen: set[int] = set()
        out = []
        for layer in self.layers:
            for p in layer.regularized_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def train(self, mode: bool = True) -> Net:
        """Train mode (``mode=True``) or eval mode for the net and every layer in it, as
        ``torch.nn.Module.train``; returns ``self``. ``fit`` and ``Trainer.step`` train in train
        mode, ``predict``/``evaluate`` run in eval mode, and both restore the mode they found.

        Example:
            >>> net.eval().training
            False
        """
        super().train(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> Net:
        """Eval mode (``train(False)``) for the net and every layer; returns ``self``."""
        return self.train(False)

    def buffers(self) -> dict[str, np.ndarray]:
        """Every layer's persistent buffers, named ``"<layer index>.<name>"`` like
        ``named_parameters`` (e.g. ``"1.running_mean"``)."""
        return {f"{i}.{name}": b for i, layer in enumerate(self.layers)
                for name, b in layer.buffers().items()}

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``[("0.W", W), ("0.b", b), ("2.W", ...), ...]``: ``"<layer index>.<name>"``.

        Example:
            >>> [name for name, _ in net.named_parameters()]
            ['0.W', '0.b', '2.W', '2.b']
        """
        seen: set[int] = set()
        named = []
        for i, layer in enumerate(self.layers):
            sub = layer.named_parameters() if isinstance(layer, Net) else [
                (p.name or str(j), p) for j, p in enumerate(layer.parameters())]
            for name, p in sub:
                if id(p) not in seen:
                    seen.add(id(p))
                    named.append((f"{i}.{name}", p))
        return named

    @property
    def n_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(p.size for p in self.parameters())

    def config(self) -> dict[str, Any]:
        """``{"type": "Net", "dtype": ..., "layers": [layer configs]}`` (JSON-serialisable)."""
        return {"type": "Net", "dtype": str(self.dtype),
                "layers": [layer.config() for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any], seed: int | None = 0) -> Net:
        """A new ``Net`` (fresh weights from ``seed``) from ``config()``'s output.

        Example:
            >>> twin = Net.from_config(net.config())
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"Net config must be a dict with a 'layers' list, got {config!r}")
        unknown = set(config) - {"type", "dtype", "layers"}
        if unknown:
            raise ValueError(f"Net config has unknown keys {sorted(unknown)}")
        layers = [layer_from_config(c) for c in config["layers"]]
        return cls(layers, dtype=config.get("dtype", "float32"), seed=seed)

    # ------------------------------------------------------------------ forward / backward

    def check_input(self, X: Any, name: str = "X") -> np.ndarray:
        """Validate an input batch: a 2-D array (n, in_features) of the net's dtype.

        Returns ``X`` unchanged. ``TypeError`` for a non-array or another dtype (never cast),
        ``ValueError`` for a wrong number of dimensions or features.
        """
        if is_sparse(X):
            return self._check_sparse(csr_rows(X, None, name), name)  # type: ignore[return-value]
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray of {self.dtype}, got {type(X).__name__}")
        cols = "n_features" if self.in_features is None else str(self.in_features)
        if X.ndim != 2:
            hint = "; for one sample use X[None, :]" if X.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-D (n_samples, {cols}), got shape {X.shape}{hint}")
        if self.in_features is not None and X.shape[1] != self.in_features:
            raise ValueError(f"{name} must have {self.in_features} features (columns) to match the "
                             f"first layer, got shape {X.shape}")
        if X.dtype != self.dtype:
            other = f" or build the net with dtype='{X.dtype}'" if X.dtype in (np.float32, np.float64) else ""
            raise TypeError(
                f"{name} has dtype {X.dtype} but the net's dtype is {self.dtype}; convert with "
                f"{name}.astype(np.{self.dtype}){other}"
            )
        return X

    def _check_sparse(self, X: CsrRows, name: str) -> CsrRows:
        """A sparse input: the first layer must be a ``Linear`` (which reads the CSR rows
        directly; no other layer takes a sparse input), the width and dtype those of the net."""
        from .layers import Linear

        first: Layer = self
        while isinstance(first, Net):
            first = first.layers[0]
        if not isinstance(first, Linear):
            raise TypeError(f"{name} is sparse (scipy.sparse), which only a Linear first layer takes; "
                            f"this net starts with {first!r} (densify small inputs with {name}.toarray())")
        if X.shape[1] != first.in_features:
            raise ValueError(f"{name} must have {first.in_features} features (columns) to match the "
                             f"first layer, got shape {X.shape}")
        if X.dtype != self.dtype:
            raise TypeError(f"{name} is a sparse matrix of dtype {X.dtype} but the net's dtype is "
                            f"{self.dtype}; convert with {name}.astype(np.{self.dtype}) or build the net "
                            f"with dtype='{X.dtype}'")
        return X

    def as_input(self, X: Any, name: str = "X") -> Any:
        """``X`` as ``fit``/``predict``/``evaluate`` take it, converted once per call.

        The input rule: anything ``numpy.asarray`` reads as a 2-D table of numbers (a NumPy array
        of any float/int/bool dtype and memory layout, a pandas DataFrame, nested lists) is
        converted once to a C-ordered array of the net's dtype (no copy when it already is one).
        A memory-mapped array (``np.memmap``) or another array-like with NumPy indexing (e.g. an
        h5py dataset) is not read here: ``rows`` reads it batch by batch. The building blocks
        (``forward``, ``Trainer.step``, ``fastgd.ops``) stay strict: they take arrays of the
        net's dtype only and never cast. Strings, objects and complex numbers are a
        ``TypeError``. A scipy.sparse matrix (CSR, CSC, COO, ...) becomes ``CsrRows`` of the
        net's dtype (converted once to CSR, never densified; see ``fastgd.sparse``).

        Example:
            >>> net.as_input([[1, 2, 3]]).dtype
            dtype('float32')
        """
        if is_sparse(X):
            return self._check_sparse(csr_rows(X, self.dtype, name), name)
        if is_lazy(X):
            shape, dtype = tuple(X.shape), np.dtype(X.dtype)
            if dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold numbers, got dtype {dtype}")
            self.check_input(np.empty((0, *shape[1:]), self.dtype), name)  # ndim and width
            if len(shape) != 2:  # pragma: no cover - check_input raised already
                raise ValueError(f"{name} must be 2-D, got shape {shape}")
            return X
        if not isinstance(X, np.ndarray) or X.dtype != self.dtype or not X.flags.c_contiguous:
            try:
                a = np.asarray(X)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a 2-D array of numbers (n_samples, n_features), "
                                f"got {type(X).__name__} that NumPy cannot read as one: {exc}") from exc
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold numbers (float, int or bool), got dtype {a.dtype}"
                                f" from {type(X).__name__}")
            X = np.ascontiguousarray(a, dtype=self.dtype)
        return self.check_input(X, name)

    def as_targets(self, loss: Loss, y: Any, X: Any, name: str = "y") -> np.ndarray:
        """Targets for ``loss`` as ``fit``/``evaluate`` take them: lists, pandas Series/DataFrames
        and memory-mapped arrays are read into an array; float targets (values, probabilities,
        0/1 targets) of another float dtype are converted to the net's, and so are integer or
        bool targets of the regression losses (``mse``, ``l1``, ``huber``, ``smooth_l1``,
        ``poisson_nll``: values, counts); then ``loss.check_targets`` (integer class labels stay
        integers, and float class labels for ``cross_entropy``, even integer-valued ones, stay a
        ``TypeError`` naming the dtype given)."""
        if not isinstance(y, np.ndarray) or isinstance(y, np.memmap):
            try:
                y = np.array(y)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be an array of targets, got {type(y).__name__}: {exc}") from exc
        if y.dtype != self.dtype:
            labels = isinstance(loss, CrossEntropyLoss) and y.ndim == 1  # (n,) class labels
            if (y.dtype.kind == "f" and not labels) or (y.dtype.kind in "iub" and isinstance(loss, REGRESSION)):
                y = y.astype(self.dtype)
        return loss.check_targets(y, (len(X), self.output_features(X.shape[1])), self.dtype,
                                  name=name)

    def rows(self, X: Any, index: Any) -> np.ndarray:
        """``X[index]`` (a slice or an int array of row numbers) of an input ``as_input``
        returned, as a C-ordered array of the net's dtype: a view or gather of an array in memory,
        a read of just those rows of a memory-mapped or other array-like (rows fetched in
        increasing order, as h5py needs, then put back in ``index``'s order)."""
        if not is_lazy(X):
            return X[index]  # type: ignore[no-any-return]
        if isinstance(index, slice):
            block = X[index]
        else:
            order = np.argsort(index, kind="stable")
            block = np.asarray(X[index[order]])
            out = np.empty_like(block)
            out[order] = block
            block = out
        return np.ascontiguousarray(block, dtype=self.dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Output (n, out_features) for ``X`` (n, in_features) of the net's dtype: an array, or a
        scipy.sparse matrix / ``CsrRows`` read by a ``Linear`` first layer as CSR rows.

        Each layer keeps what its backward needs (replacing what the previous forward kept).
        """
        out = self.check_input(X)
        for layer in self.layers:
            out = layer.forward(out)
        self._out_shape = out.shape
        return out

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout`` (the shape of the last output): returns dX (n, in_features).

        Accumulates (``+=``) into every parameter's ``.grad``; call ``zero_grad()`` between steps.
        With ``need_dx=False`` nothing below the first layer with parameters is computed and None
        is returned (what training uses).
        """
        if self._out_shape is None:
            raise RuntimeError("Net.backward called before forward")
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"dout must be a numpy.ndarray, got {type(dout).__name__}")
        if dout.shape != self._out_shape:
            raise ValueError(f"dout must have the shape of the last output {self._out_shape}, "
                             f"got shape {dout.shape}")
        if dout.dtype != self.dtype:
            raise TypeError(f"dout has dtype {dout.dtype} but the net's dtype is {self.dtype}")
        stop = 0
        if not need_dx:
            stop = next((i for i, layer in enumerate(self.layers) if layer.parameters()),
                        len(self.layers))
        grad: np.ndarray | None = dout
        for i in range(len(self.layers) - 1, stop - 1, -1):
            grad = self.layers[i].backward(grad, need_dx=need_dx or i > stop)  # type: ignore[arg-type]
        return grad if need_dx else None

    # ------------------------------------------------------------------ inference

    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Raw outputs (n, out_features) for ``X``: values for regression, logits for
        classification (see ``predict_classes``/``predict_proba``). Batched when ``batch_size``
        is given. Replaces the activations kept by the last ``forward``.

        Example:
            >>> net.predict(X).shape
            (5, 3)
        """
        X = self.as_input(X)
        if batch_size is not None:
            _check_batch_size(batch_size)
        elif is_lazy(X):
            batch_size = _LAZY_CHUNK
        with training_mode(self, False):
            if batch_size is None or len(X) <= batch_size:
                return self.forward(self.rows(X, slice(None)))
            return np.concatenate([self.forward(self.rows(X, slice(i, i + batch_size)))
                                   for i in range(0, len(X), batch_size)])

    def _loss_or_default(self, loss: str | Loss | None) -> Loss:
        if loss is not None:
            return get_loss(loss)
        if self.loss is None:
            raise ValueError("this net has no loss yet (it was not fitted): pass loss=, e.g. "
                             "loss='cross_entropy'")
        return self.loss

    def predict_classes(self, X: np.ndarray, loss: str | Loss | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Class predictions: argmax for ``cross_entropy``, ``logit > 0`` for
        ``bce_with_logits`` (int64, (n,) for one output). ``loss`` defaults to ``self.loss``.

        Example:
            >>> net.predict_classes(X, loss="cross_entropy")    # (n,) int64
        """
        lossobj = self._loss_or_default(loss)
        if not lossobj.is_classification:
            raise ValueError(f"predict_classes needs a classification loss, got {lossobj.name!r}")
        return lossobj.predict(self.predict(X, batch_size))

    def predict_proba(self, X: np.ndarray, loss: str | Loss | None = None,
                      batch_size: int | None = None) -> np.ndarray:
        """Probabilities: softmax (n, k) for ``cross_entropy``, sigmoid (n, k) for
        ``bce_with_logits``. ``loss`` defaults to ``self.loss``."""
        return self._loss_or_default(loss).predict_proba(self.predict(X, batch_size))

    def evaluate(self, X: np.ndarray, y: np.ndarray, loss: str | Loss | None = None,
                 batch_size: int | None = None,
                 sample_weight: np.ndarray | None = None) -> dict[str, float]:
        """Metrics on ``(X, y)`` in eval mode: ``{"loss": mean loss}`` plus ``"accuracy"`` for
        classification.

        ``loss`` defaults to the loss of the last ``fit``. Batches are combined sample-weighted,
        so the result does not depend on ``batch_size``. With ``sample_weight`` (n,) the loss is
        ``Σ wᵢ ℓᵢ / Σ wᵢ`` (the accuracy stays the plain fraction of correct predictions).

        Example:
            >>> net.evaluate(X_test, y_test, loss="cross_entropy")
            {'loss': 0.08, 'accuracy': 0.97}
        """
        lossobj = self._loss_or_default(loss)
        X = self.as_input(X)
        y = self.as_targets(lossobj, y, X)
        if len(X) == 0:
            raise ValueError("evaluate: X has no samples")
        step = _check_batch_size(batch_size) if batch_size is not None else (
            _LAZY_CHUNK if is_lazy(X) else len(X))
        w = None
        if sample_weight is not None:
            w = check_sample_weight(sample_weight, len(X), self.dtype)
        with training_mode(self, False):
            total, weight, correct, count = metric_sums(self, lossobj, X, y, w, step)
        metrics = {"loss": total / weight if weight else 0.0}
        if lossobj.is_classification:
            metrics["accuracy"] = correct / count
        return metrics

    # ------------------------------------------------------------------ training

    def fit(self, X: np.ndarray, y: np.ndarray, loss: str | Loss = "mse",
            optimizer: Any = "sgd", epochs: int = 10, batch_size: int | None = 32,
            shuffle: bool = True, seed: int | None = 0,
            validation_data: tuple[np.ndarray, ...] | None = None,
            progress: bool | None = None, callbacks: Sequence[Callback] | None = None,
            verbose: bool = False, clip_norm: float | None = None,
            divergence_factor: float | None = 1e6, distributed: bool = False, *,
            validation_split: float | None = None, sample_weight: np.ndarray | None = None,
            class_weight: dict[Any, float] | str | None = None, l2: float = 0.0,
            **optimizer_hyper: Any) -> History:
        """Train with mini-batch gradient descent; returns a ``History``. A delegation to
        ``fastgd.Trainer(net, loss, optimizer, ...).fit(X, y, ...)``, where the loop lives.

        Args:
            X: (n, in_features) of the net's dtype. y: targets for ``loss`` (see
                ``fastgd.losses``): class labels (n,) for ``cross_entropy``, 0/1 (n,) or (n, k)
                for ``bce_with_logits``, floats (n,) or (n, k) for ``mse``.
            loss: ``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"`` or a ``Loss``.
            optimizer: a name of ``fastgd.optim.OPTIMIZERS`` (``"sgd"``, ``"adam"``, ``"rmsprop"``,
                ...), a ``fastgd.optim`` class, or an
                optimizer instance over ``net.parameters()`` (its state carries over between fits).
            epochs: passes over the data. batch_size: samples per step (None: full batch); the
                last partial batch is kept, as a torch ``DataLoader`` does.
            shuffle, seed: reshuffle every epoch from ``np.random.default_rng(seed)``; the same
                seed (and the same initial weights) gives bit-identical weights.
            validation_data: ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``
                evaluated after every epoch in eval mode (``val_*`` metrics).
            validation_split: instead of ``validation_data``, hold out this last fraction of the
                samples (taken before shuffling, as Keras does).
            sample_weight: (n,) non-negative weights: every batch's loss is ``Σ wᵢ ℓᵢ / Σ wᵢ``.
            class_weight: ``{label: weight}`` or ``"balanced"`` (``n_samples / (n_classes ·
                bincount(y))``), multiplied into ``sample_weight``.
            progress: a progress bar (tqdm if installed, else one text line per epoch); None:
                only when tqdm is installed and stdout is a terminal.
            callbacks: ``fastgd.callbacks.Callback`` objects, e.g. ``EarlyStopping()``.
            verbose: print one line of metrics per epoch.
            clip_norm: clip the global gradient norm to this value before each update.
            l2: add ``½·l2·Σ‖W‖²`` over the weight matrices (not the biases) to the loss.
            divergence_factor: raise ``DivergenceError`` when a batch loss is NaN/inf or exceeds
                ``divergence_factor × max(first batch loss, 1)``; None disables the check.
            distributed: train data-parallel on every MPI rank (``fastgd.distributed``, needs
                ``pip install 'fastgd[mpi]'``): launch the script with ``mpiexec -n R``; every rank
                calls ``fit`` with the same data and arguments, computes its share of each global
                batch and returns the same ``History``; the weights equal single-process training
                on the same batches. Without ``mpiexec`` it trains as one rank.
            **optimizer_hyper: hyper-parameters for a named optimizer, e.g. ``lr=0.01``.

        Returns:
            ``History`` with ``.history`` (per-epoch lists: ``"loss"``, ``"accuracy"`` for
            classification, ``"val_loss"``, ``"val_accuracy"``), ``.epoch`` and ``.params``.

        Example:
            >>> hist = net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=1e-2, epochs=20,
            ...                validation_data=(Xv, yv))
            >>> hist.history["val_accuracy"][-1]
            0.97
        """
        from .trainer import fit_net

        return fit_net(self, X, y, loss=loss, optimizer=optimizer, clip_norm=clip_norm, l2=l2,
                       distributed=distributed, optimizer_hyper=optimizer_hyper, epochs=epochs,
                       batch_size=batch_size, shuffle=shuffle, seed=seed,
                       validation_data=validation_data, validation_split=validation_split,
                       sample_weight=sample_weight, class_weight=class_weight, progress=progress,
                       callbacks=callbacks, verbose=verbose, divergence_factor=divergence_factor)

    # ------------------------------------------------------------------ persistence / copies

    def save(self, path: str | os.PathLike[str], optimizer: Any = None) -> None:
        """Write architecture, dtype, weights (and ``optimizer``'s state) to one ``.npz`` file,
        atomically (an existing file is replaced only once the new one is complete).

        Example:
            >>> net.save("model.npz", optimizer=opt)
        """
        from . import io

        io.save(self, path, optimizer=optimizer)

    @overload
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Net: ...

    @overload
    @classmethod
    def load(cls, path: str | os.PathLike[str], with_optimizer: bool) -> Any: ...

    @classmethod
    def load(cls, path: str | os.PathLike[str], with_optimizer: bool = False) -> Any:
        """Read a net written by ``save``. With ``with_optimizer=True`` returns
        ``(net, optimizer)``: the optimizer rebuilt over ``net.parameters()`` with its saved
        state, so training resumes exactly. Corrupted, truncated or mismatched files raise
        ``ValueError``.

        Example:
            >>> net = fg.Net.load("model.npz")
            >>> net, opt = fg.Net.load("checkpoint.npz", with_optimizer=True)
        """
        from . import io

        return io.load(path, with_optimizer=with_optimizer)

    def copy(self) -> Net:
        """A deep copy (independent weights, gradients and layers)."""
        return copy.deepcopy(self)

    def astype(self, dtype: Any) -> Net:
        """A deep copy with parameters converted to ``dtype`` (e.g. float64 for gradcheck).

        Example:
            >>> net64 = net.astype("float64")
        """
        dt = float_dtype(dtype)
        new = copy.deepcopy(self)
        for p in new.parameters():
            p.data = p.data.astype(dt)
            p.grad = np.zeros_like(p.data)
        for sub in new._nets():
            sub.dtype = dt
            sub._out_shape = None
            for layer in sub.layers:
                if not isinstance(layer, Net):
                    layer.cast_buffers(dt)
        return new

    def _nets(self) -> Iterator[Net]:
        yield self
        for layer in self.layers:
            if isinstance(layer, Net):
                yield from layer._nets()

    # ------------------------------------------------------------------ container / display

    def __len__(self) -> int:
        return len(self.layers)

    @overload
    def __getitem__(self, index: int) -> Layer: ...

    @overload
    def __getitem__(self, index: slice) -> Net: ...

    def __getitem__(self, index: int | slice) -> Layer | Net:
        """``net[i]`` is a layer; ``net[i:j]`` a ``Net`` sharing those layers."""
        if isinstance(index, slice):
            return Net(self.layers[index], dtype=self.dtype)
        return self.layers[index]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"Net(dtype={self.dtype}, parameters={self.n_parameters:,})("]
        for i, layer in enumerate(self.layers):
            sub = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({i}): {sub}")
        lines.append(")")
        return "\n".join(lines)

    def summary(self) -> str:
        """A table of layers with output shapes and parameter counts (``n`` = batch size).

        Example:
            >>> print(net.summary())
            #  Layer                      Output shape  Params
            0  Linear(4, 8, init='he')    (n, 8)            40
            ...
        """
        rows = [("#", "Layer", "Output shape", "Params")]
        width = self.in_features
        for i, layer in enumerate(self.layers):
            if width is None and layer.in_features is not None:
                width = layer.in_features
            if width is not None:
                width = layer.output_features(width)
            count = sum(p.size for p in layer.parameters())
            shape = f"(n, {'?' if width is None else width})"
            rows.append((str(i), repr(layer).split("\n")[0], shape, f"{count:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}" for r in rows]
        nbytes = self.n_parameters * self.dtype.itemsize
        lines.append(f"Total parameters: {self.n_parameters:,} ({self.dtype}, "
                     f"{_human_bytes(nbytes)}); input features: "
                     f"{'any' if self.in_features is None else self.in_features}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ interop (fastgd.interop)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer by name (``named_parameters`` + ``buffers``,
        fastgd's layout), as ``torch.nn.Module.state_dict``; see ``fastgd.interop.state``."""
        from .interop import state

        return state.state_dict(self)

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Copy a ``state_dict`` into the net in place; ``strict`` checks the names (shapes are
        always checked). Returns ``(missing_keys, unexpected_keys)`` as torch's."""
        from .interop import state

        return state.load_state_dict(self, state_dict, strict=strict)

    @classmethod
    def from_torch(cls, module: Any, dtype: Any = None) -> Net:
        """A net equal to a torch ``nn.Sequential`` (weights, buffers, mode); see
        ``fastgd.interop.torch_io.from_torch``."""
        from .interop import torch_io

        return torch_io.from_torch(module, dtype=dtype)

    def to_torch(self) -> Any:
        """The equivalent torch ``nn.Sequential``; see ``fastgd.interop.torch_io.to_torch``."""
        from .interop import torch_io

        return torch_io.to_torch(self)

    def to_onnx(self, path: str | os.PathLike[str], opset: int | None = None) -> None:
        """Write the net (in inference mode) as an ONNX model with a dynamic batch axis; see
        ``fastgd.interop.onnx_io.to_onnx``."""
        from .interop import onnx_io

        onnx_io.to_onnx(self, path, opset=opset)


# Rows read at a time from a memory-mapped (lazy) input by predict/evaluate without batch_size.
_LAZY_CHUNK = 8192


def is_lazy(X: Any) -> bool:
    """Whether ``X`` is read batch by batch (``Net.rows``) rather than converted whole: an
    ``np.memmap``, or an array-like with ``shape``, ``dtype`` and NumPy indexing that is not an
    ``ndarray`` (an h5py dataset, a zarr array; pandas objects are converted whole)."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray) or type(X).__module__.startswith("pandas") or is_sparse(X):
        return False
    return all(hasattr(X, a) for a in ("shape", "dtype", "__getitem__", "__len__"))


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    return int(batch_size)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def metric_sums(net: Net, loss: Loss, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                step: int) -> tuple[float, float, float, float]:
    """``(Σ wᵢ·lossᵢ, Σ wᵢ, correct, predictions)`` of ``net`` on ``(X, y)`` with sample weights
    ``w`` (None: every weight 1) in chunks of ``step`` rows (zeros when empty): sums, so chunks
    and processes combine. Runs ``net`` as it is (the caller sets eval mode)."""
    total = weight = correct = count = 0.0
    for i in range(0, len(X), step):
        out = net.forward(net.rows(X, slice(i, i + step)))
        yb = y[i:i + step]
        if w is None:
            value, _ = loss(out, yb)
            chunk = float(len(out))
        else:
            wb = w[i:i + step]
            chunk = float(wb.sum())
            value = loss(out, yb, sample_weight=wb)[0] if chunk > 0 else 0.0
        total += value * chunk
        weight += chunk
        if loss.is_classification:
            c, k = loss.n_correct(out, yb)
            correct, count = correct + c, count + k
    return total, weight, correct, count


@contextmanager
def training_mode(net: Layer, training: bool) -> Iterator[None]:
    """Run the block with ``net`` in train (True) or eval mode, then restore the mode it had.

    Example:
        >>> with training_mode(net, False):
        ...     out = net.forward(X)        # Dropout off, BatchNorm on running statistics
    """
    before = net.training
    if before == training:
        yield
        return
    net.train(training)
    try:
        yield
    finally:
        net.train(before)
