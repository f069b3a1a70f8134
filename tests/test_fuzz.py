"""Fuzzing every ``fastgd.ops`` kernel, ``Net`` forward/backward and ``Trainer.step`` (hypothesis).

Each fuzz case is one call built from a table entry (``KERNELS``: the arguments' roles and shape
templates, the ``out=`` shape, the tolerance scale) and then made hostile by a few drawn
mutations: shapes (0 rows/cols, wrong/missing/extra dimensions), dtypes (f32, f64, mixed, int,
complex, bool, object, float16, longdouble, non-native byte order), memory layouts (C, Fortran,
stepped and negative strides, stride 0, read-only, unaligned, 0-d NumPy scalars), NaN/inf/-0/
subnormal values, bad labels and ``out=`` arguments (wrong shape/dtype/layout, read-only, exact
and partial aliasing of inputs and of each other).

An oracle derived from SPEC.md decides what the call must do: run and equal ``fastgd.reference``
(same NaN/inf positions, a tolerance scaled to the dtype and to the magnitude of the terms), or
raise ``ValueError``/``TypeError`` naming the function, leaving every argument untouched. Where
memory is shared in ways the contract does not define (an ``out`` that partially overlaps an
input), either is accepted, but never a wrong answer. Any other exception, a crash or a mismatch
fails the test.

Examples per test: ``FASTGD_FUZZ_EXAMPLES`` (default 200, derandomized: no fresh randomness from
run to run, for CI); a larger value is the long fuzz run and draws fresh random cases each time
(a failure prints the ``@reproduce_failure`` blob that replays it), e.g.

    FASTGD_FUZZ_EXAMPLES=20000 python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

The number of cases run is printed in pytest's terminal summary.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fastgd as fg
import numpy as np
import pytest
from fastgd import ops
from fastgd import reference as ref
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

DEFAULT_EXAMPLES = 200
EXAMPLES = int(os.environ.get("FASTGD_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
LONG_RUN = EXAMPLES > DEFAULT_EXAMPLES
settings.register_profile(
    "fastgd-fuzz", max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
    print_blob=True, phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example])
FUZZ = settings.get_profile("fastgd-fuzz")

# ------------------------------------------------------------------------- case counting

COUNTS: Counter[str] = Counter()


class _FuzzSummary:
    """Prints how many fuzz cases ran at the end of the pytest run."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        cases = COUNTS["compared"] + COUNTS["raised"]
        if cases:
            terminalreporter.write_sep(
                "-", f"fastgd fuzz: {cases} cases ran ({COUNTS['compared']} results checked against "
                     f"the reference, {COUNTS['raised']} raised ValueError/TypeError) at "
                     f"FASTGD_FUZZ_EXAMPLES={EXAMPLES}")


@pytest.fixture(scope="module", autouse=True)
def _fuzz_summary(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("fastgd-fuzz-summary"):
        manager.register(_FuzzSummary(), "fastgd-fuzz-summary")
    yield


# ------------------------------------------------------------------------- values, layouts

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F32, F64)
INTS = [np.dtype(t) for t in (np.int64, np.int32, np.int8, np.uint8, np.uint64, np.intp)] + [np.dtype(">i4")]
# Everything a float argument must refuse (TypeError); bce targets accept the integer/bool ones.
BAD_DTYPES = INTS + [np.dtype(t) for t in (np.bool_, np.complex64, np.complex128, np.float16,
                                           np.longdouble, object)] + [np.dtype(">f8"), np.dtype(">f4")]
SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0]


def values(rng, shape, dtype, scale, special, nonneg=False, pool=None):
    """Uniform values in [-scale, scale] with a fraction ``special`` of NaN/±inf/±0/subnormals."""
    a = np.asarray(rng.uniform(-scale, scale, shape))
    if special:
        mask = rng.random(shape) < special
        pool = pool or SPECIALS + [float(np.finfo(dtype).smallest_subnormal)]
        a[mask] = rng.choice(pool, int(mask.sum()))
    if nonneg:
        np.abs(a, out=a)
    return a.astype(dtype)


def cast(a, dtype):
    """a as dtype, whatever it holds (values that do not fit become zeros)."""
    try:
        return quiet(a.astype, dtype)
    except (OverflowError, ValueError, TypeError):
        return np.zeros(a.shape, dtype)


LAYOUTS = ["C", "F", "step", "neg", "bcast", "readonly", "unaligned", "scalar"]


def relayout(kind, a, rng):
    """``a``'s values (for "bcast": its first slice repeated) in another memory layout."""
    if not isinstance(a, np.ndarray) or a.dtype == object:
        return a
    if kind == "F" and a.ndim >= 2:
        return np.asfortranarray(a)
    if kind == "step" and a.ndim:
        axis, k = int(rng.integers(a.ndim)), int(rng.integers(2, 4))
        shape = list(a.shape)
        shape[axis] *= k
        big = np.zeros(shape, a.dtype)
        index = [slice(None)] * a.ndim
        index[axis] = slice(None, None, k)
        big[tuple(index)] = a
        return big[tuple(index)]
    if kind == "neg" and a.ndim:
        axis = int(rng.integers(a.ndim))
        return np.flip(np.flip(a, axis).copy(), axis)
    if kind == "bcast" and a.ndim and a.size:
        axis = int(rng.integers(a.ndim))
        return np.broadcast_to(np.take(a, [0], axis=axis), a.shape)
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == "unaligned" and a.itemsize > 1:
        raw = np.zeros(a.nbytes + 1, np.uint8)
        b = raw[1:].view(a.dtype).reshape(a.shape)
        b[...] = a
        return b
    if kind == "scalar" and a.ndim == 0:
        return a[()]  # a NumPy scalar: a 0-d array of its dtype for the kernels
    return a


def unaligned_empty(shape, dtype):
    raw = np.zeros(int(np.prod(shape)) * dtype.itemsize + 1, np.uint8)
    return raw[1:].view(dtype).reshape(shape)


def nonarray(a, kind):
    if kind == "list":
        return np.asarray(a).tolist()
    return {"None": None, "float": 1.5, "int": 3, "str": "abc", "int64": np.int64(2)}[kind]


def arr(a):
    """The array a kernel sees for ``a`` (a float NumPy scalar is a 0-d array), or None."""
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, np.generic) and a.dtype in FLOATS:
        return np.asarray(a)
    return None


def snapshot(a):
    return np.array(a, copy=True) if isinstance(a, np.ndarray | np.generic) else a


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and (
        np.array_equal(a, b, equal_nan=a.dtype.kind in "fc") if a.dtype != object else
        all(x is y or x == y or (x != x and y != y) for x, y in zip(a.ravel(), b.ravel())))


def exact_alias(out, a):
    """out and the input a are the same C-contiguous memory (the in-place case kernels allow)."""
    return (out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
            and out.shape == a.shape and out.dtype == a.dtype and a.flags.c_contiguous)


def overlaps(a, b):
    return a.size > 0 and b.size > 0 and np.may_share_memory(a, b)


# ------------------------------------------------------------------------- the call table


@dataclass(frozen=True)
class Arg:
    """A positional (or keyword) array argument.

    shapes: alternative templates; a template is a tuple of dimension symbols (``"n"``), or
    ``"*"`` for any shape shared by every ``"*"`` argument. role: ``"float"`` (the call's float
    dtype), ``"labels"`` (int class indices (n,) or probabilities (n, c)), ``"targets01"`` (the
    float dtype or integer/bool 0/1), ``"state"`` (float, updated in place: C-contiguous and
    writable). optional: may be None.
    """

    name: str
    shapes: tuple = (("*",),)
    role: str = "float"
    optional: bool = False
    keyword: bool = False
    nonneg: bool = False


@dataclass(frozen=True)
class Kernel:
    """One row of the table: a kernel's arguments, its ``out=`` and how to compare its results."""

    args: tuple[Arg, ...]
    out: Any = ("*",)           # out= shape template(s); None: no out= (in-place optimizers)
    inplace: tuple[str, ...] = ()  # inputs ``out`` may alias exactly
    scalars: dict = field(default_factory=dict)  # keyword -> strategy of (possibly hostile) values
    tol: Any = None             # (inputs, reference outputs) -> magnitude of each output's terms
    big_values: bool = True     # values up to 1e30 (False: products/sums that must not overflow)
    transcendental: bool = False  # vectorised exp/log/tanh: allow a few more ulps and subnormal slack
    out_index: int | None = None  # of several outputs, the one ``out=`` is (None: every array output)


def _abs(a):
    with np.errstate(all="ignore"):
        return np.nan_to_num(np.abs(np.asarray(a, np.float64)), nan=0.0, posinf=0.0, neginf=0.0)


def tol_same(inputs, outputs):
    return [_abs(o) for o in outputs]


def tol_sigmoid_backward(inputs, outputs):
    A, dA = _abs(inputs["A"]), _abs(inputs["dA"])
    return [dA * A * (1 + A)]


def tol_tanh_backward(inputs, outputs):
    A, dA = _abs(inputs["A"]), _abs(inputs["dA"])
    return [dA * (1 + A * A)]


def tol_gelu(inputs, outputs):
    return [_abs(inputs["Z"]) + _abs(outputs[0])]


def tol_grad_times_input(inputs, outputs):
    """Backwards whose terms are dA·O(1 + |z|) (GELU, SiLU)."""
    Z, dA = _abs(inputs["Z"]), _abs(inputs["dA"])
    return [dA * (1 + Z) * 4]


def tol_elu(inputs, outputs):
    return [_abs(outputs[0]) + abs(_num(inputs["alpha"]))]


