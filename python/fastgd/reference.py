"""NumPy twins of every ``fastgd.ops`` kernel: the readable ground truth.

Each function has the same name, signature and result (to float tolerance) as its C++ kernel in
``fastgd.ops``. They are written to be read: one short vectorised function per kernel, the math
in the docstring. Tests compare the kernels against these; benchmarks time the kernels against
these. Validation of hostile input lives in ``fastgd.ops``; these assume well-formed arrays.

Conventions: samples in rows, ``X`` is ``(n, in)``, a dense weight ``W`` is ``(in, out)``.
Every loss is a mean (over samples, or over all elements for MSE/BCE) and its gradient is the
gradient of that mean. Losses are returned as Python floats; an empty batch has loss ``nan``.
Every loss takes ``sample_weight`` (n,) >= 0 for the rows (first axis): then the loss is
``Σ sᵢ ℓᵢ / Σ sᵢ``, ℓᵢ the mean over row i's outputs; a zero-weight row is left out (its
gradient is 0) and ``Σ sᵢ = 0`` gives loss 0 and a zero gradient.
Integer labels of any integer dtype are accepted; arrays keep their float dtype.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "linear_forward",
    "linear_backward",
    "csr_linear_forward",
    "csr_linear_backward",
    "relu",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "gelu",
    "gelu_backward",
    "silu",
    "silu_backward",
    "elu",
    "elu_backward",
    "softplus",
    "softplus_backward",
    "softmax_backward",
    "dropout",
    "dropout_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "softmax",
    "softmax_cross_entropy",
    "bce_with_logits",
    "mse",
    "l1",
    "huber",
    "smooth_l1",
    "poisson_nll",
    "mse_gradient",
    "sgd_step",
    "adam_step",
    "rmsprop_step",
    "adagrad_step",
    "nadam_step",
    "radam_step",
    "epoch",
    "l2_penalty",
]


def _put(result, out):
    """Write ``result`` into ``out`` when given (mirrors the kernels' ``out=``)."""
    if out is None:
        return result
    out[...] = result
    return out


def _mean_loss(total, count):
    """Mean of a loss sum over ``count`` items; ``nan`` for an empty batch (no warning)."""
    return float(total) / count if count else math.nan


# ---------------------------------------------------------------------------------- dense


def linear_forward(X, W, b=None, *, out=None):
    """Dense layer forward: ``Z = X @ W + b``.

    X: (n, in), W: (in, out), b: (out,) or None  ->  Z: (n, out).
    """
    Z = X @ W
    if b is not None:
        Z = Z + b
    return _put(Z, out)


def linear_backward(X, W, dZ, *, need_dx=True, out=None):
    """Dense layer backward for ``Z = X @ W + b``.

    dX = dZ @ Wᵀ (n, in);  dW = Xᵀ @ dZ (in, out);  db = Σ_rows dZ (out,).
    With ``need_dx=False`` dX is not computed and returned as None (the first layer needs none).
    ``out`` is an optional ``(dX, dW, db)`` tuple of arrays (any entry None) to write into.
    """
    dX = dZ @ W.T if need_dx else None
    dW = X.T @ dZ
    db = dZ.sum(axis=0, dtype=np.float64).astype(dZ.dtype)  # wide sum, as the kernel does
    if out is not None:
        dX, dW, db = (r if o is None or r is None else _put(r, o) for r, o in zip((dX, dW, db), out))
    return dX, dW, db


# ---------------------------------------------------------------------------------- sparse


def _csr_entries(indptr, indices, data):
    """(row, column, value) of every entry of the CSR rows ``indptr`` (which may start above 0)."""
    lo, hi = int(indptr[0]), int(indptr[-1])
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return rows, indices[lo:hi], data[lo:hi]


def csr_linear_forward(indptr, indices, data, W, b=None, *, out=None):
    """Dense layer forward on a CSR ``X``: ``Z = X @ W + b``.

    Z[i] = b + Σ_{p in [indptr[i], indptr[i+1])} data[p] · W[indices[p]]  ->  Z: (n, out).
    """
    rows, cols, vals = _csr_entries(indptr, indices, data)
    Z = np.zeros((len(indptr) - 1, W.shape[1]), W.dtype)
    np.add.at(Z, rows, vals[:, None] * W[cols])
    if b is not None:
        Z += b
    return _put(Z, out)


def csr_linear_backward(indptr, indices, data, dZ, n_features, *, out=None):
    """Dense layer backward for ``Z = X @ W + b`` with a CSR ``X`` (no dX).

    dW[c] = Σ over entries (i, c, v) of v · dZ[i]  (dW = Xᵀ @ dZ, (n_features, out));
    db = Σ_rows dZ (out,). ``out``: an optional ``(dW, db)`` tuple to write into.
    """
    rows, cols, vals = _csr_entries(indptr, indices, data)
    dW = np.zeros((n_features, dZ.shape[1]), dZ.dtype)
    np.add.at(dW, cols, vals[:, None] * dZ[rows])
    db = dZ.sum(axis=0, dtype=np.float64).astype(dZ.dtype)
    if out is not None:
        dW, db = _put(dW, out[0]), _put(db, out[1])
    return dW, db


# ---------------------------------------------------------------------------- activations


def relu(Z, *, out=None):
    """ReLU: ``A = max(Z, 0)`` (NaN stays NaN)."""
    return _put(np.maximum(Z, 0), out)


def relu_backward(Z, dA, *, out=None):
    """ReLU backward from the *input* Z: ``dZ = dA where Z > 0 else 0``."""
    return _put(np.where(Z > 0, dA, 0).astype(dA.dtype, copy=False), out)


def leaky_relu(Z, slope=0.01, *, out=None):
    """Leaky ReLU: ``A = Z where Z > 0 else slope·Z``."""
    return _put(np.where(Z > 0, Z, Z * Z.dtype.type(slope)), out)


def leaky_relu_backward(Z, dA, slope=0.01, *, out=None):
    """Leaky ReLU backward from the input Z: ``dZ = dA where Z > 0 else slope·dA``."""
    return _put(np.where(Z > 0, dA, dA * dA.dtype.type(slope)), out)


def sigmoid(Z, *, out=None):
    """Logistic sigmoid ``1 / (1 + e^-z)``, overflow-free for any finite z.

    With ``e = exp(-|z|) <= 1``: ``σ(z) = 1/(1+e)`` for z >= 0 and ``e/(1+e)`` for z < 0.
    """
    e = np.exp(-np.abs(Z))
    s = 1 / (1 + e)
    return _put(np.where(Z >= 0, s, e * s), out)


def sigmoid_backward(A, dA, *, out=None):
    """Sigmoid backward from the *output* A = σ(Z): ``dZ = dA · A · (1 - A)``."""
    return _put(dA * A * (1 - A), out)


def tanh(Z, *, out=None):
    """Hyperbolic tangent."""
    return _put(np.tanh(Z), out)


def tanh_backward(A, dA, *, out=None):
    """Tanh backward from the *output* A = tanh(Z): ``dZ = dA · (1 - A²)``."""
    return _put(dA * (1 - A * A), out)


def _Phi(x):
    """The standard normal CDF ``Φ(x) = (1 + erf(x/√2))/2 = erfc(-x/√2)/2`` elementwise in float64
    (NumPy has no erf; erfc does not cancel in the lower tail)."""
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    return 0.5 * erfc(-x / math.sqrt(2)) if x.size else np.zeros(x.shape)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(Z, approximate="none", *, out=None):
    """GELU as torch: ``z·Φ(z) = z/2·(1 + erf(z/√2))``; ``approximate="tanh"``:
    ``z/2·(1 + tanh(√(2/π)·(z + 0.044715·z³)))``."""
    if approximate == "tanh":  # in Z's dtype, as torch (a float32 z³ may overflow to inf: then A = z or -0)
        with np.errstate(over="ignore", invalid="ignore"):
            return _put(0.5 * Z * (1 + np.tanh(_SQRT_2_OVER_PI * (Z + 0.044715 * Z * Z * Z))), out)
    z = Z.astype(np.float64)
    with np.errstate(invalid="ignore"):  # z = -inf: -inf·0 is nan, as torch
        return _put((z * _Phi(z)).astype(Z.dtype), out)


def gelu_backward(Z, dA, approximate="none", *, out=None):
    """GELU backward from the input: ``dZ = dA·(Φ(z) + z·φ(z))``, ``φ(z) = e^(-z²/2)/√(2π)``;
    tanh form (torch's): ``dA·(½(1 + t) + ½z·(1 - t²)·√(2/π)·(1 + 3·0.044715·z²))``."""
    if approximate == "tanh":  # in Z's dtype, as torch
        with np.errstate(over="ignore", invalid="ignore"):
            z2 = Z * Z
            t = np.tanh(_SQRT_2_OVER_PI * (Z + 0.044715 * z2 * Z))
            g = 0.5 * (1 + t) + 0.5 * Z * (1 - t * t) * (_SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z2))
            return _put(dA * g, out)
    z = Z.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # z = ±inf: z·φ(z) = inf·0 is nan, as torch
        g = _Phi(z) + z * (np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return _put((dA * g.astype(dA.dtype)), out)


def silu(Z, *, out=None):
    """SiLU (swish): ``A = z·σ(z)``, with the overflow-free sigmoid."""
    with np.errstate(invalid="ignore"):  # z = -inf: -inf·0 is nan, as torch
        return _put(Z * sigmoid(Z), out)


def silu_backward(Z, dA, *, out=None):
    """SiLU backward from the input: ``dZ = dA·σ(z)·(1 + z·(1 - σ(z)))``."""
    s = sigmoid(Z)
    with np.errstate(invalid="ignore"):  # z = ±inf: 0·inf is nan, as torch
        return _put(dA * s * (1 + Z * (1 - s)), out)


def elu(Z, alpha=1.0, *, out=None):
    """ELU: ``A = z where z > 0 else α·(e^z - 1)`` (torch tests ``z <= 0``: NaN stays NaN)."""
    neg = np.minimum(Z, 0)  # e^z only where it is used: no overflow warning for large z
    return _put(np.where(Z <= 0, Z.dtype.type(alpha) * np.expm1(neg), Z), out)


def elu_backward(Z, dA, alpha=1.0, *, out=None):
    """ELU backward from the input: ``dZ = dA where z > 0 else dA·α·e^z`` (a NaN z takes
    the ``dA`` branch, as in torch)."""
    neg = np.minimum(Z, 0)
    return _put(np.where(Z <= 0, dA * Z.dtype.type(alpha) * np.exp(neg), dA), out)


def softplus(Z, beta=1.0, threshold=20.0, *, out=None):
    """Softplus as torch: ``A = log(1 + e^(βz))/β``, or ``z`` where ``βz > threshold``.

    ``log(1 + eᵗ)`` is computed as ``max(t, 0) + log1p(e^-|t|)``: no overflow for any t.
    """
    b, thr = Z.dtype.type(beta), Z.dtype.type(threshold)
    t = Z * b
    soft = (np.maximum(t, 0) + np.log1p(np.exp(-np.abs(t)))) / b
    return _put(np.where(t > thr, Z, soft), out)


def softplus_backward(Z, dA, beta=1.0, threshold=20.0, *, out=None):
    """Softplus backward from the input: ``dZ = dA·σ(βz)``, or ``dA`` where ``βz > threshold``."""
    t = Z * Z.dtype.type(beta)
    return _put(np.where(t > Z.dtype.type(threshold), dA, dA * sigmoid(t)), out)


def softmax_backward(P, dA, *, out=None):
    """Softmax backward from the *output* P (n, c) or (c,), row-wise:
    ``dZ = P·(dA - Σ_j dA_j·P_j)`` (the softmax Jacobian-vector product)."""
    s = (dA.astype(np.float64) * P).sum(axis=-1, keepdims=True).astype(P.dtype)
    return _put(P * (dA - s), out)


# -------------------------------------------------------------------------------- dropout

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment


def _mix64(z):
    """splitmix64's finaliser on uint64 values (NumPy arrays wrap; Python ints are masked)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_mask(shape, p, seed, counter):
    """The kept elements (bool array of ``shape``) of dropout call ``counter`` with ``seed``.

    ``key = mix64(seed ^ mix64(counter + γ))``; element i (C order) draws
    ``u_i = mix64(key + (i+1)·γ)`` (the splitmix64 stream seeded by key) and is kept when its top
    53 bits ``u_i >> 11 >= ceil(p·2^53)``: with probability ``1 - p``.
    """
    key = _mix64(seed ^ _mix64((counter + _GOLDEN) & _M64))
    i = np.arange(1, math.prod(shape) + 1, dtype=np.uint64)
    u = _mix64(np.uint64(key) + i * np.uint64(_GOLDEN))
    return (u >> np.uint64(11) >= np.uint64(math.ceil(p * 2.0**53))).reshape(shape)


def dropout(X, p, seed, counter, *, out=None):
    """Inverted dropout: ``A = X·mask/(1 - p)`` with ``mask = dropout_mask(X.shape, p, seed,
    counter)``; returns ``(A, mask)``. Written ``X·(1/(1-p) if kept else 0)``, so a dropped inf or
    NaN gives NaN, as torch's ``X·mask·scale``."""
    mask = dropout_mask(X.shape, p, seed, counter)
    scale = np.where(mask, X.dtype.type(1 / (1 - p)), X.dtype.type(0))
    return _put(X * scale, out), mask


def dropout_backward(mask, dA, p, *, out=None):
    """Dropout backward: ``dX = dA·mask/(1 - p)``."""
    return _put(dA * np.where(mask, dA.dtype.type(1 / (1 - p)), dA.dtype.type(0)), out)


# -------------------------------------------------------------------------- normalisation


def _normalise(X, mean, var, weight, bias, eps, axis):
    """``(X - mean)/sqrt(var + eps)·weight + bias`` in float64, the statistics along ``axis``."""
    m = np.expand_dims(mean.astype(np.float64), axis)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # nan/inf propagate, as torch
        inv = np.expand_dims(1 / np.sqrt(var.astype(np.float64) + eps), axis)
        Y = (X.astype(np.float64) - m) * inv
        if weight is not None:
            Y = Y * weight
        if bias is not None:
            Y = Y + bias
        return Y.astype(X.dtype)


def batchnorm_forward(X, weight=None, bias=None, running_mean=None, running_var=None, *, eps=1e-5,
                      out=None):
    """BatchNorm1d forward over the rows of X (n, c): ``Y = (X - mean)/sqrt(var + eps)·w + b``.

    Batch statistics (mean and *biased* variance per column, in float64) when running_mean and
    running_var are None (train mode); else those (eval mode). Returns ``(Y, mean, var)``.
    """
    if running_mean is None:
        X64 = X.astype(np.float64)
        with np.errstate(invalid="ignore"):  # inf - inf: nan, as torch
            m = X64.mean(axis=0)
            mean, var = m.astype(X.dtype), ((X64 - m) ** 2).mean(axis=0).astype(X.dtype)
    else:
        mean, var = running_mean.copy(), running_var.copy()
    return _put(_normalise(X, mean, var, weight, bias, eps, 0), out), mean, var


def batchnorm_backward(X, weight, mean, var, dY, *, eps=1e-5, batch_stats=True, out=None):
    """BatchNorm1d backward. With ``x̂ = (X - mean)/sqrt(var + eps)``:
    ``dweight = Σ_rows dY·x̂``, ``dbias = Σ_rows dY``;
    batch statistics: ``dX = w/sqrt(var + eps)·(dY - dbias/n - x̂·dweight/n)``;
    running statistics (constants): ``dX = dY·w/sqrt(var + eps)``. Returns ``(dX, dweight, dbias)``.
    """
    n = X.shape[0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # nan/inf propagate, as torch
        inv = 1 / np.sqrt(var.astype(np.float64) + eps)
        xhat = (X.astype(np.float64) - mean) * inv
        g = dY.astype(np.float64)
        dw, db = (g * xhat).sum(axis=0), g.sum(axis=0)
        k = inv if weight is None else inv * weight
        dX = k * (g - db / n - xhat * dw / n) if batch_stats else k * g
        return _put(dX.astype(X.dtype), out), dw.astype(X.dtype), db.astype(X.dtype)


def layernorm_forward(X, weight=None, bias=None, *, eps=1e-5, out=None):
    """LayerNorm forward over the columns of each row of X (n, c), per-row mean and *biased*
    variance: ``Y = (X - mean)/sqrt(var + eps)·w + b``. Returns ``(Y, mean, var)``, (n,) each."""
    X64 = X.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # c = 0: the mean of nothing is nan; inf - inf
        m = X64.sum(axis=1) / X.shape[1]
        var = ((X64 - m[:, None]) ** 2).sum(axis=1) / X.shape[1]
    mean, var = m.astype(X.dtype), var.astype(X.dtype)
    return _put(_normalise(X, mean, var, weight, bias, eps, 1), out), mean, var


def layernorm_backward(X, weight, mean, var, dY, *, eps=1e-5, out=None):
    """LayerNorm backward. Per row, with ``x̂ = (X - mean)/sqrt(var + eps)`` and ``g = dY·w``:
    ``dX = (g - mean_j g - x̂·mean_j(g·x̂))/sqrt(var + eps)``; ``dweight = Σ_rows dY·x̂``,
    ``dbias = Σ_rows dY``. Returns ``(dX, dweight, dbias)``."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # nan/inf propagate, as torch
        inv = (1 / np.sqrt(var.astype(np.float64) + eps))[:, None]
        xhat = (X.astype(np.float64) - mean[:, None]) * inv
        dY64 = dY.astype(np.float64)
        g = dY64 if weight is None else dY64 * weight
        c = max(X.shape[1], 1)
        dX = inv * (g - g.sum(axis=1, keepdims=True) / c - xhat * (g * xhat).sum(axis=1, keepdims=True) / c)
        dw, db = (dY64 * xhat).sum(axis=0), dY64.sum(axis=0)
        return _put(dX.astype(X.dtype), out), dw.astype(X.dtype), db.astype(X.dtype)


# --------------------------------------------------------------------------------- losses


def softmax(Z, *, out=None):
    """Row-wise softmax of logits Z (n, c) or (c,), shifted by the row max so it never overflows.

    ``p_ij = exp(z_ij - m_i) / Σ_k exp(z_ik - m_i)`` with ``m_i = max_k z_ik``.
    """
    e = np.exp(Z - Z.max(axis=-1, keepdims=True)) if Z.shape[-1] else np.exp(Z)
    return _put(e / e.sum(axis=-1, keepdims=True), out)


def _rows(a):
    """``a`` as (n, k): rows along the first axis (a 0-d array is one row of one)."""
    return a.reshape(1, 1) if a.ndim == 0 else a.reshape(len(a), -1)


def _weighted(per_element, grad, sample_weight):
    """Mean of ``per_element`` (any shape) and ``grad / N``, or with ``sample_weight`` (n,) the
    row-weighted mean ``Σ sᵢ ℓᵢ / Σ sᵢ`` (ℓᵢ the mean of row i) and ``sᵢ·grad / (k·Σ s)``."""
    if sample_weight is None:
        N = per_element.size
        return _mean_loss(per_element.sum(dtype=np.float64), N), grad / grad.dtype.type(max(N, 1))
    rows = _rows(per_element)
    n, k = rows.shape
    if n == 0:
        return math.nan, grad
    s = sample_weight.astype(np.float64)
    total_weight = s.sum() * k
    if total_weight == 0:
        return 0.0, np.zeros_like(grad)
    keep = s > 0  # a zero weight drops the row, even an inf/NaN one
    loss = float((s[keep] * rows[keep].sum(axis=1, dtype=np.float64)).sum() / total_weight)
    scale = (s / total_weight).astype(grad.dtype).reshape((-1,) + (1,) * (grad.ndim - 1))
    return loss, np.where(scale > 0, grad * scale, 0).astype(grad.dtype)


def softmax_cross_entropy(logits, labels, *, weight=None, label_smoothing=0.0, sample_weight=None, out=None):
    """Mean softmax cross-entropy on logits (n, c) and its gradient (``torch.nn.CrossEntropyLoss``).

    labels: integer class indices (n,) in [0, c), or target probabilities (n, c).
    ``loss = -(1/n) Σ_i Σ_j t_ij log p_ij`` with ``log p = z - logsumexp(z)``;
    ``dlogits = (p · Σ_j t_ij - t) / n`` (= ``(p - t)/n`` when each row of t sums to 1).
    Class weights w (c,), smoothing ε and sample weights s (n,):
    labels: ``ℓᵢ = (1-ε) w[yᵢ] (-log p[i, yᵢ]) + (ε/c) Σ_j w_j (-log p_ij)``,
    ``loss = Σ sᵢ ℓᵢ / Σ sᵢ w[yᵢ]`` (torch's weighted mean, its smoothing term over the same sum);
    probabilities: ``t' = (1-ε) t + ε/c``, ``ℓᵢ = -Σ_j w_j t'_ij log p_ij``, ``loss = Σ sᵢ ℓᵢ / Σ sᵢ``.
    Returns ``(loss, dlogits)``.
    """
    n, c = logits.shape
    dt = logits.dtype.type
    shifted = logits - logits.max(axis=1, keepdims=True) if c else logits
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    if weight is None and not label_smoothing and sample_weight is None:
        targets = labels if labels.ndim == 2 else np.eye(c, dtype=logits.dtype)[labels]
        # 0·log p is 0 even where p underflows to 0 (log p = -inf).
        loss = _mean_loss(-np.where(targets != 0, targets * log_p, 0).sum(dtype=np.float64), n)
        dlogits = (p * targets.sum(axis=1, keepdims=True) - targets) / dt(max(n, 1))
        return loss, _put(dlogits, out)
    if n == 0 or c == 0:
        return (math.nan if n == 0 else 0.0), _put(np.zeros_like(logits), out)
    w = np.ones(c, logits.dtype) if weight is None else weight
    s = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    eps = dt(label_smoothing)
    if labels.ndim == 1:
        onehot = np.eye(c, dtype=logits.dtype)[labels]
        # u: what multiplies -log p; the gradient of Σ_j u_j (-log p_j) is p Σu - u.
        u = (1 - eps) * w[labels][:, None] * onehot + eps / c * w
        denominator = (s * w[labels]).sum(dtype=np.float64)
    else:
        u = w * ((1 - eps) * labels + eps / c)
        denominator = s.sum()
    if denominator == 0 and sample_weight is not None:
        return 0.0, _put(np.zeros_like(logits), out)
    keep = s > 0
    per_row = -np.where(u != 0, u * log_p, 0).sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # all-zero class weights: torch's 0/0
        loss = float((s[keep] * per_row[keep]).sum() / denominator)
        scale = (s / denominator).astype(logits.dtype)[:, None]
    dlogits = np.where(keep[:, None], (p * u.sum(axis=1, keepdims=True) - u) * scale, 0).astype(logits.dtype)
    return loss, _put(dlogits, out)


def bce_with_logits(logits, targets, *, pos_weight=None, sample_weight=None, out=None):
    """Mean binary cross-entropy on logits, stable for any |z|; shapes of logits and targets equal.

    ``loss = mean(max(z, 0) - z·t + log(1 + e^-|z|))``;  ``dlogits = (σ(z) - t) / N``.
    pos_weight pw (last axis or (1,), broadcast as in torch): with ``lw = 1 + (pw - 1)·t``, per element
    ``(1 - t)·z + lw·log(1 + e^-z)`` and gradient ``lw·σ(z) - pw·t``.  Returns ``(loss, dlogits)``.
    """
    t = targets.astype(logits.dtype, copy=False)
    softplus_neg = np.log1p(np.exp(-np.abs(logits))) + np.maximum(-logits, 0)  # log(1 + e^-z)
    if pos_weight is None:
        per_item = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
        grad = sigmoid(logits) - t
    else:
        lw = 1 + (pos_weight - 1) * t
        per_item = (1 - t) * logits + lw * softplus_neg
        grad = lw * sigmoid(logits) - pos_weight * t
    loss, dlogits = _weighted(per_item, grad, sample_weight)
    return loss, _put(dlogits, out)


def mse(pred, target, *, sample_weight=None, out=None):
    """Mean squared error over all elements and its gradient.

    ``loss = mean((pred - target)²)``;  ``dpred = 2 (pred - target) / N``.  Returns ``(loss, dpred)``.
    """
    r = pred - target
    if sample_weight is None:
        N = pred.size
        loss = _mean_loss(np.square(r, dtype=np.float64).sum(), N)
        return loss, _put(r * pred.dtype.type(2 / max(N, 1)), out)
    loss, dpred = _weighted(np.square(r, dtype=np.float64), 2 * r, sample_weight)
    return loss, _put(dpred, out)


def l1(pred, target, *, sample_weight=None, out=None):
    """Mean absolute error (``torch.nn.L1Loss``): ``mean(|p - t|)``, ``dpred = sign(p - t) / N``
    (0 where p - t is 0 or, as in torch, NaN)."""
    r = pred - target
    sign = np.where(r > 0, 1, np.where(r < 0, -1, 0)).astype(pred.dtype)
    loss, dpred = _weighted(np.abs(r.astype(np.float64)), sign, sample_weight)
    return loss, _put(dpred, out)


def huber(pred, target, delta=1.0, *, sample_weight=None, out=None):
    """Mean Huber loss (``torch.nn.HuberLoss``), r = p - t, δ > 0.

    ``ℓ = ½r²`` where ``|r| < δ``, else ``δ(|r| - ½δ)``;  ``dpred = clip(r, -δ, δ) / N``.
    """
    r = pred - target
    a = np.abs(r.astype(np.float64))
    per_item = np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    grad = np.where(r < -delta, -delta, np.where(r > delta, delta, r)).astype(pred.dtype)
    loss, dpred = _weighted(per_item, grad, sample_weight)
    return loss, _put(dpred, out)


def smooth_l1(pred, target, beta=1.0, *, sample_weight=None, out=None):
    """Mean smooth L1 loss (``torch.nn.SmoothL1Loss``), r = p - t, β >= 0 (β = 0: L1).

    ``ℓ = ½r²/β`` where ``|r| < β``, else ``|r| - ½β``;  ``dpred = clip(r/β, -1, 1) / N``.
    """
    if beta == 0:
        return l1(pred, target, sample_weight=sample_weight, out=out)
    r = pred - target
    a = np.abs(r.astype(np.float64))
    per_item = np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)
    grad = np.clip(r / pred.dtype.type(beta), -1, 1)
    loss, dpred = _weighted(per_item, grad, sample_weight)
    return loss, _put(dpred, out)


def poisson_nll(pred, target, *, log_input=True, full=False, eps=1e-8, sample_weight=None, out=None):
    """Mean Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss``).

    log_input: ``ℓ = e^p - t·p``, ``dpred = (e^p - t) / N``; else ``ℓ = p - t·log(p + eps)``,
    ``dpred = (1 - t/(p + eps)) / N``. full adds Stirling's ``t·log t - t + ½·log(2πt)`` where t > 1.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # e^p = inf as in torch
        if log_input:
            e = np.exp(pred)
            per_item, grad = (e - target * pred).astype(np.float64), e - target
        else:
            xe = pred + pred.dtype.type(eps)
            per_item, grad = (pred - target * np.log(xe)).astype(np.float64), 1 - target / xe
        if full:
            t = target.astype(np.float64)
            stirling = t * np.log(t) - t + 0.5 * np.log(2 * math.pi * t)
            per_item = per_item + np.where(t > 1, stirling, 0)
    loss, dpred = _weighted(per_item, grad.astype(pred.dtype), sample_weight)
    return loss, _put(dpred, out)


def mse_gradient(weights, features, targets, *, out=None):
    """Average MSE gradient of the linear model ``features @ weights[1:] + weights[0]``.

    weights: (d+1,) bias first; features: (n, d), or (n,) for one feature; targets: (n,).
    With residuals ``r = features @ w + w0 - targets``:
    ``grad[0] = (2/n) Σ r``,  ``grad[1:] = (2/n) featuresᵀ r``.  Shape of weights.
    """
    X = features[:, None] if features.ndim == 1 else features
    r = X @ weights[1:] + weights[0] - targets
    n = max(len(targets), 1)
    grad = np.concatenate(([r.sum(dtype=np.float64)], X.T.astype(np.float64) @ r)) * (2 / n)
    return _put(grad.astype(weights.dtype), out)


# ------------------------------------------------------------------------------ optimizers


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
             nesterov=False, weight_decay=0.0, init_buffer=False):
    """One ``torch.optim.SGD`` update, in place on ``param`` (and ``momentum_buffer``).

    g = grad + weight_decay·param
    if momentum: buf = g (when init_buffer, the first step) else momentum·buf + (1-dampening)·g
                 g = g + momentum·buf if nesterov else buf
    param -= lr·g
    """
    g = grad + weight_decay * param if weight_decay else grad
    if momentum:
        if init_buffer:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * g


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999,
              eps=1e-8, weight_decay=0.0, decoupled=False, max_exp_avg_sq=None):
    """One ``torch.optim.Adam`` (``decoupled=True``: ``AdamW``) update, in place.

    ``step`` is the step count *after* incrementing (1 on the first update).
    AdamW: param *= 1 - lr·wd.   Adam: g = grad + wd·param.
    m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²   (amsgrad: v̂ = max(v̂, v), used for v)
    param -= (lr / (1-β1^step)) · m / (sqrt(v) / sqrt(1-β2^step) + eps)
    """
    if weight_decay and decoupled:
        param *= 1 - lr * weight_decay
    g = grad + weight_decay * param if weight_decay and not decoupled else grad
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    step_size = lr / (1 - beta1**step)
    denom = np.sqrt(v) / math.sqrt(1 - beta2**step) + eps
    param -= step_size * exp_avg / denom


