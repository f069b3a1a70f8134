"""NumPy twins of every ``fastgd.ops`` kernel: the readable ground truth.

Each function has the same name, signature and result (to float tolerance) as its C++ kernel in
``fastgd.ops``. They are written to be read: one short vectorised function per kernel, the math
in the docstring. Tests compare the kernels against these; benchmarks time the kernels against
these. Validation of hostile input lives in ``fastgd.ops``; these assume well-formed arrays.

Conventions: samples in rows, ``X`` is ``(n, in)``, a dense weight ``W`` is ``(in, out)``.
Every loss is a mean (over samples, or over all elements for MSE/BCE) and its gradient is the
gradient of that mean. Losses are returned as Python floats; an empty batch has loss ``nan``.
Integer labels of any integer dtype are accepted; arrays keep their float dtype.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "linear_forward",
    "linear_backward",
    "relu",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "softmax",
    "softmax_cross_entropy",
    "bce_with_logits",
    "mse",
    "mse_gradient",
    "sgd_step",
    "adam_step",
    "rmsprop_step",
    "adagrad_step",
    "nadam_step",
    "radam_step",
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


# --------------------------------------------------------------------------------- losses


def softmax(Z, *, out=None):
    """Row-wise softmax of logits Z (n, c) or (c,), shifted by the row max so it never overflows.

    ``p_ij = exp(z_ij - m_i) / Σ_k exp(z_ik - m_i)`` with ``m_i = max_k z_ik``.
    """
    e = np.exp(Z - Z.max(axis=-1, keepdims=True)) if Z.shape[-1] else np.exp(Z)
    return _put(e / e.sum(axis=-1, keepdims=True), out)


def softmax_cross_entropy(logits, labels, *, out=None):
    """Mean softmax cross-entropy on logits (n, c) and its gradient.

    labels: integer class indices (n,) in [0, c), or target probabilities (n, c).
    ``loss = -(1/n) Σ_i Σ_j t_ij log p_ij`` with ``log p = z - logsumexp(z)``;
    ``dlogits = (p · Σ_j t_ij - t) / n`` (= ``(p - t)/n`` when each row of t sums to 1).
    Returns ``(loss, dlogits)``.
    """
    n, c = logits.shape
    if labels.ndim == 1:
        targets = np.zeros_like(logits)
        targets[np.arange(n), labels] = 1
    else:
        targets = labels
    shifted = logits - logits.max(axis=1, keepdims=True) if c else logits
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    # 0·log p is 0 even where p underflows to 0 (log p = -inf).
    loss = _mean_loss(-np.where(targets != 0, targets * log_p, 0).sum(dtype=np.float64), n)
    p = np.exp(log_p)
    dlogits = (p * targets.sum(axis=1, keepdims=True) - targets) / logits.dtype.type(max(n, 1))
    return loss, _put(dlogits, out)


def bce_with_logits(logits, targets, *, out=None):
    """Mean binary cross-entropy on logits, stable for any |z|; shapes of logits and targets equal.

    ``loss = mean(max(z, 0) - z·t + log(1 + e^-|z|))``;  ``dlogits = (σ(z) - t) / N``.
    Returns ``(loss, dlogits)``.
    """
    t = targets.astype(logits.dtype, copy=False)
    N = logits.size
    per_item = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
    loss = _mean_loss(per_item.sum(dtype=np.float64), N)
    dlogits = (sigmoid(logits) - t) / logits.dtype.type(max(N, 1))
    return loss, _put(dlogits, out)


def mse(pred, target, *, out=None):
    """Mean squared error over all elements and its gradient.

    ``loss = mean((pred - target)²)``;  ``dpred = 2 (pred - target) / N``.  Returns ``(loss, dpred)``.
    """
    r = pred - target
    N = pred.size
    loss = _mean_loss(np.square(r, dtype=np.float64).sum(), N)
    return loss, _put(r * pred.dtype.type(2 / max(N, 1)), out)


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