def tol_elu_backward(inputs, outputs):
    return [_abs(inputs["dA"]) * (1 + abs(_num(inputs["alpha"])))]


def tol_softplus(inputs, outputs):
    b = abs(_num(inputs["beta"])) or 1.0
    return [(_abs(inputs["Z"]) * b + 1) / b * 4]


def tol_dA(inputs, outputs):
    return [_abs(inputs["dA"]) * 4]


def tol_softmax_backward(inputs, outputs):
    P, dA = _abs(inputs["P"]), _abs(inputs["dA"])
    c = np.shape(inputs["P"])[-1]
    return [P * (dA + (P * dA).sum(axis=-1, keepdims=True)) * (c + 4)]


def tol_dropout(inputs, outputs):
    return [_abs(outputs[0]) * 2, None]  # (the mask is compared exactly)


def tol_dropout_backward(inputs, outputs):
    p = _num(inputs["p"])
    return [_abs(inputs["dA"]) / max(1 - p, 1e-3) * 2 if 0 <= p < 1 else _abs(inputs["dA"])]


def _moments(X, mean, var, eps, axis):
    """|X|, |mean| and invstd broadcast along ``axis`` (the statistics' axis), NaN-free."""
    eps = abs(_num(eps)) if isinstance(eps, int | float) else 0.0
    with np.errstate(all="ignore"):
        inv = np.nan_to_num(1 / np.sqrt(_abs(var) + eps), posinf=0.0)
    return _abs(X), np.expand_dims(_abs(mean), axis), np.expand_dims(inv, axis)


def _norm_forward_tol(inputs, outputs, axis):
    X, w, b = inputs["X"], inputs["weight"], inputs["bias"]
    size = max(X.shape[axis], 1) + 4
    ax, am, inv = _moments(X, outputs[1], outputs[2], inputs["eps"], axis)
    w = 1.0 if w is None else _abs(w)
    b = 0.0 if b is None else _abs(b)
    y = (ax + am) * inv * w * size + b
    return [y, _abs(outputs[1]) + (ax.mean(axis=axis) if ax.size else 0) * size,
            ((ax + am) ** 2).mean(axis=axis) * size if ax.size else _abs(outputs[2])]


def tol_batchnorm_forward(inputs, outputs):
    return _norm_forward_tol(inputs, outputs, 0)


def tol_layernorm_forward(inputs, outputs):
    return _norm_forward_tol(inputs, outputs, 1)


def _norm_backward_tol(inputs, outputs, axis):
    X, w, dY = inputs["X"], inputs["weight"], _abs(inputs["dY"])
    ax, am, inv = _moments(X, inputs["mean"], inputs["var"], inputs["eps"], axis)
    xh = (ax + am) * inv
    size = X.shape[axis] + 4
    sg, sgx = dY.sum(axis=0), (dY * xh).sum(axis=0)
    w = np.ones(X.shape[1]) if w is None else _abs(w)
    if axis == 0:  # batch norm: the column sums enter dX
        dX = w * inv * (dY + (sg + xh * sgx) / max(X.shape[0], 1)) * size
    else:  # layer norm: the row means of dY·w and dY·w·x̂
        g = dY * w
        c = max(X.shape[1], 1)
        dX = inv * (g + (g.sum(axis=1, keepdims=True) + xh * (g * xh).sum(axis=1, keepdims=True)) / c) * size
    return [dX, sgx * (X.shape[0] + 4), sg * (X.shape[0] + 4)]


def tol_batchnorm_backward(inputs, outputs):
    return _norm_backward_tol(inputs, outputs, 0)


def tol_layernorm_backward(inputs, outputs):
    return _norm_backward_tol(inputs, outputs, 1)


def _num(x):
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else 1.0


def tol_softmax(inputs, outputs):
    c = np.shape(inputs["Z"])[-1]
    return [_abs(outputs[0]) * (c + 4)]


def _shifted(z):
    with np.errstate(all="ignore"):
        m = np.max(np.where(np.isfinite(z), z, -np.inf), axis=-1, keepdims=True) if z.shape[-1] else 0
        return _abs(np.where(np.isfinite(z), z - m, 0))


def tol_sce(inputs, outputs):
    z, y = np.asarray(inputs["logits"], np.float64), inputs["labels"]
    n, c = z.shape
    s = _shifted(z) + math.log(c + 1) + 1
    t = np.zeros((n, c))
    if y.ndim == 1:
        t[np.arange(n), y.astype(np.int64)] = 1
    else:
        t = _abs(y)
    loss = float((t * s).sum()) / max(n, 1) * (c + 4)
    p = _abs(outputs[1]) * max(n, 1)
    return [loss, (p * t.sum(axis=1, keepdims=True) + p + t + 1) / max(n, 1) * (c + 4)]


def tol_bce(inputs, outputs):
    z, t = _abs(inputs["logits"]), _abs(inputs["targets"])
    N = max(z.size, 1)
    return [float((z + z * t + 1).sum()) / N * 4, (1 + t) / N * 4]


def tol_mse(inputs, outputs):
    m = _abs(inputs["pred"]) + _abs(inputs["target"])
    N = max(m.size, 1)
    return [float((m * m).sum()) / N * 4, 2 * m / N * 4]


def tol_pointwise(inputs, outputs):
    m = _abs(inputs["pred"]) + _abs(inputs["target"])
    N = max(m.size, 1)
    return [float((m * m + m + 1).sum()) / N * 4, (m + 1) / N * 4]


def tol_poisson(inputs, outputs):
    p, t = _abs(inputs["pred"]), _abs(inputs["target"])
    with np.errstate(all="ignore"):
        e = np.nan_to_num(np.exp(p), posinf=0.0)
        lg = np.nan_to_num(np.abs(np.log(p + 1e-8)), posinf=0.0)
        m = e + p + t * (p + lg + np.nan_to_num(np.abs(np.log(t)), posinf=0.0) + 4) + 1
    N = max(m.size, 1)
    with np.errstate(all="ignore"):
        g = e + 1 + np.nan_to_num(t / (p + 1e-8), posinf=0.0)
    return [float(m.sum()) / N * 4, g / N * 4]


def tol_mse_gradient(inputs, outputs):
    w, X, y = _abs(inputs["weights"]), _abs(inputs["features"]), _abs(inputs["targets"])
    X = X[:, None] if X.ndim == 1 else X
    r = X @ w[1:] + w[0] + y
    n, d = X.shape
    return [np.concatenate(([r.sum()], X.T @ r)) * 2 / max(n, 1) * (d + 2)]


def tol_linear_forward(inputs, outputs):
    X, W = _abs(inputs["X"]), _abs(inputs["W"])
    b = 0 if inputs["b"] is None else _abs(inputs["b"])
    return [(X @ W + b) * (X.shape[1] + 2)]


def tol_linear_backward(inputs, outputs):
    X, W, dZ = _abs(inputs["X"]), _abs(inputs["W"]), _abs(inputs["dZ"])
    n, o = dZ.shape
    return [dZ @ W.T * (o + 2), X.T @ dZ * (n + 2), dZ.sum(axis=0) * (n + 2)]


def tol_sgd(inputs, outputs):
    kw = inputs
    p, g = _abs(kw["param"]), _abs(kw["grad"])
    lr, mu, damp, wd = (abs(kw[k]) for k in ("lr", "momentum", "dampening", "weight_decay"))
    g = g + wd * p
    if not kw["momentum"]:
        return [(p + lr * g) * 4, None, None]
    buf = g if kw["init_buffer"] else mu * _abs(kw["momentum_buffer"]) + abs(1 - damp) * g
    step = g + mu * buf if kw["nesterov"] else buf
    return [(p + lr * step) * 4, None, buf * 4]


def tol_adam(inputs, outputs):
    kw = inputs
    p, g, m, v = (_abs(kw[k]) for k in ("param", "grad", "exp_avg", "exp_avg_sq"))
    lr, b1, b2, eps, wd, step = (abs(kw[k]) for k in ("lr", "beta1", "beta2", "eps", "weight_decay", "step"))
    g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    with np.errstate(all="ignore"):
        bc1, bc2 = 1 - b1**step, math.sqrt(abs(1 - b2**step))
        denom = np.sqrt(_abs(outputs[3] if kw["max_exp_avg_sq"] is None else outputs[4])) / bc2 + eps
        upd = np.nan_to_num(lr / bc1 * m / denom, posinf=0.0)
    vmax = None if kw["max_exp_avg_sq"] is None else np.maximum(v, _abs(kw["max_exp_avg_sq"])) * 4
    return [(p * (1 + lr * wd) + upd) * 8, None, m * 4, v * 4, vmax]


def _abs_hyper(kw, *keys):
    return (abs(kw[k]) for k in keys)


def tol_rmsprop(inputs, outputs):
    kw = inputs
    p, g, sq = (_abs(kw[k]) for k in ("param", "grad", "square_avg"))
    lr, alpha, eps, wd, mu = _abs_hyper(kw, "lr", "alpha", "eps", "weight_decay", "momentum")
    g = g + wd * p
    s = alpha * sq + abs(1 - alpha) * g * g
    with np.errstate(all="ignore"):
        if kw["grad_avg"] is None:
            a, ga_mag, kappa = 0.0, None, 1.0
        else:
            ga_mag = _abs(kw["grad_avg"]) + g
            a = _abs(outputs[3])
        var = _abs(outputs[2] - (0 if kw["grad_avg"] is None else np.asarray(outputs[3], np.float64) ** 2))
        avg = np.sqrt(var) + eps
        if kw["grad_avg"] is not None:  # sqrt(s - a²) is ill-conditioned where s ~ a²:
            # s - a² is off by ~u(s + a²), its sqrt by that / (2 sqrt(s - a²)), at most sqrt(u(s + a²))
            u = np.finfo(np.asarray(kw["param"]).dtype).eps
            dav = np.minimum((s + a * a) / (2 * np.sqrt(var) + np.finfo(np.float64).tiny),
                             np.sqrt((s + a * a) / u))
            kappa = 1 + dav / avg
        q = np.nan_to_num(g / avg * kappa, posinf=0.0)
    if not kw["momentum"]:
        return [(p + lr * q) * 8, None, s * 4, ga_mag, None]
    buf = mu * _abs(kw["momentum_buffer"]) + q
    return [(p + lr * buf) * 8, None, s * 4, ga_mag, buf * 4]


