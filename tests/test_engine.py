"""The fused C++ training step: same results as the layer-by-layer path, no per-step allocation,
the optimizer's state kept in sync, and clear errors for bad batches."""

import fastgd as fg
import numpy as np
import pytest

ARCHS = {
    "relu": lambda: [fg.Linear(6, 8), fg.ReLU(), fg.Linear(8, 3)],
    "mixed": lambda: [fg.Linear(6, 8), fg.Tanh(), fg.Linear(8, 5, bias=False), fg.LeakyReLU(0.2),
                      fg.Linear(5, 3), fg.Identity()],
    "sigmoid-deep": lambda: [fg.Linear(6, 4), fg.Sigmoid(), fg.Linear(4, 4), fg.Sigmoid(), fg.Linear(4, 3)],
    "act-first": lambda: [fg.ReLU(), fg.Linear(6, 3)],
}
OPTS = [("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
        ("sgd", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3}), ("adam", {"lr": 1e-2}),
        ("adam", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}), ("adamw", {"lr": 1e-2})]


def _targets(loss, rng, n, k, dtype):
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "bce_with_logits":
        return (rng.random((n, k)) > 0.5).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("opt,hyper", OPTS, ids=[f"{o}{i}" for i, (o, _) in enumerate(OPTS)])
@pytest.mark.parametrize("loss", ["cross_entropy", "bce_with_logits", "mse"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_equals_layer_by_layer(arch, opt, hyper, loss, dtype):
    rng = np.random.default_rng(0)
    nets = [fg.Net(ARCHS[arch](), dtype=dtype, seed=3) for _ in range(2)]
    trainers = [fg.Trainer(net, loss=loss, optimizer=opt, fused=f, clip_norm=0.5 if opt == "adam" else None,
                           **hyper) for net, f in zip(nets, (True, False))]
    for step in range(4):
        n = 7 if step % 2 else 12  # batch size changes: workspace reuse and growth
        X = rng.standard_normal((n, 6)).astype(dtype)
        y = _targets(loss, rng, n, 3, dtype)
        losses = [t.step(X, y) for t in trainers]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5 if dtype == "float32" else 1e-12)
        np.testing.assert_allclose(trainers[0].last_output, trainers[1].last_output,
                                   rtol=1e-4, atol=1e-5 if dtype == "float32" else 1e-12)
    assert trainers[0]._fused, "the fused path was not taken"
    for p, q in zip(*(net.parameters() for net in nets)):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-4, atol=1e-5 if dtype == "float32" else 1e-12)
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5 if dtype == "float32" else 1e-12)
    sd = [t.optimizer.state_dict() for t in trainers]
    assert sd[0]["state"].keys() == sd[1]["state"].keys()
    for k in sd[1]["state"]:
        assert sd[0]["state"][k].keys() == sd[1]["state"][k].keys()
        for key, v in sd[1]["state"][k].items():
            np.testing.assert_allclose(sd[0]["state"][k][key], v, rtol=1e-4, atol=1e-5)


def test_no_allocation_after_first_step():
    net = fg.Net([fg.Linear(10, 16), fg.ReLU(), fg.Linear(16, 4)], seed=0)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 10)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    trainer.step(X, y)
    engine = trainer._fused.engine
    assert engine.workspace_allocations == 1
    for _ in range(50):
        trainer.step(X, y)
        trainer.step(X[:5], y[:5])  # smaller batches reuse the workspace
    assert engine.workspace_allocations == 1
    trainer.step(np.concatenate([X, X]), np.concatenate([y, y]))  # a larger batch grows it once
    assert engine.workspace_allocations == 2


def test_parameters_are_views_into_one_buffer_and_edits_are_seen():
    net = fg.Net([fg.Linear(3, 2), fg.ReLU(), fg.Linear(2, 1)], dtype="float64", seed=0)
    trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.0)
    X, y = np.ones((4, 3)), np.zeros(4)
    trainer.step(X, y)
    flat = trainer._fused.data
    assert all(np.shares_memory(p.data, flat) for p in net.parameters())
    net.parameters()[0].data[...] = 0  # an in-place edit by the user reaches the engine
    trainer.step(X, y)
    np.testing.assert_allclose(trainer.last_output, net.forward(X))


def test_switching_paths_keeps_optimizer_state_consistent():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, 8)
    nets = [fg.Net(ARCHS["relu"](), dtype="float64", seed=1) for _ in range(2)]
    fused = fg.Trainer(nets[0], loss="cross_entropy", optimizer="adam", lr=0.01)
    plain = fg.Trainer(nets[1], loss="cross_entropy", optimizer="adam", lr=0.01, fused=False)
    for t in (fused, plain):
        t.step(X, y)
        t.step(X, y)
    # a direct optimizer step (outside the engine) and a state_dict round trip in between
    for t, net in ((fused, nets[0]), (plain, nets[1])):
        out = net.forward(X)
        net.zero_grad()
        net.backward(np.ones_like(out) / out.size)
        t.optimizer.step()
        t.optimizer.load_state_dict(t.optimizer.state_dict())
        t.step(X, y)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-13)
    assert fused.optimizer.state_dict()["state"][0]["step"] == 4


@pytest.mark.parametrize("X,y,exc,match", [
    (np.ones((4, 5), np.float32), np.zeros(4, int), ValueError, r"X must have shape \(n_samples, 6\)"),
    (np.ones((4, 6), np.float64), np.zeros(4, int), TypeError, r"X must be float32 .*got float64"),
    (np.ones((0, 6), np.float32), np.zeros(0, int), ValueError, r"no samples"),
    (np.ones((4, 6), np.float32), np.zeros(5, int), ValueError, r"y must have shape \(4,\)"),
    (np.ones((4, 6), np.float32), np.array([0, 1, 2, 3]), ValueError, r"class indices in \[0, 3\)"),
    (np.ones((4, 6), np.float32), [0, 1, 2, 0], TypeError, r"y must be a numpy.ndarray"),
])
def test_bad_batches_raise(X, y, exc, match):
    trainer = fg.Trainer(fg.Net(ARCHS["relu"](), seed=0), loss="cross_entropy", optimizer="sgd", lr=0.1)
    with pytest.raises(exc, match=match):
        trainer.step(X, y)


def test_unfusable_nets_use_the_python_path():
    class Double(fg.Layer):
        def forward(self, X):
            return 2 * X

        def backward(self, dout, *, need_dx=True):
            return 2 * dout

    net = fg.Net([fg.Linear(6, 3), Double()], seed=0)
    trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.1)
    X = np.ones((2, 6), np.float32)
    loss = trainer.step(X, np.zeros((2, 3), np.float32))
    assert trainer._fused is False and np.isfinite(loss)
