"""Property-based tests (hypothesis): random shapes, values, dtypes and memory layouts; each call
matches fastgd.reference or raises ValueError/TypeError."""

import numpy as np
from conftest import TOL
from fastgd import ops
from fastgd import reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float32, np.float64])
dims = st.integers(0, 9)
finite = {"allow_nan": False, "allow_infinity": False, "min_value": -50, "max_value": 50}


def check(got, want, dtype, scale=1.0):
    rtol, atol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(got, want, rtol=rtol * scale, atol=atol * scale * 10)


@st.composite
def layout(draw, arr):
    """arr as C order, Fortran order, or a strided view with the same values."""
    kind = draw(st.sampled_from(["C", "F", "strided"]))
    if kind == "F":
        return np.asarray(arr, order="F")  # (asfortranarray would make 0-d arrays 1-d)
    if kind == "strided" and arr.ndim:
        big = np.repeat(arr, 2, axis=-1)
        return big[..., ::2]
    return arr


@SETTINGS
@given(dtype=dtypes, n=dims, i=dims, o=dims, data=st.data())
def test_linear(dtype, n, i, o, data):
    X = data.draw(arrays(dtype, (n, i), elements=finite))
    W = data.draw(arrays(dtype, (i, o), elements=finite))
    b = data.draw(arrays(dtype, (o,), elements=finite))
    dZ = data.draw(arrays(dtype, (n, o), elements=finite))
    Xl, Wl = data.draw(layout(X)), data.draw(layout(W))
    scale = 2500.0 * max(i, n, 1)
    check(ops.linear_forward(Xl, Wl, b), ref.linear_forward(X, W, b), dtype, scale)
    for got, want in zip(ops.linear_backward(Xl, Wl, dZ), ref.linear_backward(X, W, dZ)):
        check(got, want, dtype, scale)


@SETTINGS
@given(dtype=dtypes, shape=st.lists(st.integers(0, 6), max_size=3), data=st.data(),
       name=st.sampled_from(["relu", "sigmoid", "tanh", "leaky_relu"]))
def test_elementwise(dtype, shape, data, name):
    Z = data.draw(arrays(dtype, tuple(shape), elements={**finite, "min_value": -1e4, "max_value": 1e4}))
    dA = data.draw(arrays(dtype, tuple(shape), elements=finite))
    Zl = data.draw(layout(Z))
    A = getattr(ops, name)(Zl)
    check(A, getattr(ref, name)(Z), dtype, 4)
    if name in ("relu", "leaky_relu"):
        check(getattr(ops, name + "_backward")(Zl, dA), getattr(ref, name + "_backward")(Z, dA), dtype)
    else:
        Ar = getattr(ref, name)(Z)
        check(getattr(ops, name + "_backward")(Ar, dA), getattr(ref, name + "_backward")(Ar, dA), dtype)


@SETTINGS
@given(dtype=dtypes, n=dims, c=st.integers(1, 9), data=st.data())
def test_losses(dtype, n, c, data):
    logits = data.draw(arrays(dtype, (n, c), elements={**finite, "min_value": -1e3, "max_value": 1e3}))
    labels = data.draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    t = data.draw(arrays(dtype, (n, c), elements=st.floats(0, 1, width=32)))
    Ll = data.draw(layout(logits))
    for got, want in ((ops.softmax_cross_entropy(Ll, labels), ref.softmax_cross_entropy(logits, labels)),
                      (ops.bce_with_logits(Ll, t), ref.bce_with_logits(logits, t)),
                      (ops.mse(Ll, t), ref.mse(logits, t))):
        if n == 0:
            assert np.isnan(got[0]) and np.isnan(want[0])
        else:
            np.testing.assert_allclose(got[0], want[0], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)
        check(got[1], want[1], dtype, 100)
    check(ops.softmax(Ll), ref.softmax(logits), dtype, 10)


@SETTINGS
@given(dtype=dtypes, n=st.integers(0, 300), d=st.integers(1, 70), data=st.data())
def test_mse_gradient(dtype, n, d, data):
    X = data.draw(arrays(dtype, (n, d), elements=st.floats(-3, 3, width=32)))
    w = data.draw(arrays(dtype, (d + 1,), elements=st.floats(-3, 3, width=32)))
    y = data.draw(arrays(dtype, (n,), elements=st.floats(-3, 3, width=32)))
    check(ops.mse_gradient(w, data.draw(layout(X)), y), ref.mse_gradient(w, X, y), dtype, 1000)


@SETTINGS
@given(a=st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3),
                   arrays(st.sampled_from([np.int32, np.complex64, np.bool_, np.float16, np.float32, np.float64]),
                          st.lists(st.integers(0, 4), max_size=3).map(tuple))),
       b=arrays(st.sampled_from([np.int64, np.float32, np.float64]),
                st.lists(st.integers(0, 4), max_size=3).map(tuple)),
       name=st.sampled_from(["linear_forward", "relu_backward", "sigmoid_backward", "mse", "bce_with_logits",
                             "softmax_cross_entropy", "mse_gradient", "softmax", "tanh"]))
def test_fuzz_never_crashes(a, b, name):
    """Arbitrary argument pairs: a result of the right dtype, or a ValueError/TypeError."""
    f = getattr(ops, name)
    args = {"softmax": (a,), "tanh": (a,), "mse_gradient": (a, b, b)}.get(name, (a, b))
    try:
        res = f(*args)
    except (ValueError, TypeError):
        return
    first = res[1] if isinstance(res, tuple) else res
    assert isinstance(first, np.ndarray) and first.dtype == np.asarray(a).dtype