def tol_adagrad(inputs, outputs):
    kw = inputs
    p, g, acc = (_abs(kw[k]) for k in ("param", "grad", "state_sum"))
    lr, decay, wd, eps, step = _abs_hyper(kw, "lr", "lr_decay", "weight_decay", "eps", "step")
    g = g + wd * p
    s = acc + g * g
    with np.errstate(all="ignore"):
        q = np.nan_to_num(g / (np.sqrt(_abs(outputs[2])) + eps), posinf=0.0)
    return [(p + lr / (1 + (step - 1) * decay) * q) * 8, None, s * 4]


def _adam_like_terms(kw, outputs):
    """Magnitudes of the shrunk param, g, m and v of the Adam-like kernels."""
    p, g, m, v = (_abs(kw[k]) for k in ("param", "grad", "exp_avg", "exp_avg_sq"))
    lr, b1, b2, wd = _abs_hyper(kw, "lr", "beta1", "beta2", "weight_decay")
    p = p * (1 + lr * wd)
    g = g + wd * p
    return p, g, m + g, b2 * v + (1 - b2) * g * g


def tol_nadam(inputs, outputs):
    kw = inputs
    p, g, m, v = _adam_like_terms(kw, outputs)
    lr, b1, b2, eps, psi, step, prod = _abs_hyper(kw, "lr", "beta1", "beta2", "eps", "momentum_decay", "step",
                                              "mu_product")
    with np.errstate(all="ignore"):
        mu = b1 * (1 - 0.5 * 0.96 ** (step * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((step + 1) * psi))
        d = np.sqrt(_abs(outputs[3]) / (1 - b2**step)) + eps
        upd = lr * (1 - mu) / (1 - prod) * g / d + lr * mu_next / (1 - prod * mu_next) * m / d
        upd = np.nan_to_num(upd, posinf=0.0)
    return [(p + upd) * 8, None, m * 4, v * 4]


def tol_radam(inputs, outputs):
    kw = inputs
    p, g, m, v = _adam_like_terms(kw, outputs)
    lr, b1, b2, eps, step = _abs_hyper(kw, "lr", "beta1", "beta2", "eps", "step")
    with np.errstate(all="ignore"):
        bc1, bc2 = 1 - b1**step, 1 - b2**step
        upd = lr * m / bc1 * (1 + math.sqrt(bc2) / (np.sqrt(_abs(outputs[3])) + eps))
        upd = np.nan_to_num(upd, posinf=0.0)
    return [(p + upd) * 8, None, m * 4, v * 4]


# Hyper-parameters: 0 or representable in float32 (a weight decay of 1e-300 is 0 for a float32 kernel).
FINITE_HYPER = st.one_of(st.just(0.0), st.floats(1e-6, 2))
UNIT = st.one_of(st.just(0.0), st.floats(1e-6, 0.999))
STEPS = st.one_of(st.integers(1, 10**4), st.sampled_from([0, -3, 1.5, 2**40]))
SLOPE = st.one_of(st.floats(-2, 2), st.sampled_from([0.01, 0.0, math.nan, math.inf, -math.inf, "x", None]))

APPROXIMATE = st.sampled_from(["none", "tanh", "tanh", "none", "exact", None, 1])
# a real hyper-parameter: mostly ordinary values, sometimes nan/inf or not a number at all
ALPHA = st.one_of(st.floats(-2, 2), st.sampled_from([1.0, math.nan, math.inf, "x", None]))
BETA = st.one_of(st.floats(0.1, 3), st.floats(-3, -0.1), st.sampled_from([1.0, 0.0, math.nan, -math.inf, "x"]))
THRESHOLD = st.one_of(st.floats(-5, 30), st.sampled_from([20.0, math.nan, math.inf, None]))

PROBABILITY = st.one_of(st.floats(0, 0.99), st.sampled_from([0.0, 0.5, 1.0, -0.1, math.nan, "x"]))
SEED = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, -1, 2**64, 1.5, None, True]))
COUNTER = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, -1, 2**63, "x"]))
EPS = st.one_of(st.floats(1e-8, 1.0), st.sampled_from([1e-5, 1e-5, 0.0, -1.0, math.nan, math.inf, "x"]))