def _lerp(start, end, weight):
    """torch.lerp: ``start + w·(end - start)`` for ``|w| < 0.5``, else ``end - (end - start)·(1 - w)``."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def rmsprop_step(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr=1e-2,
                 alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    """One ``torch.optim.RMSprop`` update, in place (``grad_avg`` given: centered).

    g = grad + wd·param;  sq = α·sq + (1-α)·g²
    centered: ga = lerp(ga, g, 1-α), avg = sqrt(sq - ga²) + eps;  else avg = sqrt(sq) + eps
    momentum: buf = momentum·buf + g/avg, param -= lr·buf;  else param -= lr·g/avg
    """
    g = grad + weight_decay * param if weight_decay else grad
    square_avg[...] = square_avg * alpha + (1 - alpha) * g * g
    if grad_avg is not None:
        grad_avg[...] = _lerp(grad_avg, g, 1 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum:
        momentum_buffer[...] = momentum_buffer * momentum + g / avg
        param[...] = param + -lr * momentum_buffer
    else:
        param[...] = param + -lr * g / avg


def adagrad_step(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10):
    """One ``torch.optim.Adagrad`` update, in place; ``step`` counted after incrementing.

    g = grad + wd·param;  sum += g²;  param -= lr / (1 + (step-1)·lr_decay) · g / (sqrt(sum) + eps)
    """
    g = grad + weight_decay * param if weight_decay else grad
    state_sum[...] = state_sum + g * g
    clr = lr / (1 + (step - 1) * lr_decay)
    param[...] = param + -clr * g / (np.sqrt(state_sum) + eps)


def _nadam_mu(beta1, momentum_decay, step):
    """NAdam's momentum coefficient μ_t = β1·(1 - ½·0.96^(t·momentum_decay))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_step(param, grad, exp_avg, exp_avg_sq, *, step, mu_product, lr=2e-3, beta1=0.9,
               beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3, decoupled=False):
    """One ``torch.optim.NAdam`` update, in place.

    ``step`` is counted after incrementing and ``mu_product`` = μ_1·…·μ_step (this step's μ
    included; torch keeps it as a float32 number).
    decoupled: param *= 1 - lr·wd;  else g = grad + wd·param
    m = lerp(m, g, 1-β1);  v = β2·v + (1-β2)·g²;  d = sqrt(v / (1-β2^t)) + eps
    param -= lr·(1-μ_t)/(1-mu_product) · g/d + lr·μ_{t+1}/(1-mu_product·μ_{t+1}) · m/d
    """
    if weight_decay and decoupled:
        param *= 1 - lr * weight_decay
    g = grad + weight_decay * param if weight_decay and not decoupled else grad
    mu, mu_next = _nadam_mu(beta1, momentum_decay, step), _nadam_mu(beta1, momentum_decay, step + 1)
    exp_avg[...] = _lerp(exp_avg, g, 1 - beta1)
    exp_avg_sq[...] = exp_avg_sq * beta2 + (1 - beta2) * g * g
    denom = np.sqrt(exp_avg_sq / (1 - beta2**step)) + eps
    param[...] = param + (-lr * (1 - mu) / (1 - mu_product)) * g / denom
    param[...] = param + (-lr * mu_next / (1 - mu_product * mu_next)) * exp_avg / denom


