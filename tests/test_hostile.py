"""Hostile inputs for every ops function: each is a correct result or a clear ValueError/TypeError
naming the argument (never a crash, never a silent dtype change)."""

import numpy as np
import pytest
from fastgd import ops, reference

f32, f64 = np.float32, np.float64


def a(*shape, dtype=f64):
    return np.ones(shape, dtype)


# (call, expected exception, regex the message must match)
CASES = {
    # non-arrays / None / wrong dtype kinds
    "relu-list": (lambda: ops.relu([1.0, 2.0]), TypeError, r"relu: Z .*list"),
    "relu-None": (lambda: ops.relu(None), TypeError, r"relu: Z .*NoneType"),
    "relu-int": (lambda: ops.relu(np.ones(3, np.int64)), TypeError, r"relu: Z must be float32 or float64, got int64"),
    "relu-complex": (lambda: ops.relu(np.ones(3, complex)), TypeError, r"complex128"),
    "relu-object": (lambda: ops.relu(np.array([1.0, None])), TypeError, r"object"),
    "relu-bool": (lambda: ops.relu(np.ones(3, bool)), TypeError, r"bool"),
    "relu-f16": (lambda: ops.relu(np.ones(3, np.float16)), TypeError, r"float16"),
    "sigmoid-str": (lambda: ops.sigmoid("abc"), TypeError, r"sigmoid: Z .*str"),
    # mixed dtypes name both
    "linear-mixed": (lambda: ops.linear_forward(a(3, 4, dtype=f32), a(4, 2), None), TypeError, r"X float32 and W float64"),
    "linear-mixed-b": (lambda: ops.linear_forward(a(3, 4), a(4, 2), a(2, dtype=f32)), TypeError, r"float64 and b float32"),
    "relu_bw-mixed": (lambda: ops.relu_backward(a(3), a(3, dtype=f32)), TypeError, r"Z float64 and dA float32"),
    "mse-mixed": (lambda: ops.mse(a(3), a(3, dtype=f32)), TypeError, r"pred float64 and target float32"),
    "bce-mixed": (lambda: ops.bce_with_logits(a(3, dtype=f32), a(3)), TypeError, r"logits float32 and targets float64"),
    "mseg-mixed": (lambda: ops.mse_gradient(a(3), a(5, 2, dtype=f32), a(5)), TypeError, r"weights float64 and features float32"),
    "sce-probs-mixed": (lambda: ops.softmax_cross_entropy(a(2, 3), a(2, 3, dtype=f32)), TypeError, r"float64 and labels float32"),
    # ndim and shapes
    "linear-X-1d": (lambda: ops.linear_forward(a(4), a(4, 2)), ValueError, r"X must be 2-D .*got shape \(4,\)"),
    "linear-W-shape": (lambda: ops.linear_forward(a(3, 5), a(4, 2)), ValueError, r"W must have shape .*\(5, \*\).*\(3, 5\).*\(4, 2\)"),
    "linear-b-shape": (lambda: ops.linear_forward(a(3, 4), a(4, 2), a(3)), ValueError, r"b must have shape \(out_features,\) = \(2,\).*got shape \(3,\)"),
    "linear_bw-dZ": (lambda: ops.linear_backward(a(3, 4), a(4, 2), a(3, 3)), ValueError, r"dZ must have shape .*\(3, 2\).*got shape \(3, 3\)"),
    "linear_bw-out": (lambda: ops.linear_backward(a(3, 4), a(4, 2), a(3, 2), out=[1, 2]), TypeError, r"out must be a tuple"),
    "relu_bw-shape": (lambda: ops.relu_backward(a(3, 2), a(2, 3)), ValueError, r"dA must have the shape of Z \(3, 2\), got shape \(2, 3\)"),
    "sigmoid_bw-shape": (lambda: ops.sigmoid_backward(a(3), a(4)), ValueError, r"dA .*A \(3,\).*\(4,\)"),
    "softmax-3d": (lambda: ops.softmax(a(2, 2, 2)), ValueError, r"softmax: Z must be 1-D .* or 2-D .*\(2, 2, 2\)"),
    "sce-1d-logits": (lambda: ops.softmax_cross_entropy(a(3), np.zeros(3, int)), ValueError, r"logits must be 2-D"),
    "sce-labels-len": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(4, int)), ValueError, r"labels must have shape \(n_samples,\) = \(3,\).*\(4,\)"),
    "sce-probs-shape": (lambda: ops.softmax_cross_entropy(a(3, 2), a(3, 3)), ValueError, r"labels must have the shape of logits \(3, 2\)"),
    "sce-labels-3d": (lambda: ops.softmax_cross_entropy(a(3, 2), a(3, 2, 1)), ValueError, r"labels must be 1-D"),
    "bce-shape": (lambda: ops.bce_with_logits(a(3, 1), a(3)), ValueError, r"targets must have the shape of logits \(3, 1\), got shape \(3,\)"),
    "mse-shape": (lambda: ops.mse(a(3, 1), a(3)), ValueError, r"target must have the shape of pred"),
    "mseg-weights": (lambda: ops.mse_gradient(a(3), a(5, 3), a(5)), ValueError, r"weights must have shape \(n_features \+ 1,\) = \(4,\).*got shape \(3,\)"),
    "mseg-targets": (lambda: ops.mse_gradient(a(4), a(5, 3), a(6)), ValueError, r"targets must have shape \(n_samples,\) = \(5,\).*\(6,\)"),
    "mseg-3d": (lambda: ops.mse_gradient(a(4), a(5, 3, 1), a(5)), ValueError, r"features must be 1-D .* or 2-D"),
    # labels
    "sce-label-high": (lambda: ops.softmax_cross_entropy(a(3, 4), np.array([0, 4, 1])), ValueError, r"labels must be class indices in \[0, 4\).*got 4 at index 1"),
    "sce-label-neg": (lambda: ops.softmax_cross_entropy(a(3, 4), np.array([0, -1, 1], np.int8)), ValueError, r"got -1 at index 1"),
    "sce-label-u64": (lambda: ops.softmax_cross_entropy(a(1, 4), np.array([2**63 + 5], np.uint64)), ValueError, r"got 9223372036854775813 at index 0"),
    "sce-label-float": (lambda: ops.softmax_cross_entropy(a(3, 4), np.zeros(3)), TypeError, r"labels .*integer class indices.*got float64.*astype\(int\)"),
    "sce-label-list": (lambda: ops.softmax_cross_entropy(a(3, 4), [0, 1, 2]), TypeError, r"labels must be a numpy.ndarray"),
    "sce-label-bool": (lambda: ops.softmax_cross_entropy(a(3, 4), np.zeros(3, bool)), TypeError, r"got bool"),
    # loss options and weights
    "sw-shape": (lambda: ops.mse(a(3, 2), a(3, 2), sample_weight=a(2)), ValueError, r"mse: sample_weight must have shape \(n_samples,\) = \(3,\) to match pred \(3, 2\), got shape \(2,\)"),
    "sw-2d": (lambda: ops.l1(a(3), a(3), sample_weight=a(3, 1)), ValueError, r"l1: sample_weight must have shape \(n_samples,\) = \(3,\).*got shape \(3, 1\)"),
    "sw-negative": (lambda: ops.huber(a(3), a(3), sample_weight=np.array([1.0, -1.0, 1.0])), ValueError, r"huber: sample_weight must be finite and >= 0, got -1.0 at index 1"),
    "sw-nan": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(3, int), sample_weight=np.array([1.0, 1.0, np.nan])), ValueError, r"sample_weight must be finite and >= 0, got nan at index 2"),
    "sw-inf": (lambda: ops.bce_with_logits(a(2, 2), a(2, 2), sample_weight=np.array([np.inf, 1.0])), ValueError, r"bce_with_logits: sample_weight must be finite and >= 0, got inf at index 0"),
    "sw-dtype": (lambda: ops.smooth_l1(a(3), a(3), sample_weight=a(3, dtype=f32)), TypeError, r"pred and sample_weight must have the same dtype, got pred float64 and sample_weight float32"),
    "sw-int": (lambda: ops.poisson_nll(a(3), a(3), sample_weight=np.ones(3, int)), TypeError, r"poisson_nll: sample_weight must be float32 or float64, got int64"),
    "sw-list": (lambda: ops.mse(a(3), a(3), sample_weight=[1.0, 1.0, 1.0]), TypeError, r"mse: sample_weight must be a float32 or float64 numpy.ndarray, got list"),
    "ce-weight-shape": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(3, int), weight=a(3)), ValueError, r"weight must have shape \(classes,\) = \(2,\) to match logits \(3, 2\), got shape \(3,\)"),
    "ce-weight-neg": (lambda: ops.softmax_cross_entropy(a(3, 2), a(3, 2) / 2, weight=np.array([1.0, -2.0])), ValueError, r"weight must be finite and >= 0, got -2.0 at index 1"),
    "ce-weight-dtype": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(3, int), weight=a(2, dtype=f32)), TypeError, r"logits and weight must have the same dtype"),
    "ce-smoothing": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(3, int), label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\], got 1.5"),
    "ce-smoothing-nan": (lambda: ops.softmax_cross_entropy(a(3, 2), np.zeros(3, int), label_smoothing=float("nan")), ValueError, r"label_smoothing must be in \[0, 1\], got nan"),
    "bce-pos-weight-shape": (lambda: ops.bce_with_logits(a(3, 2), a(3, 2), pos_weight=a(3)), ValueError, r"pos_weight must have shape \(2,\) \(the last axis\) or \(1,\) to match logits \(3, 2\), got shape \(3,\)"),
    "bce-pos-weight-1d": (lambda: ops.bce_with_logits(a(3), a(3), pos_weight=a(3)), ValueError, r"pos_weight must have shape \(1,\)"),
    "bce-pos-weight-neg": (lambda: ops.bce_with_logits(a(3, 2), a(3, 2), pos_weight=np.array([1.0, -1.0])), ValueError, r"pos_weight must be finite and >= 0"),
    "huber-delta": (lambda: ops.huber(a(3), a(3), 0.0), ValueError, r"huber: delta must be > 0, got 0.0"),
    "smooth-l1-beta": (lambda: ops.smooth_l1(a(3), a(3), -1.0), ValueError, r"smooth_l1: beta must be >= 0, got -1.0"),
    "poisson-eps": (lambda: ops.poisson_nll(a(3), a(3), eps=float("nan")), ValueError, r"poisson_nll: eps must be finite and >= 0, got nan"),
    "l1-mixed": (lambda: ops.l1(a(3), a(3, dtype=f32)), TypeError, r"l1: pred and target must have the same dtype, got pred float64 and target float32"),
    "huber-shape": (lambda: ops.huber(a(3, 1), a(3)), ValueError, r"huber: target must have the shape of pred \(3, 1\), got shape \(3,\)"),
    "poisson-list": (lambda: ops.poisson_nll([1.0], a(1)), TypeError, r"poisson_nll: pred must be a float32 or float64 numpy.ndarray, got list"),
    "sw-out-alias": (lambda: _sw_out_alias(), ValueError, r"out must not share memory with sample_weight"),
    # out=
    "out-shape": (lambda: ops.relu(a(3), out=a(4)), ValueError, r"out must have shape \(3,\), got \(4,\)"),
    "out-dtype": (lambda: ops.relu(a(3), out=a(3, dtype=f32)), TypeError, r"out must be float64, got float32"),
    "out-noncontig": (lambda: ops.relu(a(3), out=a(6)[::2]), ValueError, r"out must be C-contiguous"),
    "out-list": (lambda: ops.sigmoid(a(3), out=[0, 0, 0]), TypeError, r"out must be a numpy.ndarray"),
    "out-readonly": (lambda: ops.tanh(a(3), out=np.zeros(3).setflags(write=False) or _ro()), ValueError, r"read-only"),
    "out-overlap-gemm": (lambda: _overlap_gemm(), ValueError, r"overlaps an input"),
    "out-partial-overlap": (lambda: _partial_overlap(), ValueError, r"only an exact in-place alias"),
    "sce-out-labels": (lambda: _sce_out_alias(), ValueError, r"must not share memory with labels"),
    "out-unaligned": (lambda: ops.relu(a(3), out=_unaligned(np.zeros(3))), ValueError, r"relu: out is not aligned to its dtype float64"),
    "sgd-unaligned": (lambda: ops.sgd_step(_unaligned(a(3)), a(3), lr=0.1), ValueError, r"sgd_step: param is not aligned"),
    # optimizer kernels
    "sgd-readonly": (lambda: ops.sgd_step(_ro(), a(3), lr=0.1), ValueError, r"sgd_step: param is read-only"),
    "sgd-noncontig": (lambda: ops.sgd_step(a(6)[::2], a(3), lr=0.1), ValueError, r"param must be C-contiguous"),
    "sgd-no-buffer": (lambda: ops.sgd_step(a(3), a(3), lr=0.1, momentum=0.9), ValueError, r"momentum_buffer is required"),
    "sgd-grad-shape": (lambda: ops.sgd_step(a(3), a(4), lr=0.1), ValueError, r"grad must have the shape of param \(3,\)"),
    "sgd-grad-dtype": (lambda: ops.sgd_step(a(3), a(3, dtype=f32), lr=0.1), TypeError, r"param float64 and grad float32"),
    "adam-step0": (lambda: ops.adam_step(a(3), a(3), a(3), a(3), step=0), ValueError, r"step must be >= 1"),
    "adam-state-shape": (lambda: ops.adam_step(a(3), a(3), a(2), a(3), step=1), ValueError, r"exp_avg must have the shape of param"),
    "rmsprop-no-buffer": (lambda: ops.rmsprop_step(a(3), a(3), a(3), momentum=0.9), ValueError, r"rmsprop_step: momentum_buffer is required when momentum != 0"),
    "rmsprop-grad_avg-shape": (lambda: ops.rmsprop_step(a(3), a(3), a(3), a(4)), ValueError, r"rmsprop_step: grad_avg must have the shape of param \(3,\), got shape \(4,\)"),
    "rmsprop-sq-dtype": (lambda: ops.rmsprop_step(a(3), a(3), a(3, dtype=f32)), TypeError, r"rmsprop_step: param and square_avg must have the same dtype, got param float64 and square_avg float32"),
    "rmsprop-alias": (lambda: (lambda x: ops.rmsprop_step(a(3), a(3), x, x))(a(3)), ValueError, r"rmsprop_step: grad_avg must not share memory with square_avg"),
    "adagrad-step0": (lambda: ops.adagrad_step(a(3), a(3), a(3), step=0), ValueError, r"adagrad_step: step must be >= 1"),
    "adagrad-sum-readonly": (lambda: ops.adagrad_step(a(3), a(3), _ro(), step=1), ValueError, r"adagrad_step: state_sum is read-only"),
    "adagrad-grad-list": (lambda: ops.adagrad_step(a(3), [1.0, 2.0, 3.0], a(3), step=1), TypeError, r"adagrad_step: grad must be a float32 or float64 numpy.ndarray, got list"),
    "nadam-state-shape": (lambda: ops.nadam_step(a(3), a(3), a(3), a(2, 2), step=1, mu_product=0.9), ValueError, r"nadam_step: exp_avg_sq must have the shape of param \(3,\), got shape \(2, 2\)"),
    "nadam-noncontig": (lambda: ops.nadam_step(a(3), a(3), a(6)[::2], a(3), step=1, mu_product=0.9), ValueError, r"nadam_step: exp_avg must be C-contiguous"),
    "radam-step-neg": (lambda: ops.radam_step(a(3), a(3), a(3), a(3), step=-2), ValueError, r"radam_step: step must be >= 1 .*got -2"),
    "radam-unaligned": (lambda: ops.radam_step(a(3), a(3), a(3), _unaligned(a(3)), step=1), ValueError, r"radam_step: exp_avg_sq is not aligned"),
    "radam-mixed": (lambda: ops.radam_step(a(3, dtype=f32), a(3, dtype=f32), a(3, dtype=f32), a(3), step=1), TypeError, r"param float32 and exp_avg_sq float64"),
    "leaky-nan-slope": (lambda: ops.leaky_relu(a(3), float("nan")), ValueError, r"slope must be a number"),
    # activations, dropout, normalisation
    "gelu-list": (lambda: ops.gelu([1.0]), TypeError, r"gelu: Z .*list"),
    "gelu-approx": (lambda: ops.gelu(a(3), "fast"), ValueError, r"gelu: approximate must be 'none' or 'tanh', got 'fast'"),
    "silu_bw-mixed": (lambda: ops.silu_backward(a(3, dtype=f32), a(3)), TypeError, r"Z float32 and dA float64"),
    "elu-nan-alpha": (lambda: ops.elu(a(3), float("nan")), ValueError, r"elu: alpha must be a finite number"),
    "softplus-beta0": (lambda: ops.softplus(a(3), 0.0), ValueError, r"softplus: beta must be non-zero"),
    "softmax_bw-shape": (lambda: ops.softmax_backward(a(2, 3), a(2, 4)), ValueError, r"dA must have the shape of P \(2, 3\)"),
    "dropout-p1": (lambda: ops.dropout(a(3), 1.0, 0, 0), ValueError, r"dropout: p must be a probability in \[0, 1\)"),
    "dropout-seed-neg": (lambda: ops.dropout(a(3), 0.5, -1, 0), ValueError, r"dropout: seed must be an int in \[0, 2\*\*64\)"),
    "dropout-seed-float": (lambda: ops.dropout(a(3), 0.5, 0.5, 0), TypeError, r"dropout: seed must be an int"),
    "dropout_bw-mask-dtype": (lambda: ops.dropout_backward(a(3), a(3), 0.5), TypeError, r"mask must be a bool array"),
    "dropout_bw-mask-shape": (lambda: ops.dropout_backward(np.ones(2, bool), a(3), 0.5), ValueError, r"mask must have the shape of dA \(3,\)"),
    "bn-1-sample": (lambda: ops.batchnorm_forward(a(1, 3)), ValueError, r"batchnorm_forward: batch statistics need more than 1 value"),
    "bn-weight-shape": (lambda: ops.batchnorm_forward(a(4, 3), a(4)), ValueError, r"weight must have shape \(num_features,\) = \(3,\)"),
    "bn-running-half": (lambda: ops.batchnorm_forward(a(4, 3), None, None, None, a(3)), ValueError, r"running_mean and running_var must be given together"),
    "bn-mixed": (lambda: ops.batchnorm_forward(a(4, 3), a(3, dtype=f32)), TypeError, r"X float64 and weight float32"),
    "bn_bw-dY": (lambda: ops.batchnorm_backward(a(4, 3), None, a(3), a(3), a(4, 2)), ValueError, r"dY must have the shape of X \(4, 3\)"),
    "ln-1d": (lambda: ops.layernorm_forward(a(3)), ValueError, r"layernorm_forward: X must be 2-D"),
    "ln_bw-var": (lambda: ops.layernorm_backward(a(4, 3), None, a(4), a(3), a(4, 3)), ValueError, r"var must have shape \(n_samples,\) = \(4,\)"),
    "ln-eps": (lambda: ops.layernorm_forward(a(4, 3), eps=-1e-5), ValueError, r"eps must be a finite number >= 0"),
}