KERNELS: dict[str, Kernel] = {
    "relu": Kernel((Arg("Z"),), inplace=("Z",), tol=tol_same),
    "relu_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"), tol=tol_same),
    "leaky_relu": Kernel((Arg("Z"),), inplace=("Z",), scalars={"slope": SLOPE}, tol=tol_same),
    "leaky_relu_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"), scalars={"slope": SLOPE},
                                  tol=tol_same),
    "sigmoid": Kernel((Arg("Z"),), inplace=("Z",), tol=tol_same, transcendental=True),
    "sigmoid_backward": Kernel((Arg("A"), Arg("dA")), inplace=("A", "dA"), tol=tol_sigmoid_backward),
    "tanh": Kernel((Arg("Z"),), inplace=("Z",), tol=tol_same, transcendental=True),
    "tanh_backward": Kernel((Arg("A"), Arg("dA")), inplace=("A", "dA"), tol=tol_tanh_backward),
    "softmax": Kernel((Arg("Z", (("n", "c"), ("c",))),), out="Z", inplace=("Z",), tol=tol_softmax,
                      transcendental=True),
    "softmax_backward": Kernel((Arg("P", (("n", "c"), ("c",)), nonneg=True), Arg("dA", (("n", "c"), ("c",)))),
                               out="P", inplace=("P", "dA"), tol=tol_softmax_backward, big_values=False),
    "gelu": Kernel((Arg("Z"),), inplace=("Z",), scalars={"approximate": APPROXIMATE}, tol=tol_gelu,
                   transcendental=True),
    "gelu_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"), scalars={"approximate": APPROXIMATE},
                            tol=tol_grad_times_input, transcendental=True),
    "silu": Kernel((Arg("Z"),), inplace=("Z",), tol=tol_gelu, transcendental=True),
    "silu_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"), tol=tol_grad_times_input,
                            transcendental=True),
    "elu": Kernel((Arg("Z"),), inplace=("Z",), scalars={"alpha": ALPHA}, tol=tol_elu, transcendental=True),
    "elu_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"), scalars={"alpha": ALPHA},
                           tol=tol_elu_backward, transcendental=True),
    "softplus": Kernel((Arg("Z"),), inplace=("Z",), scalars={"beta": BETA, "threshold": THRESHOLD},
                       tol=tol_softplus, transcendental=True),
    "softplus_backward": Kernel((Arg("Z"), Arg("dA")), inplace=("Z", "dA"),
                                scalars={"beta": BETA, "threshold": THRESHOLD}, tol=tol_dA, transcendental=True),
    "dropout": Kernel((Arg("X"),), inplace=("X",), scalars={"p": PROBABILITY, "seed": SEED, "counter": COUNTER},
                      out_index=0, tol=tol_dropout),
    "dropout_backward": Kernel((Arg("mask", role="mask"), Arg("dA")), inplace=("dA",), scalars={"p": PROBABILITY},
                               tol=tol_dropout_backward),
    "batchnorm_forward": Kernel(
        (Arg("X", (("n", "c"),)), Arg("weight", (("c",),), optional=True), Arg("bias", (("c",),), optional=True),
         Arg("running_mean", (("c",),), optional=True), Arg("running_var", (("c",),), optional=True, nonneg=True)),
        out=("n", "c"), inplace=("X",), scalars={"eps": EPS}, out_index=0, tol=tol_batchnorm_forward,
        big_values=False, transcendental=True),  # (sqrt and division: the slack of the transcendentals)
    "batchnorm_backward": Kernel(
        (Arg("X", (("n", "c"),)), Arg("weight", (("c",),), optional=True), Arg("mean", (("c",),)),
         Arg("var", (("c",),), nonneg=True), Arg("dY", (("n", "c"),))),
        out=("n", "c"), scalars={"eps": EPS, "batch_stats": st.booleans()}, out_index=0, tol=tol_batchnorm_backward,
        big_values=False, transcendental=True),
    "layernorm_forward": Kernel(
        (Arg("X", (("n", "c"),)), Arg("weight", (("c",),), optional=True), Arg("bias", (("c",),), optional=True)),
        out=("n", "c"), inplace=("X",), scalars={"eps": EPS}, out_index=0, tol=tol_layernorm_forward,
        big_values=False, transcendental=True),
    "layernorm_backward": Kernel(
        (Arg("X", (("n", "c"),)), Arg("weight", (("c",),), optional=True), Arg("mean", (("n",),)),
         Arg("var", (("n",),), nonneg=True), Arg("dY", (("n", "c"),))),
        out=("n", "c"), scalars={"eps": EPS}, out_index=0, tol=tol_layernorm_backward, big_values=False,
        transcendental=True),
    "softmax_cross_entropy": Kernel(
        (Arg("logits", (("n", "c"),)), Arg("labels", (("n",), ("n", "c")), role="labels")),
        out=("n", "c"), inplace=("logits",), tol=tol_sce, transcendental=True),
    "bce_with_logits": Kernel((Arg("logits"), Arg("targets", role="targets01")),
                              inplace=("logits", "targets"), tol=tol_bce, transcendental=True),
    "mse": Kernel((Arg("pred"), Arg("target")), inplace=("pred", "target"), tol=tol_mse, big_values=False),
    "l1": Kernel((Arg("pred"), Arg("target")), inplace=("pred", "target"), tol=tol_pointwise, big_values=False),
    "huber": Kernel((Arg("pred"), Arg("target")), inplace=("pred", "target"), tol=tol_pointwise,
                    scalars={"delta": st.sampled_from([1.0, 0.5, 3.0])}, big_values=False),
    "smooth_l1": Kernel((Arg("pred"), Arg("target")), inplace=("pred", "target"), tol=tol_pointwise,
                        scalars={"beta": st.sampled_from([1.0, 0.0, 0.25])}, big_values=False),
    "poisson_nll": Kernel((Arg("pred"), Arg("target")), inplace=("pred", "target"), tol=tol_poisson,
                          scalars={"log_input": st.booleans(), "full": st.booleans()}, big_values=False,
                          transcendental=True),
    "mse_gradient": Kernel(
        (Arg("weights", (("d+1",),)), Arg("features", (("n", "d"), ("n", "d=1"))), Arg("targets", (("n",),))),
        out=("d+1",), inplace=("weights", "features", "targets"), tol=tol_mse_gradient, big_values=False),
    "linear_forward": Kernel(
        (Arg("X", (("n", "i"),)), Arg("W", (("i", "o"),)), Arg("b", (("o",),), optional=True)),
        out=("n", "o"), tol=tol_linear_forward, big_values=False),
    "linear_backward": Kernel(
        (Arg("X", (("n", "i"),)), Arg("W", (("i", "o"),)), Arg("dZ", (("n", "o"),))),
        out=(("n", "i"), ("i", "o"), ("o",)), scalars={"need_dx": st.booleans()}, tol=tol_linear_backward,
        big_values=False),
    "sgd_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("momentum_buffer", role="state", optional=True)),
        out=None, tol=tol_sgd, big_values=False,
        scalars={"lr": FINITE_HYPER, "momentum": st.one_of(st.just(0.0), UNIT), "dampening": UNIT,
                 "nesterov": st.booleans(), "weight_decay": FINITE_HYPER, "init_buffer": st.booleans()}),
    "adam_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("exp_avg", role="state"),
         Arg("exp_avg_sq", role="state", nonneg=True),
         Arg("max_exp_avg_sq", role="state", optional=True, keyword=True, nonneg=True)),
        out=None, tol=tol_adam, big_values=False,
        scalars={"step": st.one_of(st.integers(1, 10**4), st.sampled_from([0, -3, 1.5, 2**40])),
                 "lr": FINITE_HYPER, "beta1": UNIT, "beta2": UNIT,
                 "eps": st.floats(1e-12, 1.0), "weight_decay": FINITE_HYPER, "decoupled": st.booleans()}),
    "rmsprop_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("square_avg", role="state", nonneg=True),
         Arg("grad_avg", role="state", optional=True), Arg("momentum_buffer", role="state", optional=True)),
        out=None, tol=tol_rmsprop, big_values=False,
        scalars={"lr": FINITE_HYPER, "alpha": UNIT, "eps": st.floats(1e-12, 1.0), "weight_decay": FINITE_HYPER,
                 "momentum": st.one_of(st.just(0.0), UNIT)}),
    "adagrad_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("state_sum", role="state", nonneg=True)),
        out=None, tol=tol_adagrad, big_values=False,
        scalars={"step": STEPS, "lr": FINITE_HYPER, "lr_decay": FINITE_HYPER, "weight_decay": FINITE_HYPER,
                 "eps": st.floats(1e-12, 1.0)}),
    "nadam_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("exp_avg", role="state"),
         Arg("exp_avg_sq", role="state", nonneg=True)),
        out=None, tol=tol_nadam, big_values=False,
        scalars={"step": STEPS, "mu_product": st.floats(0.0, 0.999), "lr": FINITE_HYPER, "beta1": UNIT,
                 "beta2": UNIT, "eps": st.floats(1e-12, 1.0), "weight_decay": FINITE_HYPER,
                 "momentum_decay": FINITE_HYPER, "decoupled": st.booleans()}),
    "radam_step": Kernel(
        (Arg("param", role="state"), Arg("grad"), Arg("exp_avg", role="state"),
         Arg("exp_avg_sq", role="state", nonneg=True)),
        out=None, tol=tol_radam, big_values=False,
        scalars={"step": STEPS, "lr": FINITE_HYPER, "beta1": UNIT, "beta2": UNIT, "eps": st.floats(1e-12, 1.0),
                 "weight_decay": FINITE_HYPER, "decoupled": st.booleans()}),
}
# The CSR kernels take a structure (indptr/indices) these shape templates cannot draw: their
# hostile-input and hypothesis cases are in test_sparse.py.
CSR_KERNELS = {"csr_linear_forward", "csr_linear_backward"}
assert sorted(KERNELS) == sorted(set(ops.__all__) - CSR_KERNELS), "a kernel of fastgd.ops has no fuzz entry"

# ------------------------------------------------------------------------- building a case

DIM = st.one_of(st.integers(0, 4), st.integers(0, 4), st.integers(5, 70))


@dataclass
class Case:
    name: str
    kernel: Kernel
    args: dict            # argument name -> value (array, None, or hostile object)
    scalars: dict
    out: Any = None
    has_out: bool = False
    notes: list = field(default_factory=list)  # the mutations, for failure messages

    def call_kwargs(self):
        kw = {a.name: self.args[a.name] for a in self.kernel.args if a.keyword}
        kw.update(self.scalars)
        if self.has_out:
            kw["out"] = self.out
        return kw

    def positional(self):
        return [self.args[a.name] for a in self.kernel.args if not a.keyword]


def template_shape(template, dims, star):
    if template == ("*",):
        return star
    shape = []
    for sym in template:
        if sym == "d+1":
            shape.append(dims["d"] + 1)
        elif sym == "d=1":
            continue  # the 1-D features alternative: d is 1
        else:
            shape.append(dims[sym])
    return tuple(shape)


@st.composite
def cases(draw, name):
    k = KERNELS[name]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(FLOATS))
    dims = {s: draw(DIM) for s in ("n", "i", "o", "c", "d")}
    star = tuple(draw(st.lists(st.integers(0, 6), max_size=3)) if draw(st.booleans())
                 else draw(st.lists(DIM, max_size=2)))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 30.0, 1e3] + ([1e30] if k.big_values else [])))
    special = draw(st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.5]))
    args, notes = {}, []
    alts = {a.name: draw(st.integers(0, len(a.shapes) - 1)) for a in k.args}
    if alts.get("features") == 1:
        dims["d"] = 1  # one feature as a 1-D array
    for a in k.args:
        shape = template_shape(a.shapes[alts[a.name]], dims, star)
        if a.optional and draw(st.booleans()):
            args[a.name] = None
        elif a.role == "labels" and len(shape) == 1:
            c = dims["c"]
            labels = rng.integers(0, max(c, 1), shape)
            args[a.name] = labels.astype(draw(st.sampled_from(INTS)))
        elif a.role == "labels":  # probabilities: inf ones are nonsense, NaN ones must propagate
            args[a.name] = values(rng, shape, dtype, 1.0, special, nonneg=True, pool=[math.nan, 0.0])
        elif a.role == "mask":
            args[a.name] = rng.random(shape) < 0.5
        elif a.role == "targets01" and draw(st.booleans()):
            args[a.name] = rng.integers(0, 2, shape).astype(draw(st.sampled_from(INTS + [np.dtype(bool)])))
        else:
            args[a.name] = values(rng, shape, dtype, scale, special, nonneg=a.nonneg)
    scalars = {key: draw(strategy) for key, strategy in k.scalars.items()}
    if "step" in scalars and draw(st.booleans()):  # small steps: bias corrections far from 1
        scalars["step"] = draw(st.integers(1, 100))
    case = Case(name, k, args, scalars, notes=notes)

    # Hostile mutations: layouts are harmless, the others usually make the call invalid.
    arrays = [a.name for a in k.args if isinstance(args[a.name], np.ndarray)]
    kinds = ["layout", "layout", "dtype", "shape", "nonarray"] + (["labels"] if "labels" in args else []) + (
        ["alias"] if k.out is None else [])
    for _ in range(draw(st.integers(0, 3)) if arrays else 0):
        kind = draw(st.sampled_from(kinds))
        target = "labels" if kind == "labels" else draw(st.sampled_from(arrays))
        a = args[target]
        if not isinstance(a, np.ndarray):
            continue
        notes.append(f"{kind}:{target}")
        if kind == "layout":
            how = draw(st.sampled_from(LAYOUTS))
            if k.out is None and how in ("bcast", "readonly", "scalar") and draw(st.booleans()):
                how = "C"  # keep most in-place optimizer calls valid
            args[target] = relayout(how, a, rng)
        elif kind == "dtype":
            args[target] = cast(a, draw(st.sampled_from(BAD_DTYPES + list(FLOATS))))
        elif kind == "shape":
            shape = list(a.shape)
            how = draw(st.sampled_from(["grow", "shrink", "add", "drop", "swap", "zero"]))
            if how in ("grow", "shrink", "zero") and shape:
                axis = draw(st.integers(0, len(shape) - 1))
                shape[axis] = {"grow": shape[axis] + 1, "shrink": max(shape[axis] - 1, 0), "zero": 0}[how]
            elif how == "add":
                shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(0, 3)))
            elif how == "drop" and shape:
                shape.pop(draw(st.integers(0, len(shape) - 1)))
            elif how == "swap":
                shape = shape[::-1]
            args[target] = values(rng, tuple(shape), a.dtype, scale, special) if a.dtype in FLOATS else \
                rng.integers(0, 2, tuple(shape)).astype(a.dtype)
        elif kind == "nonarray":
            args[target] = nonarray(a, draw(st.sampled_from(["None", "list", "float", "int", "str", "int64"])))
        elif kind == "labels":
            n = a.shape[0] if a.ndim else 0
            how = draw(st.sampled_from(["high", "neg", "float", "bool", "u64", "len", "2d-int"]))
            if how in ("high", "neg", "u64") and a.size:
                bad = cast(a, np.int64)
                bad[draw(st.integers(0, n - 1))] = {"high": dims["c"], "neg": -1, "u64": 0}[how]
                if how == "u64":
                    bad = bad.astype(np.uint64)
                    bad.flat[0] = 2**63 + 5
                args[target] = bad
            elif how in ("float", "bool"):
                args[target] = cast(a, np.dtype(how))
            elif how == "len":
                args[target] = np.zeros(n + 1, np.int64)
            elif how == "2d-int":
                args[target] = np.zeros((n, dims["c"]), np.int64)
        elif kind == "alias":  # two in-place buffers of an optimizer share memory
            other = draw(st.sampled_from(arrays))
            b = args[other]
            if other != target and isinstance(b, np.ndarray) and b.size and a.dtype == b.dtype:
                buf = np.empty(a.size + b.size, a.dtype)
                shift = draw(st.integers(0, a.size))
                va = buf[:a.size].reshape(a.shape)
                vb = buf[shift:shift + b.size].reshape(b.shape)
                vb[...] = b
                va[...] = a  # written last: where they overlap, target keeps its values
                args[target], args[other] = va, vb
                notes[-1] += f"+{other}"

    if k.out is not None and draw(st.integers(0, 2)):
        case.has_out = True
        case.out = draw_out(draw, case, dims, star, dtype, rng)
    return case


