"""Net and layers: forward/backward against a hand-chained reference computation, gradient
accumulation, shared parameters, inits, dtype handling, validation, repr."""

import fastgd as fg
import numpy as np
import pytest
from fastgd import reference as ref


def test_forward_backward_match_reference_chain():
    rng = np.random.default_rng(0)
    net = fg.Net([fg.Linear(5, 7), fg.ReLU(), fg.Linear(7, 4), fg.Sigmoid(), fg.Linear(4, 3), fg.Tanh(),
                  fg.Linear(3, 2), fg.LeakyReLU(0.1)], dtype="float64", seed=1)
    X = rng.standard_normal((6, 5))
    dout = rng.standard_normal((6, 2))
    W = [layer.W.data for layer in net.layers[::2]]
    b = [layer.b.data for layer in net.layers[::2]]
    Z1 = ref.linear_forward(X, W[0], b[0]); A1 = ref.relu(Z1)
    Z2 = ref.linear_forward(A1, W[1], b[1]); A2 = ref.sigmoid(Z2)
    Z3 = ref.linear_forward(A2, W[2], b[2]); A3 = ref.tanh(Z3)
    Z4 = ref.linear_forward(A3, W[3], b[3]); A4 = ref.leaky_relu(Z4, 0.1)
    np.testing.assert_allclose(net.forward(X), A4, rtol=1e-13)
    dX = net.backward(dout)
    d = ref.leaky_relu_backward(Z4, dout, 0.1)
    d3, dW4, db4 = ref.linear_backward(A3, W[3], d)
    d2, dW3, db3 = ref.linear_backward(A2, W[2], ref.tanh_backward(A3, d3))
    d1, dW2, db2 = ref.linear_backward(A1, W[1], ref.sigmoid_backward(A2, d2))
    d0, dW1, db1 = ref.linear_backward(X, W[0], ref.relu_backward(Z1, d1))
    np.testing.assert_allclose(dX, d0, rtol=1e-12)
    for layer, dW, db in zip(net.layers[::2], (dW1, dW2, dW3, dW4), (db1, db2, db3, db4)):
        np.testing.assert_allclose(layer.W.grad, dW, rtol=1e-12)
        np.testing.assert_allclose(layer.b.grad, db, rtol=1e-12)


def test_grads_accumulate_and_zero_grad():
    net = fg.Net([fg.Linear(3, 2)], dtype="float64", seed=0)
    X = np.ones((4, 3))
    net.forward(X); net.backward(np.ones((4, 2)))
    g1 = net.parameters()[0].grad.copy()
    net.forward(X); net.backward(np.ones((4, 2)))
    np.testing.assert_allclose(net.parameters()[0].grad, 2 * g1)
    net.zero_grad()
    assert all(np.all(p.grad == 0) for p in net.parameters())


def test_parameters_are_shared_not_copied():
    net = fg.Net([fg.Linear(3, 2)], seed=0)
    p = net.parameters()[0]
    p.data[...] = 0
    assert np.all(net.layers[0].W.data == 0)
    np.testing.assert_array_equal(net.forward(np.ones((1, 3), np.float32)), net.layers[0].b.data[None])


def test_seeded_init_is_reproducible_and_scaled():
    a = fg.Net([fg.Linear(400, 300)], seed=5)
    b = fg.Net([fg.Linear(400, 300)], seed=5)
    c = fg.Net([fg.Linear(400, 300)], seed=6)
    np.testing.assert_array_equal(a.parameters()[0].data, b.parameters()[0].data)
    assert not np.array_equal(a.parameters()[0].data, c.parameters()[0].data)
    np.testing.assert_allclose(a.parameters()[0].data.std(), np.sqrt(2 / 400), rtol=0.05)  # He
    x = fg.Net([fg.Linear(400, 300, init="xavier")], seed=5).parameters()[0].data
    np.testing.assert_allclose(x.std(), np.sqrt(2 / 700), rtol=0.05)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_and_mismatch_is_an_error(dtype):
    net = fg.Net([fg.Linear(3, 2), fg.ReLU()], dtype=dtype, seed=0)
    assert all(p.dtype == dtype for p in net.parameters())
    assert net.forward(np.ones((2, 3), dtype)).dtype == dtype
    other = "float64" if dtype == "float32" else "float32"
    with pytest.raises(TypeError, match=f"{other}.*{dtype}|{dtype}.*{other}"):
        net.forward(np.ones((2, 3), other))


def test_validation_errors():
    with pytest.raises(ValueError, match="expects 5 input features"):
        fg.Net([fg.Linear(3, 4), fg.Linear(5, 2)])
    with pytest.raises(TypeError, match="instance"):
        fg.Net([fg.ReLU])
    net = fg.Net([fg.Linear(3, 2)], seed=0)
    with pytest.raises(ValueError, match="3"):
        net.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError):
        fg.Linear(0, 2)


def test_repr_and_counts():
    net = fg.Net([fg.Linear(64, 32), fg.ReLU(), fg.Linear(32, 1)], seed=0)
    assert net.n_parameters == 64 * 32 + 32 + 32 + 1
    text = repr(net)
    assert "Linear(64, 32" in text and "2,113" in text
