"""gradcheck: small on correct nets of every layer type, large on a broken layer."""

import fastgd as fg
import numpy as np
import pytest


@pytest.mark.parametrize("loss,k", [("mse", 2), ("cross_entropy", 3), ("bce_with_logits", 1)])
def test_correct_nets_pass(loss, k):
    rng = np.random.default_rng(0)
    net = fg.Net([fg.Linear(4, 6), fg.Tanh(), fg.Linear(6, 5), fg.Sigmoid(), fg.Linear(5, 5), fg.LeakyReLU(0.1),
                  fg.Linear(5, k), fg.Identity()], seed=0)
    X = rng.standard_normal((8, 4)).astype(np.float32)
    y = {"mse": rng.standard_normal((8, k)).astype(np.float32), "cross_entropy": rng.integers(0, k, 8),
         "bce_with_logits": (rng.random((8, 1)) > 0.5).astype(np.float32)}[loss]
    errors = fg.gradcheck(net, X, y, loss=loss)
    assert len(errors) == 8
    assert max(errors.values()) < 1e-5


def test_broken_layer_is_caught():
    class BadLinear(fg.Linear):
        def backward(self, dout, *, need_dx=True):
            dX = super().backward(dout, need_dx=need_dx)
            self.W.grad *= 1.1  # a 10% error in the weight gradient
            return dX

    rng = np.random.default_rng(0)
    net = fg.Net([BadLinear(3, 4), fg.ReLU(), fg.Linear(4, 1)], dtype="float64", seed=0)
    errors = fg.gradcheck(net, rng.standard_normal((5, 3)), rng.standard_normal(5))
    assert errors["0.W"] > 0.05 and errors["2.W"] < 1e-6


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("loss,k", [("mse", 2), ("cross_entropy", 3), ("huber", 2)])
def test_nets_of_the_new_layers_pass_in_both_modes(loss, k, mode):
    """Dropout (p > 0: one mask for every evaluation), batch or running statistics, the new
    activations: backprop equals central differences, and the net's own buffers are untouched."""
    rng = np.random.default_rng(1)
    net = fg.Net([fg.Linear(4, 6, bias=False), fg.BatchNorm1d(6), fg.GELU(), fg.Dropout(0.5), fg.Linear(6, 5),
                  fg.LayerNorm(5), fg.SiLU(), fg.Linear(5, 5), fg.ELU(0.7), fg.Softplus(beta=2.0), fg.Linear(5, 5),
                  fg.GELU("tanh"), fg.Linear(5, k)], dtype="float64", seed=0)
    net.train(mode == "train")
    bn = net.layers[1]
    bn.running_mean[...] = rng.standard_normal(6)
    bn.running_var[...] = rng.uniform(0.5, 2, 6)
    before = {name: b.copy() for name, b in net.buffers().items()}
    X = rng.standard_normal((8, 4))
    y = rng.integers(0, k, 8) if loss == "cross_entropy" else rng.standard_normal((8, k))
    errors = fg.gradcheck(net, X, y, loss=loss)
    assert len(errors) == len(net.parameters())
    assert max(errors.values()) < 1e-6, errors
    for name, b in net.buffers().items():
        np.testing.assert_array_equal(b, before[name], err_msg=name)