def out_shape(case, template, dims, star):
    if isinstance(template, str):  # the shape of that argument
        z = arr(case.args[template])
        return z.shape if z is not None else star
    return template_shape(template, dims, star)


def draw_out(draw, case, dims, star, dtype, rng):
    k = case.kernel
    if case.name == "linear_backward":
        how = draw(st.sampled_from(["tuple", "tuple", "tuple", "cross", "list", "short"]))
        shapes = [template_shape(t, dims, star) for t in k.out]
        if how == "list":
            return [None, None, None]
        if how == "short":
            return (None, None)
        if how == "cross":
            first, second = draw(st.sampled_from([(0, 1), (0, 2), (1, 2)]))
            sizes = [int(np.prod(s)) for s in shapes]
            buf = np.full(sizes[first] + sizes[second], np.nan, dtype)
            shift = draw(st.integers(0, sizes[first]))
            outs = [None, None, None]
            outs[first] = buf[:sizes[first]].reshape(shapes[first])
            outs[second] = buf[shift:shift + sizes[second]].reshape(shapes[second])
            case.notes.append(f"out:cross{first}{second}")
            return tuple(outs)
        return tuple(draw_one_out(draw, case, s, dtype, rng) for s in shapes)
    return draw_one_out(draw, case, out_shape(case, k.out, dims, star), dtype, rng)


def draw_one_out(draw, case, shape, dtype, rng):
    how = draw(st.sampled_from(["none", "fresh", "fresh", "unaligned", "dtype", "shape", "F", "step",
                                "readonly", "list", "alias", "alias", "overlap"]))
    case.notes.append(f"out:{how}")
    if how == "none":
        return None
    if how == "fresh":
        return np.full(shape, np.nan, dtype)
    if how == "unaligned":
        out = unaligned_empty(shape, dtype)
        out[...] = np.nan
        return out
    if how == "dtype":
        return np.zeros(shape, draw(st.sampled_from([F32 if dtype == F64 else F64, np.dtype(np.int64)])))
    if how == "shape":
        return np.zeros(tuple(shape) + (1,) if draw(st.booleans()) else tuple(s + 1 for s in shape), dtype)
    if how == "F":
        return np.asfortranarray(np.full(shape, np.nan, dtype))
    if how == "step":
        return relayout("step", np.full(shape, np.nan, dtype), rng)
    if how == "readonly":
        return relayout("readonly", np.full(shape, np.nan, dtype), rng)
    if how == "list":
        return np.zeros(shape).tolist()
    inputs = [name for name, a in case.args.items() if isinstance(a, np.ndarray) and a.dtype == dtype]
    if not inputs:
        return np.full(shape, np.nan, dtype)
    name = draw(st.sampled_from(inputs))
    a = case.args[name]
    if how == "alias":
        return a
    size = int(np.prod(shape))
    buf = np.full(a.size + size, np.nan, dtype)
    shift = draw(st.integers(0, a.size))
    view = buf[:a.size].reshape(a.shape)
    view[...] = a
    case.args[name] = view
    return buf[shift:shift + size].reshape(shape)


# ------------------------------------------------------------------------- the oracle


@dataclass
class Verdict:
    errors: set = field(default_factory=set)  # exception types one of which must be raised
    either: bool = False                      # undefined aliasing: raising is fine too
    dtype: Any = None


# Kernels whose momentum_buffer is required with momentum != 0 and ignored with momentum == 0.
MOMENTUM_KERNELS = ("sgd_step", "rmsprop_step")


def oracle(case: Case) -> Verdict:
    """What SPEC.md says ``case`` must do."""
    k, v = case.kernel, Verdict()
    sc = case.scalars
    dtypes, dims, star = [], {}, None
    arrays = {}
    skip = set()
    if case.name in MOMENTUM_KERNELS and isinstance(sc["momentum"], float) and sc["momentum"] == 0:
        skip.add("momentum_buffer")  # ignored without momentum
    # hyper-parameters
    if "slope" in sc:
        if not isinstance(sc["slope"], float | int) or isinstance(sc["slope"], bool):
            v.errors.add(TypeError)
        elif math.isnan(sc["slope"]):
            v.errors.add(ValueError)
    for key in ("alpha", "beta", "threshold"):  # finite real hyper-parameters (softplus's beta also
        if key in sc:                           # non-zero; smooth_l1's beta = 0 is L1, as torch)
            x = sc[key]
            if not isinstance(x, float | int) or isinstance(x, bool):
                v.errors.add(TypeError)
            elif not math.isfinite(x) or (key == "beta" and x == 0 and case.name.startswith("softplus")):
                v.errors.add(ValueError)
    if "p" in sc:
        x = sc["p"]
        if not isinstance(x, float | int):
            v.errors.add(TypeError)
        elif not 0 <= x < 1:
            v.errors.add(ValueError)
    for key, bits in (("seed", 64), ("counter", 63)):
        if key in sc:
            x = sc[key]
            if not isinstance(x, int) or isinstance(x, bool):
                v.errors.add(TypeError)
            elif not 0 <= x < 2**bits:
                v.errors.add(ValueError)
    if "eps" in sc:
        x = sc["eps"]
        if not isinstance(x, float | int) or isinstance(x, bool):
            v.errors.add(TypeError)
        elif not (math.isfinite(x) and x >= 0):
            v.errors.add(ValueError)
    if "approximate" in sc:
        if not isinstance(sc["approximate"], str):
            v.errors.add(TypeError)
        elif sc["approximate"] not in ("none", "tanh"):
            v.errors.add(ValueError)
    if "step" in sc:
        if not isinstance(sc["step"], int) or sc["step"] >= 2**63:
            v.errors.add(TypeError)
        elif sc["step"] < 1:
            v.errors.add(ValueError)
    for a in k.args:
        if a.name in skip:
            continue
        x = case.args[a.name]
        if x is None:
            if not a.optional or (case.name in MOMENTUM_KERNELS and a.name == "momentum_buffer"):
                v.errors.add(ValueError if a.optional else TypeError)
            continue
        if a.role in ("labels", "targets01", "state", "mask") and not isinstance(x, np.ndarray):
            v.errors.add(TypeError)
            continue
        xa = arr(x)
        if xa is None:
            v.errors.add(TypeError)
            continue
        arrays[a.name] = xa
        if a.role == "labels" and xa.ndim == 1:
            if xa.dtype.kind not in "iu":
                v.errors.add(TypeError)
        elif a.role == "targets01" and xa.dtype.kind in "iub":
            pass
        elif a.role == "mask":
            if xa.dtype != np.bool_:
                v.errors.add(TypeError)
        elif xa.dtype not in FLOATS:
            v.errors.add(TypeError)
            continue
        else:
            dtypes.append(xa.dtype)
        # Written in place: must be C-contiguous, writable and aligned (unaligned inputs are copied).
        if a.role == "state" and not (xa.flags.c_contiguous and xa.flags.writeable and xa.flags.aligned):
            v.errors.add(ValueError)
    if len(set(dtypes)) > 1:
        v.errors.add(TypeError)
    v.dtype = dtypes[0] if dtypes else None
    # shapes: bind the symbols in argument order ("d+1" last)
    for a in sorted(k.args, key=lambda a: a.shapes[0] == ("d+1",)):
        xa = arrays.get(a.name)
        if xa is None:
            continue
        if a.shapes == (("*",),):
            star = xa.shape if star is None else star
            if xa.shape != star:
                v.errors.add(ValueError)
            continue
        for template in a.shapes:
            want = [s for s in template if s != "d=1"]
            if len(want) != xa.ndim:
                continue
            trial = dict(dims)
            if "d=1" in template:
                trial.setdefault("d", 1)
                if trial["d"] != 1:
                    continue
            ok = True
            for sym, size in zip(want, xa.shape):
                if sym == "d+1":
                    ok &= "d" in trial and size == trial["d"] + 1
                elif trial.setdefault(sym, size) != size:
                    ok = False
            if ok:
                dims = trial
                break
        else:
            v.errors.add(ValueError)
    if case.name == "batchnorm_forward":
        if (case.args["running_mean"] is None) != (case.args["running_var"] is None):
            v.errors.add(ValueError)
        x = arrays.get("X")
        if case.args["running_mean"] is None and (x is None or x.ndim != 2 or x.shape[0] < 2):
            v.errors.add(ValueError)  # batch statistics of fewer than 2 rows
    if case.name == "softmax_backward" and "P" in arrays and "dA" in arrays and arrays["P"].shape != arrays["dA"].shape:
        v.errors.add(ValueError)
    labels = arrays.get("labels")
    if labels is not None and labels.ndim == 1 and labels.dtype.kind in "iu" and labels.size:
        c = dims.get("c", 0)
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= c:
            v.errors.add(ValueError)
    # out=
    if case.has_out:
        if case.name == "linear_backward":
            outs = case.out
            if not isinstance(outs, tuple) or len(outs) != 3:
                v.errors.add(TypeError)
                return v
            wanted = [(t, o) for t, o in zip(k.out, outs) if o is not None]
            if not case.scalars["need_dx"]:
                wanted = [(t, o) for t, o in zip(k.out[1:], outs[1:]) if o is not None]
            live = [o for _, o in wanted]
            for i, p in enumerate(live):
                for q in live[i + 1:]:
                    if isinstance(p, np.ndarray) and isinstance(q, np.ndarray) and overlaps(p, q):
                        v.either = True
        else:
            wanted = [(k.out, case.out)] if case.out is not None else []
        for template, o in wanted:
            if not isinstance(o, np.ndarray):
                v.errors.add(TypeError)
                continue
            if v.dtype is not None and o.dtype != v.dtype:
                v.errors.add(TypeError)
            shape = arrays[template].shape if isinstance(template, str) and template in arrays else \
                template_shape(template, dims, star) if _bound(template, dims, star) else None
            if shape is not None and o.shape != shape:
                v.errors.add(ValueError)
            if not (o.flags.c_contiguous and o.flags.writeable and o.flags.aligned):
                v.errors.add(ValueError)
            for name, xa in arrays.items():
                if overlaps(o, xa) and not (name in k.inplace and exact_alias(o, xa)):
                    v.either = True
                if name == "labels" and xa.ndim == 2 and overlaps(o, xa):
                    v.either = True
    if k.out is None:  # in-place optimizers: buffers sharing memory
        names = list(arrays)
        for i, p in enumerate(names):
            for q in names[i + 1:]:
                if overlaps(arrays[p], arrays[q]):
                    v.either = True
    return v


