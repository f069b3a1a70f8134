"""Activations and their backwards: twins, central differences, stability, layouts, out=."""

import warnings

import numpy as np
import pytest
from conftest import close, numgrad
from fastgd import ops
from fastgd import reference as ref

# name -> (forward, backward, does backward take the output A (True) or the input Z (False))
ACTS = {
    "relu": (lambda m, z: m.relu(z), lambda m, z, a, d: m.relu_backward(z, d)),
    "leaky_relu": (lambda m, z: m.leaky_relu(z, 0.1), lambda m, z, a, d: m.leaky_relu_backward(z, d, 0.1)),
    "sigmoid": (lambda m, z: m.sigmoid(z), lambda m, z, a, d: m.sigmoid_backward(a, d)),
    "tanh": (lambda m, z: m.tanh(z), lambda m, z, a, d: m.tanh_backward(a, d)),
    "gelu": (lambda m, z: m.gelu(z), lambda m, z, a, d: m.gelu_backward(z, d)),
    "gelu_tanh": (lambda m, z: m.gelu(z, "tanh"), lambda m, z, a, d: m.gelu_backward(z, d, "tanh")),
    "silu": (lambda m, z: m.silu(z), lambda m, z, a, d: m.silu_backward(z, d)),
    "elu": (lambda m, z: m.elu(z, 1.3), lambda m, z, a, d: m.elu_backward(z, d, 1.3)),
    "softplus": (lambda m, z: m.softplus(z, 2.0, 5.0), lambda m, z, a, d: m.softplus_backward(z, d, 2.0, 5.0)),
}
SHAPES = [(), (1,), (1, 1), (7,), (13, 17), (0, 5), (3, 4, 5), (100_003,)]


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(rng, dtype, name, shape):
    fwd, bwd = ACTS[name]
    Z = (rng.standard_normal(shape) * 4).astype(dtype)
    dA = rng.standard_normal(shape).astype(dtype)
    A = fwd(ops, Z)
    assert A.dtype == dtype and A.shape == Z.shape
    close(A, fwd(ref, Z), scale=4)
    dZ = bwd(ops, Z, A, dA)
    assert dZ.dtype == dtype
    close(dZ, bwd(ref, Z, fwd(ref, Z), dA), scale=4)


