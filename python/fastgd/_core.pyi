"""
fastgd's C++/BLAS kernels (private: use fastgd.ops)
"""
from __future__ import annotations

import typing

import numpy

__all__: list[str] = ['Engine', 'adagrad_step', 'adam_step', 'batchnorm_backward', 'batchnorm_forward', 'bce_with_logits', 'blas_config', 'csr_linear_backward', 'csr_linear_forward', 'blas_corename', 'dropout', 'dropout_backward', 'elu', 'elu_backward', 'gelu', 'gelu_backward', 'get_num_threads', 'huber', 'l1', 'layernorm_backward', 'layernorm_forward', 'leaky_relu', 'leaky_relu_backward', 'linear_backward', 'linear_forward', 'mse', 'mse_gradient', 'nadam_step', 'poisson_nll', 'radam_step', 'relu', 'relu_backward', 'rmsprop_step', 'set_num_threads', 'sgd_step', 'sigmoid', 'sigmoid_backward', 'silu', 'silu_backward', 'smooth_l1', 'softmax', 'softmax_backward', 'softmax_cross_entropy', 'softplus', 'softplus_backward', 'tanh', 'tanh_backward']
class Engine:
    """
    The fused training step of a net of built-in layers (private: used by fastgd.Trainer).
    
    ops: list of (name, *numbers[, {buffer name: array}]), each name a unit of the op registry
    (src/cpp/engine_ops.cpp): ("linear", in, out, w_off, b_off) | ("relu",) | ("leaky_relu", slope)
    | ("sigmoid",) | ("tanh",) | ("identity",); offsets into the flat parameter buffer (b_off -1: no
    bias). loss: a unit of the loss registry (src/cpp/engine_losses.cpp), a name or (name, *numbers):
    "mse", "l1", ("huber", delta), ("smooth_l1", beta), ("poisson_nll", log_input, full, eps),
    "cross_entropy" | ("cross_entropy", label_smoothing, *class_weights), "bce_with_logits" |
    ("bce_with_logits", *pos_weight).
    """
    def __init__(self, dtype: str, ops: list, loss: typing.Any, in_features: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def bind(self, params: typing.Any, grads: typing.Any) -> None:
        ...
    def bind_buffers(self, op_index: typing.SupportsInt | typing.SupportsIndex, buffers: dict) -> None:
        """
        Bind op op_index's persistent buffers {name: array}; the op writes them in place.
        """
    def clear_groups(self) -> None:
        """
        Remove every optimizer group (update() then only clips).
        """
    def forward_csr(self, indptr: typing.Any, indices: typing.Any, data: typing.Any, training: bool = False) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
        """
        forward() on a CSR batch (see step_csr).
        """
    def loss_and_grad_csr(self, indptr: typing.Any, indices: typing.Any, data: typing.Any, y: typing.Any, sample_weight: typing.Any = None) -> float:
        """
        loss_and_grad() on a CSR batch (see step_csr).
        """
    def step_csr(self, indptr: typing.Any, indices: typing.Any, data: typing.Any, y: typing.Any, sample_weight: typing.Any = None) -> float:
        """
        step() on a CSR batch (the arrays of a scipy.sparse CSR matrix, data of the net's dtype) read by the first layer, a Linear, without densifying it.
        """
    def forward(self, X: typing.Any, training: bool = False) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
        """
        The net's output for X, in eval mode unless training=True.
        """
    def _fastcall(self) -> typing.Any:
        """
        step() as a C function table in a capsule (src/cpp/bindings/fastcall.h) for fastgd._fastcall.
        """
    def last_output(self) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
        """
        A copy of the last forward's output (n, out_features).
        """
    def epoch(self, X: typing.Any, y: typing.Any, batch_size: typing.SupportsInt | typing.SupportsIndex, order: typing.Any = None, sample_weight: typing.Any = None, divergence_factor: typing.SupportsFloat | typing.SupportsIndex = 0.0, first_loss: typing.SupportsFloat | typing.SupportsIndex = float("nan"), accuracy: bool = False, rows_weight: bool = False) -> tuple[float, float, int, int, int, float, float, bool, float]:
        """
        One epoch of step()s over X in batches of batch_size taken in `order` (None: in order), a batch whose weights sum to 0 skipped; returns (loss_sum, weight_sum, correct, count, batches, last_loss, first_loss, diverged, penalty_sum): sums over batches of loss, of the L2 term in it (penalty_sum) and of the batch weight, its rows (rows_weight) or Σ w. Stops after a batch whose loss is not finite or exceeds divergence_factor * max(first_loss, 1) (0: never); Ctrl-C interrupts it between batches.
        """
    def loss_and_grad(self, X: typing.Any, y: typing.Any, sample_weight: typing.Any = None) -> float:
        """
        Forward, loss and backward (gradients overwritten), no update; returns the loss.
        """
    def set_adam(self, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, decoupled: bool, exp_avg: typing.Any, exp_avg_sq: typing.Any, max_exp_avg_sq: typing.Any, counter: typing.Any, offset: typing.SupportsInt | typing.SupportsIndex = 0, size: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        """
        Adam/AdamW over the whole buffer (replacing all groups) or, given offset/size, one more group.
        """
    def set_clip_norm(self, max_norm: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    def set_l2(self, lam: typing.SupportsFloat | typing.SupportsIndex, per_weight: bool = False) -> None:
        """
        L2 penalty: loss += lam/2 * sum of squared Linear weights (not biases), grad_W += lam * W; with per_weight, lam is divided by each batch's weight sum (its rows when unweighted) at every step.
        """
    def last_l2(self) -> float:
        """
        The L2 term lam/2 * sum W^2 of the last loss (before its update).
        """
    def set_lr(self, lr: typing.SupportsFloat | typing.SupportsIndex, group: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        """
        The learning rate of one group (-1: all).
        """
    def set_seed(self, seed: typing.SupportsInt | typing.SupportsIndex, step: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        The ops' random stream: seed, and the step counter (advanced once per training step).
        """
    def set_update(self, name: str, hyper: dict, state: dict, scalars: dict, counter: typing.Any, offset: typing.SupportsInt | typing.SupportsIndex = 0, size: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        """
        Any optimizer of the update registry by name ('sgd', 'adam', 'rmsprop', 'adagrad', 'nadam', 'radam') over the whole buffer (replacing all groups) or, given offset/size, one more group.
        """
    def set_sgd(self, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, weight_decay: typing.SupportsFloat | typing.SupportsIndex, momentum_buffer: typing.Any, counter: typing.Any, offset: typing.SupportsInt | typing.SupportsIndex = 0, size: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        """
        SGD over the whole buffer (replacing all groups) or, given offset/size, one more group.
        """
    def step(self, X: typing.Any, y: typing.Any, sample_weight: typing.Any = None) -> float:
        """
        Forward, loss, backward and update in one call; returns the (sample-weighted) loss.
        """
    def update(self) -> None:
        """
        Clip (when set) and apply the optimizer update to the gradients in the buffer, as the end of step().
        """
    @property
    def grad_norm(self) -> float:
        ...
    @property
    def in_features(self) -> int:
        ...
    @property
    def num_groups(self) -> int:
        ...
    @property
    def out_features(self) -> int:
        ...
    @property
    def rng_step(self) -> int:
        ...
    @property
    def workspace_allocations(self) -> int:
        ...
def adagrad_step(param: typing.Any, grad: typing.Any, state_sum: typing.Any, *, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex = 0.01, lr_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-10) -> None:
    """
    One ``torch.optim.Adagrad`` update in place: ``g = grad + wd*p; state_sum += g*g;
    p -= lr / (1 + (step-1)*lr_decay) * g / (sqrt(state_sum) + eps)``; ``step`` counted after incrementing.
    """
def adam_step(param: typing.Any, grad: typing.Any, exp_avg: typing.Any, exp_avg_sq: typing.Any, *, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex = 0.001, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, decoupled: bool = False, max_exp_avg_sq: typing.Any = None) -> None:
    """
    One ``torch.optim.Adam`` (``decoupled=True``: ``AdamW``) update in place, in one pass; ``step``
    is the count after incrementing. ``max_exp_avg_sq`` given: amsgrad.
    """
def batchnorm_backward(X: typing.Any, weight: typing.Any, mean: typing.Any, var: typing.Any, dY: typing.Any, *, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05, batch_stats: bool = True, out: typing.Any = None) -> tuple:
    """
    BatchNorm1d backward from the forward's X, weight (or None), mean and var.
    
    ``dweight = sum(dY * xhat, 0)``, ``dbias = sum(dY, 0)`` with ``xhat = (X - mean) / sqrt(var + eps)``;
    batch_stats=True (train mode): ``dX = weight / sqrt(var + eps) * (dY - dbias/n - xhat * dweight/n)``;
    False (running statistics): ``dX = dY * weight / sqrt(var + eps)``. Returns ``(dX, dweight, dbias)``.
    """
def batchnorm_forward(X: typing.Any, weight: typing.Any = None, bias: typing.Any = None, running_mean: typing.Any = None, running_var: typing.Any = None, *, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05, out: typing.Any = None) -> tuple:
    """
    BatchNorm1d forward over the rows of X (n, c), as ``torch.nn.functional.batch_norm``:
    ``Y = (X - mean) / sqrt(var + eps) * weight + bias`` per column.
    
    With ``running_mean``/``running_var`` None, mean and var are this batch's (the biased variance;
    train mode, n >= 2); given, those (eval mode). The running statistics are not updated here.
    
    Args:
        X: (n, c) float32/float64. weight, bias: (c,) or None (1 and 0). running_mean, running_var:
        (c,) or both None. eps: >= 0. out: optional (n, c) array for Y (may be X).
    Returns:
        (Y, mean, var): the statistics used, (c,) each.
    """
def bce_with_logits(logits: typing.Any, targets: typing.Any, *, pos_weight: typing.Any = None, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean binary cross-entropy on logits, stable for any |logits|; targets of the logits' shape
    (float of the same dtype, or integer/bool 0/1). Returns ``(loss: float, (sigmoid(z) - t) / N)``.
    pos_weight (last axis,) or (1,) as in ``torch.nn.BCEWithLogitsLoss``; sample_weight (n,) >= 0
    weights the rows: ``sum(s_i l_i) / sum(s_i)`` with l_i the mean over row i.
    """
def blas_config() -> str:
    """
    OpenBLAS build configuration string.
    """
def blas_corename() -> str:
    """
    The CPU kernel OpenBLAS selected.
    """
def csr_linear_backward(indptr: typing.Any, indices: typing.Any, data: typing.Any, dZ: typing.Any, n_features: typing.SupportsInt | typing.SupportsIndex, *, out: typing.Any = None) -> tuple:
    """
    Dense layer backward for ``Z = X @ W + b`` with a CSR ``X``: ``dW = X.T @ dZ``, ``db = dZ.sum(0)``
    (no dX: a sparse X is the data itself).
    """
def csr_linear_forward(indptr: typing.Any, indices: typing.Any, data: typing.Any, W: typing.Any, b: typing.Any = None, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Dense layer forward on a CSR input: ``Z = X @ W + b`` with ``X`` given by its CSR arrays.
    """
def dropout(X: typing.Any, p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.Any, counter: typing.Any, *, out: typing.Any = None) -> tuple:
    """
    Inverted dropout, train mode: ``A = X * mask / (1 - p)``; returns ``(A, mask)``.
    
    The mask is a pure function of ``(seed, counter, element index)`` (a splitmix64 hash, see
    ``fastgd.reference.dropout``): the same arguments always give the same mask, here, in the NumPy
    twin and in the fused training step. Each element is kept with probability ``1 - p``.
    
    Args:
        X: float32/float64, any shape. p: drop probability in [0, 1). seed: int in [0, 2**64).
        counter: int in [0, 2**63), the layer's call number. out: optional array for A (may be X).
    Returns:
        (A, mask): A of X's shape and dtype; mask a bool array (True: kept).
    """
def dropout_backward(mask: typing.Any, dA: typing.Any, p: typing.SupportsFloat | typing.SupportsIndex, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Dropout backward: ``dX = dA * mask / (1 - p)`` with the bool mask dropout returned.
    """
def elu(Z: typing.Any, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    ELU as torch: ``z if z > 0 else alpha * (exp(z) - 1)``. Any shape.
    """
def elu_backward(Z: typing.Any, dA: typing.Any, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    ELU backward from the input Z: ``dZ = dA if z > 0 else dA * alpha * exp(z)``.
    """
def gelu(Z: typing.Any, approximate: str = 'none', *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    GELU as torch: ``z/2 * (1 + erf(z/sqrt(2)))``, or with approximate='tanh' ``z/2 * (1 + tanh(sqrt(2/pi) * (z + 0.044715 z**3)))``. Any shape.
    """
def gelu_backward(Z: typing.Any, dA: typing.Any, approximate: str = 'none', *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    GELU backward from the input Z: ``dZ = dA * (Phi(z) + z * phi(z))`` (tanh form: torch's derivative).
    """
def get_num_threads() -> int:
    """
    The number of threads fastgd's OpenBLAS uses.
    """
def huber(pred: typing.Any, target: typing.Any, delta: typing.SupportsFloat | typing.SupportsIndex = 1.0, *, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean Huber loss (``torch.nn.HuberLoss``): ``0.5 r**2`` where ``|r| < delta`` else
    ``delta (|r| - 0.5 delta)``, r = p - t, delta > 0; gradient ``clip(r, -delta, delta) / N``.
    sample_weight as for mse.
    """
def l1(pred: typing.Any, target: typing.Any, *, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean absolute error and its gradient ``sign(p - t) / N`` (``torch.nn.L1Loss``); sample_weight as for mse.
    """
def layernorm_backward(X: typing.Any, weight: typing.Any, mean: typing.Any, var: typing.Any, dY: typing.Any, *, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05, out: typing.Any = None) -> tuple:
    """
    LayerNorm backward from the forward's X, weight (or None) and per-row mean, var.
    
    With ``g = dY * weight`` and ``xhat = (X - mean) / sqrt(var + eps)`` per row:
    ``dX = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)`` (means over the row),
    ``dweight = sum(dY * xhat, 0)``, ``dbias = sum(dY, 0)``. Returns ``(dX, dweight, dbias)``.
    """
def layernorm_forward(X: typing.Any, weight: typing.Any = None, bias: typing.Any = None, *, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05, out: typing.Any = None) -> tuple:
    """
    LayerNorm forward over the columns of each row of X (n, c), as ``torch.nn.functional.layer_norm``:
    ``Y = (X - mean) / sqrt(var + eps) * weight + bias`` with per-row mean and biased var.
    
    Args:
        X: (n, c). weight, bias: (c,) or None. eps: >= 0. out: optional (n, c) array for Y (may be X).
    Returns:
        (Y, mean, var) with mean, var of shape (n,).
    """
def leaky_relu(Z: typing.Any, slope: typing.SupportsFloat | typing.SupportsIndex = 0.01, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Leaky ReLU: ``Z where Z > 0 else slope * Z``.
    """
def leaky_relu_backward(Z: typing.Any, dA: typing.Any, slope: typing.SupportsFloat | typing.SupportsIndex = 0.01, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Leaky ReLU backward from the input Z: ``dA where Z > 0 else slope * dA``.
    """
def linear_backward(X: typing.Any, W: typing.Any, dZ: typing.Any, *, need_dx: bool = True, out: typing.Any = None) -> tuple:
    """
    Dense layer backward for ``Z = X @ W + b``: ``dX = dZ @ W.T``, ``dW = X.T @ dZ``, ``db = dZ.sum(0)``.
    
    Args:
        X: (n, in). W: (in, out). dZ: (n, out). All one float dtype.
        need_dx: False skips dX (returned as None), e.g. for a first layer.
        out: optional tuple (dX, dW, db) of arrays (entries may be None) to write into.
    Returns:
        (dX, dW, db) with shapes (n, in), (in, out), (out,). db is summed in double precision.
    """
def linear_forward(X: typing.Any, W: typing.Any, b: typing.Any = None, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Dense layer forward: ``Z = X @ W + b`` (one GEMM, the bias fused in as its C operand).
    
    Args:
        X: (n, in) float32/float64. W: (in, out), same dtype. b: (out,) or None.
        out: optional C-contiguous (n, out) array to write into.
    Returns:
        Z: (n, out), the dtype of X.
    
    Example:
        >>> Z = fastgd.ops.linear_forward(X, W, b)
    """
def mse(pred: typing.Any, target: typing.Any, *, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean squared error over all elements and its gradient: ``(mean((p - t)**2), 2 (p - t) / N)``.
    sample_weight (n,) >= 0 weights the rows (first axis): ``sum(s_i l_i) / sum(s_i)``, l_i the row's mean.
    """
def mse_gradient(weights: typing.Any, features: typing.Any, targets: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Average MSE gradient of the linear model ``features @ weights[1:] + weights[0]`` in one pass.
    
    weights: (d+1,) bias first; features: (n, d) or (n,) for one feature; targets: (n,).
    Returns the gradient, shape of weights: ``(2/n) [sum(r), features.T @ r]`` with residuals r.
    """
def nadam_step(param: typing.Any, grad: typing.Any, exp_avg: typing.Any, exp_avg_sq: typing.Any, *, step: typing.SupportsInt | typing.SupportsIndex, mu_product: typing.SupportsFloat | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex = 0.002, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, momentum_decay: typing.SupportsFloat | typing.SupportsIndex = 0.004, decoupled: bool = False) -> None:
    """
    One ``torch.optim.NAdam`` update in place; ``step`` counted after incrementing and ``mu_product``
    the product of mu_1..mu_step (this step's included), ``mu_t = beta1*(1 - 0.5*0.96**(t*momentum_decay))``.
    ``m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g; d = sqrt(v/(1-beta2**t)) + eps;
    p -= lr*(1-mu_t)/(1-mu_product) * g/d + lr*mu_{t+1}/(1-mu_product*mu_{t+1}) * m/d``.
    """
def poisson_nll(pred: typing.Any, target: typing.Any, *, log_input: bool = True, full: bool = False, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss``): ``exp(p) - t p`` (log_input)
    or ``p - t log(p + eps)``; full adds Stirling's ``t log t - t + 0.5 log(2 pi t)`` where t > 1.
    sample_weight as for mse.
    """
def radam_step(param: typing.Any, grad: typing.Any, exp_avg: typing.Any, exp_avg_sq: typing.Any, *, step: typing.SupportsInt | typing.SupportsIndex, lr: typing.SupportsFloat | typing.SupportsIndex = 0.001, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, decoupled: bool = False) -> None:
    """
    One ``torch.optim.RAdam`` update in place; ``step`` counted after incrementing. With
    ``rho_inf = 2/(1-beta2) - 1`` and ``rho_t = rho_inf - 2*t*beta2**t/(1-beta2**t)``: ``rho_t > 5`` applies
    the rectified adaptive step ``lr*m/(1-beta1**t) * r_t*sqrt(1-beta2**t)/(sqrt(v) + eps)``, else
    ``lr*m/(1-beta1**t)``.
    """
def relu(Z: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    ReLU ``max(Z, 0)`` elementwise (NaN stays NaN). Any shape; out may be Z (in place).
    """
def relu_backward(Z: typing.Any, dA: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    ReLU backward from the layer *input* Z: ``dZ = dA where Z > 0 else 0``.
    """
def rmsprop_step(param: typing.Any, grad: typing.Any, square_avg: typing.Any, grad_avg: typing.Any = None, momentum_buffer: typing.Any = None, *, lr: typing.SupportsFloat | typing.SupportsIndex = 0.01, alpha: typing.SupportsFloat | typing.SupportsIndex = 0.99, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
    """
    One ``torch.optim.RMSprop`` update in place, in one pass: ``g = grad + wd*p;
    sq = alpha*sq + (1-alpha)*g*g``; ``grad_avg`` given (centered): ``grad_avg = lerp(grad_avg, g, 1-alpha)``,
    ``avg = sqrt(sq - grad_avg**2) + eps``, else ``avg = sqrt(sq) + eps``; momentum != 0 (needs
    ``momentum_buffer``): ``buf = momentum*buf + g/avg; p -= lr*buf``, else ``p -= lr*g/avg``.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the number of threads fastgd's OpenBLAS uses.
    """
def sgd_step(param: typing.Any, grad: typing.Any, momentum_buffer: typing.Any = None, *, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0, dampening: typing.SupportsFloat | typing.SupportsIndex = 0.0, nesterov: bool = False, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, init_buffer: bool = False) -> None:
    """
    One ``torch.optim.SGD`` update in place on param (and momentum_buffer), in one pass:
    ``g = grad + wd*p; buf = g if init_buffer else mu*buf + (1-dampening)*g;
    g = g + mu*buf if nesterov else buf; p -= lr*g`` (momentum 0: ``p -= lr*g``).
    """
def sigmoid(Z: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Logistic sigmoid, overflow-free for any finite Z (``e = exp(-|z|)``). Any shape.
    """
def sigmoid_backward(A: typing.Any, dA: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Sigmoid backward from the *output* A: ``dZ = dA * A * (1 - A)``.
    """
def silu(Z: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    SiLU ``z * sigmoid(z)``, overflow-free. Any shape.
    """
def silu_backward(Z: typing.Any, dA: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    SiLU backward from the input Z: ``dZ = dA * s * (1 + z * (1 - s))``, s = sigmoid(z).
    """
def smooth_l1(pred: typing.Any, target: typing.Any, beta: typing.SupportsFloat | typing.SupportsIndex = 1.0, *, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean smooth L1 loss (``torch.nn.SmoothL1Loss``): ``0.5 r**2 / beta`` where ``|r| < beta`` else
    ``|r| - 0.5 beta``, beta >= 0 (0: L1); gradient ``clip(r / beta, -1, 1) / N``. sample_weight as for mse.
    """
def softmax(Z: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Row-wise softmax of logits Z (n, c) or (c,), shifted by the row max: stable for any logits.
    """
def softmax_backward(P: typing.Any, dA: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Row-wise softmax backward from the *output* P (c,) or (n, c): ``dZ = P * (dA - sum(dA * P, -1))``.
    """
def softmax_cross_entropy(logits: typing.Any, labels: typing.Any, *, weight: typing.Any = None, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0, sample_weight: typing.Any = None, out: typing.Any = None) -> tuple:
    """
    Mean softmax cross-entropy on logits (n, c) and its gradient, in one pass per row.
    
    labels: integer class indices (n,) of any integer dtype in [0, c), or probabilities (n, c) of the
    logits' dtype. Returns ``(loss: float, dlogits)`` with ``dlogits = (softmax * sum(t) - t) / n``.
    weight (c,) and label_smoothing in [0, 1] as in ``torch.nn.CrossEntropyLoss`` (with labels the
    mean is divided by the sum of the labels' weights); sample_weight (n,) >= 0: the loss is
    ``sum(s_i l_i) / sum(s_i weight[y_i])`` (probabilities: ``/ sum(s_i)``), 0 when that is 0.
    """
def softplus(Z: typing.Any, beta: typing.SupportsFloat | typing.SupportsIndex = 1.0, threshold: typing.SupportsFloat | typing.SupportsIndex = 20.0, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Softplus as torch: ``log(1 + exp(beta * z)) / beta``, ``z`` where ``beta * z > threshold``; overflow-free. Any shape.
    """
def softplus_backward(Z: typing.Any, dA: typing.Any, beta: typing.SupportsFloat | typing.SupportsIndex = 1.0, threshold: typing.SupportsFloat | typing.SupportsIndex = 20.0, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Softplus backward from the input Z: ``dZ = dA * sigmoid(beta * z)``, ``dA`` where ``beta * z > threshold``.
    """
def tanh(Z: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Hyperbolic tangent elementwise. Any shape.
    """
def tanh_backward(A: typing.Any, dA: typing.Any, *, out: typing.Any = None) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]:
    """
    Tanh backward from the *output* A: ``dZ = dA * (1 - A**2)``.
    """
__version__: str = '0.1.0'