def _bound(template, dims, star):
    if isinstance(template, str):
        return False
    if template == ("*",):
        return star is not None
    return all(s == "d=1" or (s == "d+1" and "d" in dims) or s in dims for s in template)


# ------------------------------------------------------------------------- running a case


def check_close(got, want, magnitude, dtype, what, transcendental=False, floor=0.0):
    """got equals want: same NaN and ±inf positions, finite values within a few ulps of magnitude
    (plus ``floor``, and the dtype's smallest normal number for vectorised transcendentals)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN at {np.argwhere(nan_g != nan_w)[:5].tolist()} differs: got {got[nan_g != nan_w][:5]}, "
        f"reference {want[nan_g != nan_w][:5]}")
    inf_g, inf_w = np.isinf(got), np.isinf(want)
    bad = (inf_g | inf_w) & (got != want)
    assert not bad.any(), (f"{what}: inf at {np.argwhere(bad)[:5].tolist()} differs: got {got[bad][:5]}, "
                           f"reference {want[bad][:5]}")
    fin = ~(nan_g | inf_g | inf_w)
    eps = float(np.finfo(dtype).eps)
    ulps = 64 if transcendental else 8
    floor = max(floor, float(np.finfo(dtype).tiny) if transcendental else 0.0)
    mag = np.broadcast_to(np.asarray(magnitude, np.float64), want.shape)
    with np.errstate(all="ignore"):
        err = np.abs(got - want)
        limit = ulps * eps * (np.abs(want) + mag) + floor
    bad = fin & (err > limit)
    assert not bad.any(), (f"{what}: {int(bad.sum())} values differ beyond {ulps} ulps of their "
                           f"magnitude, e.g. at {np.argwhere(bad)[:3].tolist()}: got {got[bad][:3]}, "
                           f"reference {want[bad][:3]}")


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def run_case(case: Case) -> None:
    verdict = oracle(case)
    fn = getattr(ops, case.name)
    before = {n: snapshot(a) for n, a in case.args.items()}
    out_before = [snapshot(o) for o in (case.out if isinstance(case.out, tuple) else (case.out,))]
    where = f"{case.name} [{', '.join(case.notes) or 'no mutation'}]"
    try:
        result = fn(*case.positional(), **case.call_kwargs())
    except (ValueError, TypeError) as exc:
        COUNTS["raised"] += 1
        assert verdict.errors or verdict.either, f"{where}: a valid call raised {exc!r}"
        if verdict.errors and not verdict.either:
            assert isinstance(exc, tuple(verdict.errors)), f"{where}: expected {verdict.errors}, got {exc!r}"
        assert case.name in str(exc), f"{where}: the message does not name the function: {exc}"
        for n, a in case.args.items():  # a refused call changes nothing
            if isinstance(a, np.ndarray):
                assert same_bytes(a, before[n]), f"{where}: refused call modified {n}"
        for o, o0 in zip(case.out if isinstance(case.out, tuple) else (case.out,), out_before):
            if isinstance(o, np.ndarray):
                assert same_bytes(o, o0), f"{where}: refused call wrote into out"
        return
    assert not verdict.errors, f"{where}: an invalid call returned instead of raising {verdict.errors}"
    COUNTS["compared"] += 1
    compare(case, verdict, result, before, where)


def compare(case, verdict, result, before, where):
    k, dtype = case.kernel, verdict.dtype
    inputs = {n: (np.asarray(a).copy() if isinstance(a, np.ndarray | np.generic) else a)
              for n, a in before.items()}
    scalars = dict(case.scalars)
    if k.out is None:  # in-place optimizer: compare the updated buffers
        assert result is None
        names = [a.name for a in k.args]
        quiet(getattr(ref, case.name), *[inputs[n] for n in names if n != "max_exp_avg_sq"],
              **({"max_exp_avg_sq": inputs["max_exp_avg_sq"]} if "max_exp_avg_sq" in inputs else {}),
              **scalars)
        mags = quiet(k.tol, {**before, **scalars}, [inputs[n] for n in names])
        for n, mag in zip(names, mags):
            if n == "grad" or mag is None:
                assert n != "grad" or same_bytes(np.asarray(case.args[n]), before[n]) or verdict.either, \
                    f"{where}: grad was modified"
                continue
            if case.args[n] is None or (n == "momentum_buffer" and not case.scalars["momentum"]):
                continue
            check_close(case.args[n], inputs[n], mag, dtype, f"{where}: {n}")
        return
    want = quiet(getattr(ref, case.name), *[inputs[a.name] for a in k.args if not a.keyword], **scalars)
    got_t = result if isinstance(result, tuple) else (result,)
    want_t = want if isinstance(want, tuple) else (want,)
    mags = quiet(k.tol, before | scalars, want_t)
    outs = case.out if isinstance(case.out, tuple) else (case.out,) * len(got_t)
    if k.out_index is not None:
        outs = tuple(case.out if i == k.out_index else None for i in range(len(got_t)))
    for i, (got, w, mag) in enumerate(zip(got_t, want_t, mags)):
        if w is None:
            assert got is None, f"{where}: output {i} should be None"
            continue
        if type(w) is float:  # a loss (the twins return Python floats)
            assert type(got) is float, f"{where}: loss is {type(got).__name__}, not float"
            # a loss of float32 terms is exact to float32's range: 1e-90 and 0 are the same loss
            check_close(got, w, mag, dtype, f"{where}: loss", k.transcendental, floor=np.finfo(dtype).tiny)
            continue
        if isinstance(w, np.ndarray) and w.dtype == np.bool_:  # a dropout mask: the same bits
            assert isinstance(got, np.ndarray) and got.dtype == np.bool_, f"{where}: mask is {got!r:.60}"
            assert np.array_equal(got, w), f"{where}: output {i} (mask) differs from the reference"
            continue
        assert isinstance(got, np.ndarray) and got.dtype == dtype, f"{where}: output {i} is {got!r:.60}"
        o = outs[i] if case.has_out else None
        if o is not None:
            assert got is o, f"{where}: out= was not returned as the result"
        else:
            assert got.flags.c_contiguous and got.flags.writeable
            for n, a in case.args.items():
                if isinstance(a, np.ndarray):
                    assert not overlaps(got, a), f"{where}: a fresh result shares memory with {n}"
        check_close(got, w, mag, dtype, f"{where}: output {i}", k.transcendental)
    # inputs that were not written into are unchanged
    written = [o for o in outs if isinstance(o, np.ndarray)] if case.has_out else []
    for n, a in case.args.items():
        if isinstance(a, np.ndarray) and not any(overlaps(a, o) for o in written):
            assert same_bytes(a, before[n]), f"{where}: input {n} was modified"


@pytest.mark.parametrize("name", sorted(KERNELS))
@FUZZ
@given(data=st.data())
def test_kernel_fuzz(name, data):
    run_case(data.draw(cases(name), label="case"))


# ------------------------------------------------------------------------- Net forward/backward

ACTS = {"relu": fg.ReLU, "sigmoid": fg.Sigmoid, "tanh": fg.Tanh, "identity": fg.Identity}


@st.composite
def nets(draw, fusable=False):
    dtype = draw(st.sampled_from(FLOATS))
    width = draw(st.integers(1, 6))
    in_width, layers, spec = width, [], []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["linear", "linear", "relu", "sigmoid", "tanh", "identity", "leaky"]))
        if kind == "linear":
            out = draw(st.integers(1, 6))
            bias = draw(st.booleans())
            layers.append(fg.Linear(width, out, bias=bias))
            spec.append(("linear", bias))
            width = out
        elif kind == "leaky":
            slope = draw(st.floats(-1, 1))
            layers.append(fg.LeakyReLU(slope))
            spec.append(("leaky", float(dtype.type(slope))))  # the kernel rounds it to the dtype
        else:
            layers.append(ACTS[kind]())
            spec.append((kind,))
    if fusable and not any(s[0] == "linear" for s in spec):
        layers.append(fg.Linear(width, 2))
        spec.append(("linear", True))
        width = 2
    net = fg.Net(layers, dtype=dtype, seed=draw(st.integers(0, 100)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for p in net.parameters():
        p.data[...] = rng.uniform(-1.5, 1.5, p.shape)
    return net, spec, in_width, width, rng


def linear_params(net, spec):
    """[(W, b or None)] of the Linear layers, in float64."""
    params, out = iter(net.parameters()), []
    for s in spec:
        if s[0] == "linear":
            W = next(params).data.astype(np.float64)
            out.append((W, next(params).data.astype(np.float64) if s[1] else None))
    return out


def reference_forward(net, spec, X):
    """The output by the NumPy twins in float64, and the magnitude of its terms."""
    A, M = np.asarray(X, np.float64), _abs(X)
    weights = iter(linear_params(net, spec))
    for s in spec:
        if s[0] == "linear":
            W, b = next(weights)
            A, M = ref.linear_forward(A, W, b), M @ np.abs(W) + (0 if b is None else np.abs(b))
        elif s[0] == "leaky":
            A = ref.leaky_relu(A, s[1])
        elif s[0] != "identity":
            A = getattr(ref, s[0])(A)
    return A, M


def reference_backward(net, spec, inputs, dout):
    """dX and the parameter gradients by the NumPy twins in float64 from the net's own layer
    inputs ``inputs[i]`` (so a ReLU mask is the one the net used), with the terms' magnitudes."""
    G, GM = np.asarray(dout, np.float64), _abs(dout)
    weights, grads = linear_params(net, spec), []
    for i in range(len(spec) - 1, -1, -1):
        s, Ain, Aout = spec[i], np.asarray(inputs[i], np.float64), np.asarray(inputs[i + 1], np.float64)
        if s[0] == "linear":
            W, b = weights.pop()
            dX, dW, db = ref.linear_backward(Ain, W, G)
            grads = [(dW, _abs(Ain).T @ GM)] + ([(db, GM.sum(axis=0))] if b is not None else []) + grads
            G, GM = dX, GM @ np.abs(W).T
        elif s[0] == "relu":
            G = ref.relu_backward(Ain, G)
        elif s[0] == "leaky":
            G = ref.leaky_relu_backward(Ain, G, s[1])
        elif s[0] == "sigmoid":
            G = ref.sigmoid_backward(Aout, G)
        elif s[0] == "tanh":
            G = ref.tanh_backward(Aout, G)
    return G, GM, grads


