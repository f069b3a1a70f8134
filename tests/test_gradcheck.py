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
