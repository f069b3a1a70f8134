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
    f = getattr(ops, name)
    args = (0.1,) if name == "leaky_relu" else ()
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