def hostile_batch(draw, rng, X, dtype):
    """X, or X made hostile; returns (value, expected exception types or None)."""
    kind = draw(st.sampled_from(["ok", "ok", "layout", "dtype", "shape", "nonarray"]))
    if kind == "layout":
        return relayout(draw(st.sampled_from(LAYOUTS[:-1])), X, rng), None
    if kind == "dtype":
        bad = draw(st.sampled_from(BAD_DTYPES + [F32 if dtype == F64 else F64]))
        return quiet(X.astype, bad), (TypeError,)
    if kind == "shape":
        how = draw(st.sampled_from(["1d", "3d", "wide"]))
        shape = {"1d": X.shape[:1], "3d": X.shape + (1,), "wide": (X.shape[0], X.shape[1] + 1)}[how]
        return np.zeros(shape, dtype), (ValueError,)
    if kind == "nonarray":
        return nonarray(X, draw(st.sampled_from(["None", "list", "float"]))), (TypeError,)
    return X, None


@FUZZ
@given(built=nets(), data=st.data())
def test_net_forward_backward_fuzz(built, data):
    """Net.forward/backward on hostile batches: the NumPy twins' chain, or ValueError/TypeError."""
    net, spec, in_width, out_width, rng = built
    dtype = net.dtype
    n = data.draw(st.integers(0, 9), label="n")
    special = data.draw(st.sampled_from([0.0, 0.0, 0.1]), label="special")
    X0 = values(rng, (n, in_width), dtype, 2.0, special)
    X, bad = hostile_batch(data.draw, rng, X0, dtype)
    if bad and net.in_features is None and isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == dtype:
        bad = None  # a net of elementwise layers takes any width
    try:
        out = net.forward(X)
    except (ValueError, TypeError):
        COUNTS["raised"] += 1
        assert bad, f"forward refused a valid batch {X!r:.80}"
        return
    assert not bad, f"forward accepted a bad batch {X!r:.80}"
    dout0 = values(rng, out.shape, dtype, 1.0, special)
    dout, bad_dout = hostile_batch(data.draw, rng, dout0, dtype)
    net.zero_grad()
    need_dx = data.draw(st.booleans(), label="need_dx")
    try:
        dX = net.backward(dout, need_dx=need_dx)
    except (ValueError, TypeError):
        COUNTS["raised"] += 1
        assert bad_dout, f"backward refused a valid dout {dout!r:.80}"
        assert all(not p.grad.any() for p in net.parameters()), "a refused backward changed .grad"
        return
    assert not bad_dout, f"backward accepted a bad dout {dout!r:.80}"
    COUNTS["compared"] += 1
    tol = max(in_width, out_width, 6) * (len(spec) + 1)
    want, mag = quiet(reference_forward, net, spec, X)
    assert out.dtype == dtype and out.shape == want.shape
    check_close(out, want, mag * tol, dtype, "forward", transcendental=True)
    # the net's own layer inputs (its forward is checked above): the prefixes' outputs
    inputs = [X] + [net[:i].forward(X) for i in range(1, len(spec))] + [out]
    dX_ref, dX_mag, grads = quiet(reference_backward, net, spec, inputs, dout)
    if need_dx:
        check_close(dX, dX_ref, dX_mag * tol, dtype, "dX", transcendental=True)
    else:
        assert dX is None
    assert len(grads) == len(net.parameters())
    for p, (g, g_mag) in zip(net.parameters(), grads):
        check_close(p.grad, g, g_mag * tol, dtype, "parameter gradient", transcendental=True)


# ------------------------------------------------------------------------- Trainer.step

OPTIMIZERS = [("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
              ("adam", {"lr": 0.01}), ("adamw", {"lr": 0.01, "weight_decay": 0.1}),
              ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True}), ("adagrad", {"lr": 0.1}),
              ("nadam", {"lr": 0.01}), ("radam", {"lr": 0.01, "weight_decay": 0.1})]


def valid_targets(draw, rng, loss, n, k, dtype):
    if loss == "cross_entropy":
        y = rng.integers(0, k, n) if draw(st.booleans()) else rng.dirichlet(np.ones(k), n).astype(dtype)
    elif loss == "bce_with_logits":
        y = rng.integers(0, 2, (n, k)).astype(draw(st.sampled_from([dtype, np.dtype(np.int64), np.dtype(bool)])))
    else:
        y = values(rng, (n, k), dtype, 1.0, 0.0)
    return y[:, 0] if k == 1 and loss != "cross_entropy" and draw(st.booleans()) else y


def hostile_targets(draw, y, loss, k, dtype):
    """y, or y made hostile; returns (value, exception types it must raise or None)."""
    kind = draw(st.sampled_from(["ok", "ok", "dtype", "shape", "values", "nonarray"]))
    if kind == "dtype":
        new = draw(st.sampled_from([F32 if dtype == F64 else F64, np.dtype(np.complex64), np.dtype(object)]))
        return quiet(y.astype, new), (TypeError,)
    if kind == "shape":
        return (y[:-1] if len(y) > 1 and draw(st.booleans()) else y[..., None, None]), (ValueError, TypeError)
    if kind == "nonarray":
        return y.tolist(), (TypeError,)
    if kind == "values":
        y = y.copy()
        if loss == "cross_entropy" and y.ndim == 1:
            if draw(st.booleans()):
                return (y > 0), None  # bool labels: 0/1 classes
            y[0] = draw(st.sampled_from([k, -1]))
        elif loss == "cross_entropy":
            y.flat[0] = draw(st.sampled_from([-0.5, math.nan]))
        elif loss == "bce_with_logits" and y.dtype != bool:
            y.flat[0] = draw(st.sampled_from([2, -1]))
        else:
            y.flat[0] = math.nan  # regression targets may be anything: the loss is NaN
            return y, None
        return y, (ValueError,)
    return y, None