def _unaligned(x):
    """A copy of x that starts one byte past an aligned address (NumPy's aligned flag is False)."""
    raw = np.zeros(x.nbytes + 1, np.uint8)
    view = raw[1:].view(x.dtype).reshape(x.shape)
    view[...] = x
    assert not view.flags.aligned
    return view


def _ro():
    x = np.zeros(3)
    x.setflags(write=False)
    return x


def _overlap_gemm():
    X = np.ones((4, 4))
    return ops.linear_forward(X, np.eye(4), None, out=X)


def _partial_overlap():
    x = np.ones(6)
    return ops.relu(x[:5], out=x[1:])


def _sw_out_alias():
    w = np.ones(3)
    return ops.mse(np.ones(3), np.zeros(3), sample_weight=w, out=w)


def _sce_out_alias():
    t = np.full((2, 3), 1 / 3)
    return ops.softmax_cross_entropy(np.ones((2, 3)), t, out=t)


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_raises_clear_error(case):
    call, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern):
        call()


def test_in_place_aliases_are_correct():
    z = np.linspace(-3, 3, 7)
    want = 1 / (1 + np.exp(-z))
    assert ops.sigmoid(z, out=z) is z
    np.testing.assert_allclose(z, want, rtol=1e-15)
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    y = np.array([2, 0])
    loss, d = ops.softmax_cross_entropy(logits.copy(), y)
    l2 = logits.copy()
    loss2, d2 = ops.softmax_cross_entropy(l2, y, out=l2)  # gradient written over the logits
    assert loss2 == loss and d2 is l2
    np.testing.assert_array_equal(d2, d)


def test_numpy_scalars_are_0d_arrays():
    assert ops.relu(np.float32(-2.0)).dtype == np.float32
    assert float(ops.sigmoid(np.float64(0.0))) == 0.5
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.relu(np.int64(3))


def test_unaligned_inputs_are_copied_and_correct():
    rng = np.random.default_rng(0)
    X, W, b = (rng.standard_normal(s) for s in [(7, 5), (5, 3), (3,)])
    labels = np.array([0, 1, 2, 1, 0, 2, 1])
    for dtype in (f32, f64):
        Xd, Wd, bd = (v.astype(dtype) for v in (X, W, b))
        Z = ops.linear_forward(_unaligned(Xd), _unaligned(np.asfortranarray(Wd)), _unaligned(bd))
        np.testing.assert_allclose(Z, Xd @ Wd + bd, rtol=1e-5)
        loss, d = ops.softmax_cross_entropy(_unaligned(Z), _unaligned(labels))
        want_loss, want_d = reference.softmax_cross_entropy(Z, labels)
        assert loss == pytest.approx(want_loss, rel=1e-5) and d.dtype == dtype
        np.testing.assert_allclose(d, want_d, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ops.tanh(_unaligned(Xd)), np.tanh(Xd), rtol=1e-5)