def radam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999,
               eps=1e-8, weight_decay=0.0, decoupled=False):
    """One ``torch.optim.RAdam`` update, in place; ``step`` counted after incrementing.

    decoupled: param *= 1 - lr·wd;  else g = grad + wd·param
    m = lerp(m, g, 1-β1);  v = β2·v + (1-β2)·g²
    ρ∞ = 2/(1-β2) - 1;  ρ_t = ρ∞ - 2t·β2^t/(1-β2^t)
    ρ_t > 5: r = sqrt((ρ_t-4)(ρ_t-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρ_t)),
             param -= lr·m/(1-β1^t) · sqrt(1-β2^t)/(sqrt(v) + eps) · r
    else:    param -= lr·m/(1-β1^t)
    """
    if weight_decay and decoupled:
        param *= 1 - lr * weight_decay
    g = grad + weight_decay * param if weight_decay and not decoupled else grad
    exp_avg[...] = _lerp(exp_avg, g, 1 - beta1)
    exp_avg_sq[...] = exp_avg_sq * beta2 + (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1**step, 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2**step / bc2
    update = exp_avg / bc1 * lr
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        update = update * (1 / (np.sqrt(exp_avg_sq) + eps) * math.sqrt(bc2)) * rect
    param[...] = param - update


# ---------------------------------------------------------------------------------- epoch


def l2_penalty(weights, lam, *, batch_weight=None):
    """The fused step's L2 term over the weight matrices ``weights`` (not biases), the twin of
    ``Engine.set_l2(lam, per_weight)``: with λ = ``lam`` (or ``lam / batch_weight`` per unit
    batch weight, 0 when ``batch_weight`` <= 0, as scikit-learn's ½·alpha·Σ‖W‖² / n_batch)

        term = ½·λ·Σ_W ‖W‖²,   ∂term/∂W = λ·W

    Returns ``(term, [λ·W for W in weights])``.
    """
    if batch_weight is not None:
        lam = lam / batch_weight if batch_weight > 0 else 0.0
    term = 0.5 * lam * sum(float(np.sum(np.asarray(W, np.float64) ** 2)) for W in weights)
    return term, [W.dtype.type(lam) * W for W in weights]


def epoch(step, X, y, batch_size, *, order=None, sample_weight=None, n_correct=None, rows_weight=False):
    """One epoch of training steps, the twin of ``Engine.epoch`` (``fit``'s inner loop).

    Batch b holds rows ``order[b·B : (b+1)·B]`` of ``X``, ``y`` and ``sample_weight`` (B =
    ``batch_size``, the last batch smaller; ``order`` None: in order) and is trained by
    ``step(Xb, yb, wb) -> (loss, output)`` or ``(loss, output, l2)`` (``l2``: the L2 term
    inside ``loss``) — unless its weights sum to 0 (not trained, loss 0). With W_b the batch's
    rows (or Σ wᵢ; always its rows with ``rows_weight``) the epoch's loss is
    ``loss_sum / weight_sum``:

        loss_sum = Σ_b loss_b·W_b,   weight_sum = Σ_b W_b,   penalty_sum = Σ_b l2_b·W_b

    ``n_correct(output, yb) -> (correct, predictions)`` (optional) counts each trained batch's
    predictions, made before its update. Returns ``(loss_sum, weight_sum, correct, count,
    penalty_sum)``.
    """
    n = len(X)
    order = np.arange(n) if order is None else np.asarray(order)
    loss_sum = weight_sum = penalty_sum = 0.0
    correct = count = 0
    for lo in range(0, n, batch_size):
        idx = order[lo:lo + batch_size]
        wb = None if sample_weight is None else sample_weight[idx]
        W = float(len(idx)) if wb is None else float(np.sum(wb, dtype=np.float64))
        l2 = 0.0
        if W > 0:
            loss, out, *rest = step(X[idx], y[idx], wb)
            l2 = rest[0] if rest else 0.0
            if n_correct is not None:
                c, k = n_correct(out, y[idx])
                correct, count = correct + c, count + k
        else:
            loss = 0.0
        if rows_weight:
            W = float(len(idx))
        loss_sum, weight_sum, penalty_sum = loss_sum + loss * W, weight_sum + W, penalty_sum + l2 * W
    return loss_sum, weight_sum, correct, count, penalty_sum