@FUZZ
@given(built=nets(fusable=True), data=st.data())
def test_trainer_step_fuzz(built, data):
    """Trainer.step fused (one C++ call) and layer by layer on the same hostile batch: the same
    outcome (both raise ValueError/TypeError leaving the weights alone, or both return the same
    loss and weights), and both train on normally afterwards."""
    net, spec, in_width, out_width, rng = built
    dtype = net.dtype
    losses = ["mse", "bce_with_logits"] + (["cross_entropy"] if out_width > 1 else [])
    loss = data.draw(st.sampled_from(losses), label="loss")
    opt, hyper = data.draw(st.sampled_from(OPTIMIZERS), label="optimizer")
    twins = [net, net.copy()]
    trainers = [fg.Trainer(t, loss=loss, optimizer=opt, fused=f, **hyper) for t, f in zip(twins, (True, False))]
    tol = {"rel": 1e-4, "abs": 1e-5} if dtype == F32 else {"rel": 1e-10, "abs": 1e-12}

    def both(X, y):
        outcomes = []
        for t, twin in zip(trainers, twins):
            before = [p.data.copy() for p in twin.parameters()]
            try:
                outcomes.append(t.step(snapshot(X), snapshot(y)))
            except (ValueError, TypeError) as exc:
                outcomes.append(exc)
                for p, b in zip(twin.parameters(), before):
                    assert same_bytes(p.data, b), f"a refused step changed the weights ({exc!r})"
        return outcomes

    def same_weights():
        for p, q in zip(*(tw.parameters() for tw in twins)):
            np.testing.assert_allclose(p.data, q.data, rtol=tol["rel"], atol=tol["abs"])

    n = data.draw(st.integers(1, 9), label="n")
    X = values(rng, (n, in_width), dtype, 2.0, 0.0)
    y = valid_targets(data.draw, rng, loss, n, out_width, dtype)
    fused, plain = both(X, y)  # a valid first step: builds the engine and the optimizer state
    assert fused == pytest.approx(plain, **tol)
    Xh, bad_x = hostile_batch(data.draw, rng, X, dtype)
    yh, bad_y = hostile_targets(data.draw, y, loss, out_width, dtype)
    fused, plain = both(Xh, yh)
    where = f"X={Xh!r:.70}, y={yh!r:.90}"
    assert isinstance(fused, float) == isinstance(plain, float), (
        f"fused and layer-by-layer Trainer.step disagree on {where}: {fused!r} vs {plain!r}")
    if bad_x or bad_y:
        assert not isinstance(fused, float), f"Trainer.step accepted a bad batch {where}"
    if isinstance(fused, float):
        COUNTS["compared"] += 1
        assert fused == pytest.approx(plain, nan_ok=True, **tol)
    else:
        COUNTS["raised"] += 1
    same_weights()
    X2 = values(rng, (4, in_width), dtype, 1.0, 0.0)
    y2 = valid_targets(data.draw, rng, loss, 4, out_width, dtype)
    fused, plain = both(X2, y2)
    assert isinstance(fused, float) and fused == pytest.approx(plain, nan_ok=True, **tol)
    same_weights()


# ------------------------------------------------------------------------- found by fuzzing
# Minimal reproductions of what the fuzzers above found, one per defect.


def test_linear_backward_refuses_outputs_that_share_memory():
    """out=(dX, dW, db) entries overlapping each other cannot all hold their results: the call
    must be refused (today dX is silently overwritten by dW)."""
    X, W, dZ = np.ones((3, 3)), np.full((3, 3), 2.0), np.full((3, 3), 3.0)
    buf = np.zeros((3, 3))
    with pytest.raises(ValueError, match="out"):
        ops.linear_backward(X, W, dZ, out=(buf, buf, None))
    flat = np.zeros(12)
    with pytest.raises(ValueError, match="out"):
        ops.linear_backward(X, W, dZ, out=(None, flat[:9].reshape(3, 3), flat[6:9]))


@pytest.mark.parametrize("case", ["sgd: momentum_buffer is param", "adam: exp_avg is exp_avg_sq",
                                  "adam: exp_avg is param", "adam: max_exp_avg_sq overlaps exp_avg_sq"])
def test_optimizer_kernels_refuse_state_buffers_that_share_memory(case):
    """Two buffers updated in place over the same memory cannot both hold their new values."""
    p, g = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])
    buf = np.zeros(4)
    with pytest.raises(ValueError):
        if case.startswith("sgd"):
            ops.sgd_step(p, g, p, lr=0.1, momentum=0.9)
        elif case == "adam: exp_avg is exp_avg_sq":
            ops.adam_step(p, g, buf[:3], buf[:3], step=1)
        elif case == "adam: exp_avg is param":
            ops.adam_step(p, g, p, buf[:3], step=1)
        else:
            ops.adam_step(p, g, np.zeros(3), buf[:3], step=1, max_exp_avg_sq=buf[1:])


@pytest.mark.parametrize("which", ["param", "exp_avg_sq", "momentum_buffer"])
def test_optimizer_kernels_refuse_numpy_scalars_as_buffers(which):
    """A NumPy scalar cannot be updated in place: today the update goes to a temporary copy and
    is silently lost."""
    one = np.float64(1.0)
    arrays = {"param": np.ones(()), "exp_avg_sq": np.ones(()), "momentum_buffer": np.ones(())}
    arrays[which] = one
    with pytest.raises((TypeError, ValueError)):
        if which == "momentum_buffer":
            ops.sgd_step(arrays["param"], np.ones(()), one, lr=0.1, momentum=0.9)
        else:
            ops.adam_step(arrays["param"], np.ones(()), np.ones(()), arrays["exp_avg_sq"], step=1)


def test_amsgrad_propagates_nan_in_max_exp_avg_sq_like_torch():
    """torch.maximum (and np.maximum in the twin) propagate NaN; the kernel drops a NaN in
    max_exp_avg_sq (``vmax > v ? vmax : v``) and returns finite weights."""
    p, vmax = np.ones(4), np.array([np.nan, 0.5, 0.5, np.nan])
    ops.adam_step(p, np.full(4, 0.1), np.zeros(4), np.full(4, 0.5), step=1, max_exp_avg_sq=vmax)
    np.testing.assert_array_equal(np.isnan(vmax), [True, False, False, True])
    np.testing.assert_array_equal(np.isnan(p), [True, False, False, True])


@pytest.mark.parametrize("beta2", [0.999, 0.9999])
def test_adam_float32_second_moment_is_as_accurate_as_torch(beta2):
    """torch (and the twin) compute ``1 - beta2`` in double; the float32 kernel computes it from
    beta2 rounded to float32, which puts exp_avg_sq off by 1e-5 (beta2=0.999) to 2e-4 (0.9999)."""
    g = np.array([0.6317071, -1.5, 3e-3], np.float32)
    got = [np.zeros(3, np.float32) for _ in range(4)]
    got[0][...] = 0.5
    want = [a.copy() for a in got]
    ops.adam_step(got[0], g, got[1], got[2], step=1, beta2=beta2)
    ref.adam_step(want[0], g, want[1], want[2], step=1, beta2=beta2)
    np.testing.assert_allclose(got[2], (1 - beta2) * g.astype(np.float64) ** 2, rtol=4e-7)
    np.testing.assert_allclose(got[2], want[2], rtol=4e-7)


@pytest.mark.parametrize("loss,y", [
    ("cross_entropy", np.array([True, False, True])),                   # bool labels: classes 0/1
    ("cross_entropy", np.full((3, 3), -0.5, np.float32)),               # negative "probabilities"
    ("cross_entropy", np.full((3, 3), np.nan, np.float32)),             # NaN "probabilities"
    ("bce_with_logits", np.full((3, 3), 2, np.int64)),                  # labels outside {0, 1}
    ("bce_with_logits", np.full((3, 3), 2.0, np.float32)),              # targets outside [0, 1]
], ids=["ce-bool-labels", "ce-negative-probs", "ce-nan-probs", "bce-int-2", "bce-float-2"])
def test_fused_and_layer_by_layer_steps_treat_targets_alike(loss, y):
    """Trainer.step must not depend on whether it runs fused: today the fused engine refuses bool
    class labels the layer-by-layer path accepts, and accepts targets the layer-by-layer path
    refuses (so a fused step trains on a negative loss)."""
    outcomes = []
    for fused in (True, False):
        net = fg.Net([fg.Linear(4, 5), fg.ReLU(), fg.Linear(5, 3)], seed=0)
        trainer = fg.Trainer(net, loss=loss, optimizer="sgd", lr=0.1, fused=fused)
        try:
            outcomes.append(trainer.step(np.ones((3, 4), np.float32), y))
        except (ValueError, TypeError) as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1] or (isinstance(outcomes[0], float) and
                                          outcomes[0] == pytest.approx(outcomes[1]))


def test_float32_mse_loss_does_not_overflow_where_the_twin_does_not():
    """The float32 kernel squares residuals in float32 (inf from |pred - target| ~ 1.9e19 on, 0 below
    ~1e-23) while its twin squares them in float64 and returns the finite mean as a Python float."""
    pred, target = np.array([1e20, 3.0], np.float32), np.zeros(2, np.float32)
    loss, _ = ops.mse(pred, target)
    assert loss == pytest.approx(ref.mse(pred, target)[0], rel=1e-6)
