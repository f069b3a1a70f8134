"""Dropout: the counter-based hash mask (C++ == NumPy twin, bit for bit), its statistics, the
kernel's backward and validation, and the ``Dropout`` layer (train/eval, seed, counter)."""

import fastgd as fg
import numpy as np
import pytest
from conftest import numgrad
from fastgd import ops
from fastgd import reference as ref


@pytest.mark.parametrize("shape", [(), (1,), (7,), (13, 17), (0, 5), (3, 4, 5), (100_003,)], ids=str)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_kernel_equals_twin_bit_for_bit(rng, dtype, shape, p):
    X = rng.standard_normal(shape).astype(dtype)
    A, mask = ops.dropout(X, p, 12345, 7)
    A_ref, mask_ref = ref.dropout(X, p, 12345, 7)
    assert A.dtype == dtype and A.shape == X.shape and mask.dtype == np.bool_ and mask.shape == X.shape
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(A, A_ref)
    dA = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(ops.dropout_backward(mask, dA, p), ref.dropout_backward(mask, dA, p))


def test_mask_statistics(dtype):
    X = np.ones(400_000, dtype)
    for p in (0.1, 0.5, 0.8):
        A, mask = ops.dropout(X, p, 2**64 - 1, 3)
        kept = mask.mean()
        sigma = np.sqrt(p * (1 - p) / X.size)
        assert abs(kept - (1 - p)) < 5 * sigma, (p, kept)
        scale = dtype(1 / (1 - p))
        np.testing.assert_array_equal(A[mask], scale)  # kept: scaled by 1/(1-p)
        assert np.all(A[~mask] == 0)
        # the mean is preserved in expectation (inverted dropout)
        assert abs(A.mean(dtype=np.float64) - 1) < 6 * sigma / (1 - p)
        # no structure along the array: both halves and neighbouring pairs look independent
        assert abs(mask[::2].mean() - mask[1::2].mean()) < 10 * sigma
        both = (mask[:-1] & mask[1:]).mean()
        assert abs(both - (1 - p) ** 2) < 10 * sigma


def test_masks_depend_on_seed_and_counter_only():
    X = np.ones((64, 50))
    m = {(s, c): ops.dropout(X, 0.5, s, c)[1] for s in (0, 1, 2**63) for c in (0, 1, 2)}
    again = ops.dropout(np.full((64, 50), 3.0), 0.5, 1, 2)[1]
    np.testing.assert_array_equal(again, m[1, 2])  # the values of X do not matter
    keys = list(m)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            agree = (m[a] == m[b]).mean()
            assert 0.45 < agree < 0.55, (a, b, agree)  # independent masks agree half the time


def test_p_zero_is_the_identity(dtype, rng):
    X = rng.standard_normal((9, 4)).astype(dtype)
    X[0, 0], X[1, 1] = np.nan, np.inf
    A, mask = ops.dropout(X, 0.0, 5, 0)
    assert mask.all()
    np.testing.assert_array_equal(A, X)


def test_nan_and_inf_as_torch_formula(dtype):
    torch = pytest.importorskip("torch")
    X = np.tile(np.array([np.nan, np.inf, -np.inf, 1.0], dtype), 64)
    A, mask = ops.dropout(X, 0.5, 9, 1)
    assert (~mask).any() and mask.any()
    p = 0.5
    # torch's native dropout: input * mask * (1 / (1 - p)); a dropped inf is nan there too
    want = (torch.from_numpy(X) * torch.from_numpy(mask) * (1 / (1 - p))).numpy()
    np.testing.assert_array_equal(A, want)


def test_backward_is_the_jacobian_of_the_fixed_mask(rng):
    X = rng.standard_normal((4, 6))
    dA = rng.standard_normal((4, 6))
    num = numgrad(lambda x: np.sum(ops.dropout(x, 0.3, 77, 4)[0] * dA), X)
    mask = ops.dropout(X, 0.3, 77, 4)[1]
    np.testing.assert_allclose(ops.dropout_backward(mask, dA, 0.3), num, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ref.dropout_backward(mask, dA, 0.3), num, rtol=1e-7, atol=1e-9)


