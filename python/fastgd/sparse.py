"""Sparse input: a scipy.sparse matrix as ``fit``/``predict``/``evaluate`` and ``Trainer.step`` take it.

A sparse ``X`` (``scipy.sparse`` CSR, CSC, COO, ... as ``csr_array`` or ``csr_matrix``) is
converted once per call to ``CsrRows``: the three CSR arrays (``indptr``, ``indices``, ``data``)
of the net's dtype. Batches are rows of it: a slice is a view (``indptr`` sliced), shuffled rows
are gathered (``CsrRows.__getitem__`` with row numbers), and the first layer, a ``Linear``,
multiplies them in C++ (``ops.csr_linear_forward`` / ``ops.csr_linear_backward``). The data set is
never densified. scipy is imported only when a sparse matrix is given.

Example:
    >>> import scipy.sparse as sp
    >>> X = sp.random(1000, 5000, density=0.01, format="csr", dtype=np.float32)
    >>> net = fg.Net([fg.Linear(5000, 32), fg.ReLU(), fg.Linear(32, 2)])
    >>> net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CsrRows", "is_sparse", "csr_rows"]


class CsrRows:
    """Rows of a CSR matrix: ``indptr`` (n + 1,), ``indices`` and ``data`` (nnz,), ``shape``.

    Row ``i`` holds ``data[indptr[i]:indptr[i+1]]`` in the columns ``indices[indptr[i]:indptr[i+1]]``.
    ``indptr`` need not start at 0 (a slice of rows shares the arrays of the whole matrix).
    ``X[a:b]`` is such a view; ``X[rows]`` (an integer array) gathers those rows into new arrays.
    """

    __slots__ = ("indptr", "indices", "data", "shape")
    ndim = 2

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 shape: tuple[int, int]) -> None:
        self.indptr, self.indices, self.data = indptr, indices, data
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        """The number of stored entries of these rows."""
        return int(self.indptr[-1] - self.indptr[0])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> CsrRows:
        n = self.shape[0]
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                stop = max(start, stop)
                return CsrRows(self.indptr[start:stop + 1], self.indices, self.data, (stop - start, self.shape[1]))
            index = np.arange(start, stop, step)
        rows = np.asarray(index)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise TypeError(f"CsrRows: rows must be a slice or a 1-D integer array, got {rows.dtype} of "
                            f"shape {rows.shape}")
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"CsrRows: row numbers must lie in [-{n}, {n}), got {rows.min()}..{rows.max()}")
        rows = np.where(rows < 0, rows + n, rows) if rows.size and rows.min() < 0 else rows
        # The gather: each picked row's entries, one after the other.
        start = self.indptr[rows]
        lengths = self.indptr[rows + 1] - start
        indptr = np.zeros(len(rows) + 1, self.indptr.dtype)
        np.cumsum(lengths, out=indptr[1:])
        pos = np.repeat(start - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=self.indptr.dtype)
        return CsrRows(indptr, self.indices[pos], self.data[pos], (len(rows), self.shape[1]))

    def _entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every stored entry of these rows."""
        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return rows, self.indices[lo:hi], self.data[lo:hi]

    def toarray(self) -> np.ndarray:
        """The dense (n, n_features) array (for small matrices: tests, inspection)."""
        out = np.zeros(self.shape, self.dtype)
        rows, cols, vals = self._entries()
        np.add.at(out, (rows, cols), vals)
        return out

    def tocsr(self) -> Any:
        """A ``scipy.sparse.csr_array`` of these rows (indptr starting at 0)."""
        import scipy.sparse

        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        return scipy.sparse.csr_array((self.data[lo:hi], self.indices[lo:hi], self.indptr - lo), shape=self.shape)

    def first_nonfinite(self) -> tuple[int, int] | None:
        """(row, column) of the first NaN/inf entry, or None."""
        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        bad = np.flatnonzero(~np.isfinite(self.data[lo:hi]))
        if not bad.size:
            return None
        p = int(bad[0]) + lo
        return int(np.searchsorted(self.indptr, p, side="right")) - 1, int(self.indices[p])

    def column_std(self) -> np.ndarray:
        """The standard deviation of every column (the zeros included), in float64."""
        n = max(self.shape[0], 1)
        _, cols, vals = self._entries()
        v = vals.astype(np.float64)
        mean = np.bincount(cols, weights=v, minlength=self.shape[1]) / n
        sq = np.bincount(cols, weights=v * v, minlength=self.shape[1]) / n
        return np.sqrt(np.maximum(sq - mean * mean, 0.0))

    def abs_max(self) -> float:
        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        return float(np.max(np.abs(self.data[lo:hi]))) if hi > lo else 0.0

    def __repr__(self) -> str:
        return f"CsrRows(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype})"


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy.sparse matrix/array or a ``CsrRows`` (scipy imported only when
    ``X`` comes from it)."""
    if isinstance(X, CsrRows):
        return True
    if not type(X).__module__.startswith("scipy.sparse"):
        return False
    import scipy.sparse

    return bool(scipy.sparse.issparse(X))


def csr_rows(X: Any, dtype: Any = None, name: str = "X") -> CsrRows:
    """``X`` (a scipy.sparse matrix of any format, or ``CsrRows``) as ``CsrRows``: other formats
    converted once to CSR; ``data`` converted to ``dtype`` when given (``None``: strict, a
    ``TypeError`` unless ``data`` is float32/float64). No copy of a CSR matrix that already is
    one. ``indices``/``indptr`` keep scipy's int32 or int64."""
    if isinstance(X, CsrRows):
        rows = X
    else:
        if getattr(X, "ndim", 2) != 2:
            raise ValueError(f"{name} must be a 2-D sparse matrix, got shape {X.shape}")
        csr = X.tocsr()
        itype = np.result_type(csr.indptr.dtype, csr.indices.dtype)
        rows = CsrRows(csr.indptr.astype(itype, copy=False), csr.indices.astype(itype, copy=False),
                       csr.data, csr.shape)
    if rows.data.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got a sparse matrix of dtype {rows.data.dtype}")
    if dtype is not None and rows.data.dtype != np.dtype(dtype):
        rows = CsrRows(rows.indptr, rows.indices, rows.data.astype(dtype), rows.shape)
    return rows