@pytest.mark.parametrize("name", ACTS)
def test_backward_central_differences(rng, name):
    fwd, bwd = ACTS[name]
    Z = rng.standard_normal((3, 4)) + 0.05  # away from relu's kink at 0
    dA = rng.standard_normal((3, 4))
    num = numgrad(lambda z: np.sum(fwd(ops, z) * dA), Z)
    np.testing.assert_allclose(bwd(ops, Z, fwd(ops, Z), dA), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_accuracy_against_float64_math(rng, name):
    z = np.concatenate([rng.standard_normal(10_000) * 10, np.logspace(-30, 2, 500), -np.logspace(-30, 2, 500)])
    for dt, rtol in ((np.float32, 3e-7), (np.float64, 2e-15)):
        zd = z.astype(dt).astype(np.float64)  # the exact value at the rounded input
        exact = 1 / (1 + np.exp(-zd)) if name == "sigmoid" else np.tanh(zd)
        got = getattr(ops, name)(z.astype(dt))
        np.testing.assert_allclose(got, exact.astype(dt), rtol=rtol * 4, atol=0)


def test_stable_for_huge_inputs(dtype):
    z = np.array([-1e4, -1e3, -100, -30, 0, 30, 100, 1e3, 1e4, np.finfo(dtype).max, -np.finfo(dtype).max], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = ops.sigmoid(z)
        t = ops.tanh(z)
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    assert s[0] == 0 and s[-3] == 1 and s[4] == 0.5
    np.testing.assert_array_equal(t, np.tanh(z))
    np.testing.assert_array_equal(ops.relu(z), np.maximum(z, 0))


def test_tanh_keeps_the_sign_of_zero_like_numpy(dtype):
    z = np.array([-0.0, 0.0], dtype)
    np.testing.assert_array_equal(np.signbit(ops.tanh(z)), np.signbit(np.tanh(z)))


def test_nan_and_inf_propagate(dtype):
    z = np.array([np.nan, np.inf, -np.inf, 1.0], dtype)
    assert np.isnan(ops.relu(z)[0]) and ops.relu(z)[1] == np.inf and ops.relu(z)[2] == 0
    s = ops.sigmoid(z)
    assert np.isnan(s[0]) and s[1] == 1 and s[2] == 0
    t = ops.tanh(z)
    assert np.isnan(t[0]) and t[1] == 1 and t[2] == -1


@pytest.mark.parametrize("name", ACTS)
def test_out_and_in_place(rng, dtype, name):
    fwd, _ = ACTS[name]
    Z = rng.standard_normal((5, 6)).astype(dtype)
    want = fwd(ref, Z)
    f = getattr(ops, name.replace("_tanh", ""))
    args = {"leaky_relu": (0.1,), "gelu_tanh": ("tanh",), "elu": (1.3,), "softplus": (2.0, 5.0)}.get(name, ())
    out = np.empty_like(Z)
    assert f(Z, *args, out=out) is out
    close(out, want)
    Zc = Z.copy()
    assert f(Zc, *args, out=Zc) is Zc  # in place
    close(Zc, want)


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_layouts(rng, dtype, layout):
    base = rng.standard_normal((8, 10)).astype(dtype)
    Z = {"F": np.asfortranarray(base), "strided": base[::2, ::3], "readonly": base.copy()}[layout]
    if layout == "readonly":
        Z.setflags(write=False)
    dA = np.ones_like(Z)
    close(ops.sigmoid(Z), ref.sigmoid(np.ascontiguousarray(Z)))
    close(ops.relu_backward(Z, dA), ref.relu_backward(np.ascontiguousarray(Z), np.ascontiguousarray(dA)))


# ------------------------------------------------------------- GELU, SiLU, ELU, Softplus, Softmax vs torch

# name -> (fastgd forward, fastgd backward from (Z, dA), torch module): torch's defaults and others
TORCH_ACTS = {
    "gelu": (lambda m, z: m.gelu(z), lambda m, z, d: m.gelu_backward(z, d), lambda nn: nn.GELU()),
    "gelu_tanh": (lambda m, z: m.gelu(z, "tanh"), lambda m, z, d: m.gelu_backward(z, d, "tanh"),
                  lambda nn: nn.GELU(approximate="tanh")),
    "silu": (lambda m, z: m.silu(z), lambda m, z, d: m.silu_backward(z, d), lambda nn: nn.SiLU()),
    "elu": (lambda m, z: m.elu(z), lambda m, z, d: m.elu_backward(z, d), lambda nn: nn.ELU()),
    "elu_0.4": (lambda m, z: m.elu(z, 0.4), lambda m, z, d: m.elu_backward(z, d, 0.4), lambda nn: nn.ELU(0.4)),
    "softplus": (lambda m, z: m.softplus(z), lambda m, z, d: m.softplus_backward(z, d), lambda nn: nn.Softplus()),
    "softplus_b3_t2": (lambda m, z: m.softplus(z, 3.0, 2.0), lambda m, z, d: m.softplus_backward(z, d, 3.0, 2.0),
                       lambda nn: nn.Softplus(beta=3.0, threshold=2.0)),
}
TORCH_TOL = {np.float32: (3e-6, 1e-6), np.float64: (1e-13, 1e-14)}


def _torch_fwd_bwd(torch, module, Z, dA):
    z = torch.from_numpy(Z.copy()).requires_grad_(True)
    a = module(z)
    a.backward(torch.from_numpy(dA))
    return a.detach().numpy(), z.grad.numpy()


def _inputs(rng, dtype):
    """Ordinary values, the kinks, and large magnitudes (|z| ~ 1e3, where naive exp overflows)."""
    z = np.concatenate([rng.standard_normal(200) * 3, [0.0, -0.0, 1e-30, -1e-30, 20.0, 20.5, 88.0, 89.0],
                        rng.uniform(-1e3, 1e3, 50), [-1e3, 1e3, 3e3, -3e3]])
    return z.astype(dtype).reshape(-1, 2)


@pytest.mark.parametrize("name", TORCH_ACTS)
def test_new_activations_equal_torch(dtype, name):
    torch = pytest.importorskip("torch")
    fwd, bwd, module = TORCH_ACTS[name]
    rng = np.random.default_rng(1)
    Z = _inputs(rng, dtype)
    dA = rng.standard_normal(Z.shape).astype(dtype)
    want_a, want_dz = _torch_fwd_bwd(torch, module(torch.nn), Z, dA)
    rtol, atol = TORCH_TOL[dtype]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings, here or in the twins
        for m in (ops, ref):
            A, dZ = fwd(m, Z), bwd(m, Z, dA)
            assert A.dtype == dtype and dZ.dtype == dtype
            np.testing.assert_allclose(A, want_a, rtol=rtol, atol=atol, err_msg=f"{m.__name__} forward")
            # the backwards cancel (GELU's ½(1 + tanh) near -1): absolute error ~ eps·|terms| ~ eps·|z·dA|
            bad = np.abs(dZ - want_dz) > rtol * 4 * np.abs(want_dz) + atol * (1 + np.abs(Z * dA))
            assert not bad.any(), f"{m.__name__} backward: {dZ[bad]} != torch {want_dz[bad]} at z = {Z[bad]}"


@pytest.mark.parametrize("name", TORCH_ACTS)
def test_new_activations_functional_forms_equal_torch(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    fwd, _, _ = TORCH_ACTS[name]
    functional = {"gelu": lambda z: F.gelu(z), "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
                  "silu": F.silu, "elu": F.elu, "elu_0.4": lambda z: F.elu(z, 0.4), "softplus": F.softplus,
                  "softplus_b3_t2": lambda z: F.softplus(z, beta=3.0, threshold=2.0)}[name]
    Z = _inputs(np.random.default_rng(2), np.float64)
    np.testing.assert_allclose(fwd(ops, Z), functional(torch.from_numpy(Z)).numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", TORCH_ACTS)
def test_new_activations_twin_central_differences(name):
    fwd, bwd, _ = TORCH_ACTS[name]
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((3, 5)) * 2
    Z[np.abs(Z) < 0.05] += 0.1  # away from ELU's kink at 0
    if name.startswith("softplus"):
        Z[np.abs(3 * Z - 2) < 0.05] += 0.1  # and from the threshold switch
    dA = rng.standard_normal(Z.shape)
    num = numgrad(lambda z: np.sum(fwd(ref, z) * dA), Z)
    np.testing.assert_allclose(bwd(ref, Z, dA), num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(bwd(ops, Z, dA), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", TORCH_ACTS)
def test_new_activations_nan_and_inf_as_torch(dtype, name):
    torch = pytest.importorskip("torch")
    fwd, bwd, module = TORCH_ACTS[name]
    Z = np.array([[np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0]], dtype)
    dA = np.array([[1.0, 1.0, 1.0, np.nan, np.inf, 2.0]], dtype)
    # torch's float64 results (its vectorised float32 GELU gives nan for +inf, float64 gives inf)
    want_a, want_dz = (w.astype(dtype) for w in _torch_fwd_bwd(torch, module(torch.nn), Z.astype(np.float64),
                                                               dA.astype(np.float64)))
    for m in (ops, ref):
        np.testing.assert_allclose(fwd(m, Z), want_a, rtol=1e-6, err_msg=m.__name__)
        np.testing.assert_allclose(bwd(m, Z, dA), want_dz, rtol=1e-6, err_msg=m.__name__)


def test_softmax_backward_equals_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    Z = (rng.standard_normal((7, 5)) * 30).astype(dtype)
    Z[0] = [1e3, -1e3, 0, 999, 1e3]  # large logits: stable
    dA = rng.standard_normal(Z.shape).astype(dtype)
    want_p, want_dz = _torch_fwd_bwd(torch, torch.nn.Softmax(dim=-1), Z, dA)
    rtol, atol = TORCH_TOL[dtype]
    for m in (ops, ref):
        P = m.softmax(Z)
        np.testing.assert_allclose(P, want_p, rtol=rtol, atol=atol)
        dZ = m.softmax_backward(P, dA)
        assert dZ.dtype == dtype
        np.testing.assert_allclose(dZ, want_dz, rtol=rtol * 4, atol=atol * 4)
    assert ops.softmax_backward(P[0], dA[0]).shape == (5,)  # one row as a 1-D array


def test_softmax_backward_central_differences_and_layouts(rng):
    Z = rng.standard_normal((4, 6))
    dA = rng.standard_normal((4, 6))
    num = numgrad(lambda z: np.sum(ref.softmax(z) * dA), Z)
    for m in (ops, ref):
        np.testing.assert_allclose(m.softmax_backward(m.softmax(Z), dA), num, rtol=1e-6, atol=1e-9)
    P = ref.softmax(Z)
    want = ref.softmax_backward(P, dA)
    close(ops.softmax_backward(np.asfortranarray(P), dA[:, ::-1][:, ::-1]), want)
    out = np.empty_like(P)
    assert ops.softmax_backward(P, dA, out=out) is out
    close(out, want)
    Pc = P.copy()
    close(ops.softmax_backward(Pc, dA, out=Pc), want)  # in place over P


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: ops.gelu(np.ones(3), "exact"), ValueError, r"gelu: approximate must be 'none' or 'tanh', got 'exact'"),
    (lambda: ops.gelu_backward(np.ones(3), np.ones(4)), ValueError, r"gelu_backward: dA must have the shape of Z"),
    (lambda: ops.silu(np.ones(3, np.int32)), TypeError, r"silu: Z must be float32 or float64, got int32"),
    (lambda: ops.silu_backward(np.ones(3), np.ones(3, np.float32)), TypeError, r"Z float64 and dA float32"),
    (lambda: ops.elu(np.ones(3), float("inf")), ValueError, r"elu: alpha must be a finite number"),
    (lambda: ops.elu_backward([1.0], np.ones(1)), TypeError, r"elu_backward: Z must be a float32 or float64"),
    (lambda: ops.softplus(np.ones(3), 0.0), ValueError, r"softplus: beta must be non-zero"),
    (lambda: ops.softplus_backward(np.ones(3), np.ones(3), 1.0, float("nan")), ValueError,
     r"softplus_backward: threshold must be a finite number"),
    (lambda: ops.softmax_backward(np.ones((2, 3)), np.ones((3, 2))), ValueError,
     r"softmax_backward: dA must have the shape of P \(2, 3\), got shape \(3, 2\)"),
    (lambda: ops.softmax_backward(np.ones((2, 2, 2)), np.ones((2, 2, 2))), ValueError,
     r"softmax_backward: P must be 1-D"),
    (lambda: ops.softmax_backward(np.ones(3, np.float32), np.ones(3)), TypeError, r"P float32 and dA float64"),
])
def test_new_activations_refuse_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