def test_layouts_and_out(rng, dtype):
    base = rng.standard_normal((8, 10)).astype(dtype)
    for X in (np.asfortranarray(base), base[::2, ::3], base[::-1]):
        A, mask = ops.dropout(X, 0.4, 3, 2)
        A_ref, mask_ref = ref.dropout(np.ascontiguousarray(X), 0.4, 3, 2)
        np.testing.assert_array_equal(mask, mask_ref)  # element index = C order of X's shape
        np.testing.assert_array_equal(A, A_ref)
        np.testing.assert_array_equal(ops.dropout_backward(np.asfortranarray(mask), X, 0.4),
                                      ref.dropout_backward(mask_ref, np.ascontiguousarray(X), 0.4))
    X = base.copy()
    A, mask = ops.dropout(X, 0.4, 3, 2, out=X)  # in place
    assert A is X
    np.testing.assert_array_equal(X, ref.dropout(base, 0.4, 3, 2)[0])


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: ops.dropout(np.ones(3), 1.0, 0, 0), ValueError, r"dropout: p must be a probability in \[0, 1\), got 1"),
    (lambda: ops.dropout(np.ones(3), -0.1, 0, 0), ValueError, r"dropout: p must be a probability"),
    (lambda: ops.dropout(np.ones(3), float("nan"), 0, 0), ValueError, r"dropout: p must be a probability"),
    (lambda: ops.dropout(np.ones(3), 0.5, -1, 0), ValueError,
     r"dropout: seed must be an int in \[0, 2\*\*64\), got -1"),
    (lambda: ops.dropout(np.ones(3), 0.5, 2**64, 0), ValueError, r"dropout: seed must be an int"),
    (lambda: ops.dropout(np.ones(3), 0.5, 1.5, 0), TypeError, r"dropout: seed must be an int .*got float"),
    (lambda: ops.dropout(np.ones(3), 0.5, True, 0), TypeError, r"dropout: seed must be an int .*got bool"),
    (lambda: ops.dropout(np.ones(3), 0.5, 0, 2**63), ValueError,
     r"dropout: counter must be an int in \[0, 2\*\*63\)"),
    (lambda: ops.dropout(np.ones(3, np.int64), 0.5, 0, 0), TypeError, r"dropout: X must be float32 or float64"),
    (lambda: ops.dropout([1.0], 0.5, 0, 0), TypeError, r"dropout: X must be a float32 or float64 numpy.ndarray"),
    (lambda: ops.dropout(np.ones(3), 0.5, 0, 0, out=np.ones(3, np.float32)), TypeError,
     r"dropout: out must be float64"),
    (lambda: ops.dropout_backward(np.ones(3), np.ones(3), 0.5), TypeError,
     r"dropout_backward: mask must be a bool array .*float64"),
    (lambda: ops.dropout_backward(np.ones(4, bool), np.ones(3), 0.5), ValueError,
     r"dropout_backward: mask must have the shape of dA \(3,\), got shape \(4,\)"),
    (lambda: ops.dropout_backward([True], np.ones(1), 0.5), TypeError,
     r"dropout_backward: mask must be a numpy.ndarray"),
    (lambda: ops.dropout_backward(np.ones(3, bool), np.ones(3), 1.5), ValueError, r"dropout_backward: p must be"),
])
def test_bad_input_raises_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_counter_and_seed_accept_numpy_integers():
    a = ops.dropout(np.ones(50), 0.5, np.uint64(2**64 - 1), np.int64(3))[1]
    np.testing.assert_array_equal(a, ref.dropout_mask((50,), 0.5, 2**64 - 1, 3))


# ------------------------------------------------------------------------------------ the layer


def test_layer_train_and_eval_modes():
    drop = fg.Dropout(0.5, seed=11)
    X = np.ones((200, 10))
    A = drop.forward(X)
    _, mask = ops.dropout(X, 0.5, 11, 0)
    np.testing.assert_array_equal(A, np.where(mask, 2.0, 0.0))
    dA = np.arange(2000.0).reshape(200, 10)
    np.testing.assert_array_equal(drop.backward(dA), np.where(mask, 2 * dA, 0.0))
    assert int(drop.counter) == 1
    A2 = drop.forward(X)
    np.testing.assert_array_equal(A2 != 0, ops.dropout(X, 0.5, 11, 1)[1])  # the next counter
    assert int(drop.counter) == 2
    drop.eval()
    assert drop.forward(X) is X and drop.backward(dA) is dA
    assert int(drop.counter) == 2  # eval forwards do not advance it
    assert drop.train().training


def test_layer_matches_torch_semantics(dtype):
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(0).standard_normal((300, 20)).astype(dtype)
    ours, theirs = fg.Dropout(0.25, seed=1), torch.nn.Dropout(0.25)
    a = ours.forward(X)
    t = theirs(torch.from_numpy(X)).numpy()
    scale = dtype(1 / 0.75)
    # both: each value either dropped (0) or x / (1 - p), about 1 - p of them kept
    for out in (a, t):
        kept = out != 0
        np.testing.assert_allclose(out[kept], X[kept] * scale, rtol=1e-6)
        assert abs(kept.mean() - 0.75) < 0.02
    ours.eval(), theirs.eval()
    np.testing.assert_array_equal(ours.forward(X), theirs(torch.from_numpy(X)).numpy())


def test_layer_p_zero_is_identity_and_validates():
    drop = fg.Dropout(0.0, seed=0)
    X = np.ones((3, 2))
    assert drop.forward(X) is X and int(drop.counter) == 1
    for bad in (1.0, -0.5, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match="Dropout: p must be a probability in"):
            fg.Dropout(bad)
    for bad in (-1, 2**64, 1.5):
        with pytest.raises(ValueError, match="Dropout: seed must be None or an int"):
            fg.Dropout(0.5, seed=bad)


def test_net_seed_gives_the_masks_and_leaves_other_weights_unchanged():
    def make(seed, dropout=True):
        layers = [fg.Linear(6, 8), fg.ReLU()] + ([fg.Dropout(0.5)] if dropout else []) + [fg.Linear(8, 3)]
        return fg.Net(layers, dtype="float64", seed=seed)

    a, b, c, plain = make(3), make(3), make(4), make(3, dropout=False)
    assert a.layers[2].seed == b.layers[2].seed != c.layers[2].seed
    # the seed is a child of the net's SeedSequence: the Linear weights are those of the net without Dropout
    for p, q in zip(a.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    X = np.random.default_rng(0).standard_normal((16, 6))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    assert not np.array_equal(a.forward(X), c.forward(X))
    two = fg.Net([fg.Dropout(0.5), fg.Dropout(0.5)], seed=0)
    assert two.layers[0].seed != two.layers[1].seed


def test_config_repr_and_buffers():
    drop = fg.Dropout(0.3)
    assert repr(drop) == "Dropout(p=0.3)" and drop.config() == {"type": "Dropout", "p": 0.3}
    assert fg.Dropout(0.3, seed=5).config() == {"type": "Dropout", "p": 0.3, "seed": 5}
    net = fg.Net([fg.Linear(2, 2), fg.Dropout(0.3)], seed=0)
    assert sorted(net.buffers()) == ["1.counter", "1.seed"]
    twin = fg.Net.from_config(net.config())
    assert isinstance(twin.layers[1], fg.Dropout) and twin.layers[1].p == 0.3
