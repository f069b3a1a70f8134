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


# --- the engine's units, state, sample weights, L2, eval mode, parameter groups ----------------

from fastgd import _core  # noqa: E402
from fastgd import reference as ref  # noqa: E402

DTYPES = ["float32", "float64"]
TOL = {"float32": {"rtol": 2e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-13}}


def _engine(dtype, ops, loss, d, size, opt=True):
    """An engine over fresh random flat buffers of ``size``; returns (engine, params, grads)."""
    rng = np.random.default_rng(5)
    params = rng.standard_normal(size).astype(dtype) * 0.5
    grads = np.zeros(size, dtype)
    e = _core.Engine(dtype, ops, loss, d)
    e.bind(params, grads)
    if opt:
        e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64))
    return e, params, grads


ACTS = {"relu": (("relu",), ref.relu), "leaky_relu": (("leaky_relu", 0.3), lambda z: ref.leaky_relu(z, 0.3)),
        "sigmoid": (("sigmoid",), ref.sigmoid), "tanh": (("tanh",), ref.tanh), "identity": (("identity",), lambda z: z)}


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_each_op_unit_forward_matches_reference(act, dtype):
    spec, fn = ACTS[act]
    e, p, _ = _engine(dtype, [("linear", 4, 3, 0, 12), spec], "mse", 4, 15)
    X = np.asfortranarray(np.random.default_rng(0).standard_normal((6, 4)).astype(dtype) * 3)
    W, b = p[:12].reshape(4, 3), p[12:]
    np.testing.assert_allclose(e.forward(X), fn(ref.linear_forward(X, W, b)), **TOL[dtype])


def _per_sample(loss, out, y):
    """Each row's loss ℓᵢ and gradient ∂ℓᵢ from fastgd.reference, one row at a time."""
    fn = {"mse": ref.mse, "bce_with_logits": ref.bce_with_logits, "cross_entropy": ref.softmax_cross_entropy}[loss]
    rows = [fn(out[i:i + 1], y[i:i + 1]) for i in range(len(out))]
    return np.array([r[0] for r in rows]), np.concatenate([r[1] for r in rows])


@pytest.mark.parametrize("loss,c", [("mse", 3), ("mse", 1), ("bce_with_logits", 2), ("cross_entropy", 4),
                                    ("cross_entropy-probs", 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_loss_and_gradient_match_the_formula(loss, c, dtype):
    rng = np.random.default_rng(1)
    n, d = 9, 5
    name = loss.split("-")[0]
    e, p, g = _engine(dtype, [("linear", d, c, 0, d * c)], name, d, d * c + c)
    X = rng.standard_normal((n, d)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, c, n)
    elif loss == "cross_entropy-probs":
        y = rng.dirichlet(np.ones(c), n).astype(dtype)
    elif name == "bce_with_logits":
        y = rng.random((n, c)).astype(dtype)
    else:
        y = rng.standard_normal((n, c)).astype(dtype)
    w = rng.random(n).astype(dtype)
    w[2] = 0
    W, b = p[:d * c].reshape(d, c), p[d * c:]
    out = ref.linear_forward(X.astype(np.float64), W.astype(np.float64), b.astype(np.float64))
    ell, dl = _per_sample(name, out, y.astype(np.float64) if y.dtype.kind == "f" else y)
    expect = (w * ell).sum() / w.sum()
    dout = dl * (w / w.sum())[:, None]
    _, dW, db = ref.linear_backward(X.astype(np.float64), W.astype(np.float64), dout)
    tol = {"rtol": 2e-4, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    value = e.loss_and_grad(X, y, sample_weight=w)
    np.testing.assert_allclose(value, expect, **tol)
    np.testing.assert_allclose(g[:d * c].reshape(d, c), dW, **tol)
    np.testing.assert_allclose(g[d * c:], db, **tol)
    # Σw = 0: loss 0 and a zero gradient
    assert e.loss_and_grad(X, y, sample_weight=np.zeros(n, dtype)) == 0
    assert not g.any()
    # no weights: the unweighted mean, equal to weights of ones
    np.testing.assert_allclose(e.loss_and_grad(X, y), e.loss_and_grad(X, y, sample_weight=np.ones(n, dtype)),
                               **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("arch", ["mlp", "linreg"])
def test_l2_penalty_adds_half_lambda_sum_of_squared_weights(dtype, arch):
    rng = np.random.default_rng(2)
    if arch == "mlp":
        ops, size, loss = [("linear", 4, 3, 0, 12), ("tanh",), ("linear", 3, 2, 15, -1)], 21, "cross_entropy"
        weights, y = [slice(0, 12), slice(15, 21)], rng.integers(0, 2, 8)
    else:  # one Linear(d, 1) on MSE: the one-pass linear-regression unit
        ops, size, loss = [("linear", 4, 1, 0, 4)], 5, "mse"
        weights, y = [slice(0, 4)], rng.standard_normal(8).astype(dtype)
    e, p, g = _engine(dtype, ops, loss, 4, size)
    X = rng.standard_normal((8, 4)).astype(dtype)
    base, g0 = e.loss_and_grad(X, y), g.copy()
    lam = 0.3
    e.set_l2(lam)
    value = e.loss_and_grad(X, y)
    mask = np.zeros(size, bool)
    for s in weights:
        mask[s] = True
    np.testing.assert_allclose(value, base + 0.5 * lam * np.sum(p[mask].astype(np.float64) ** 2), **TOL[dtype])
    np.testing.assert_allclose(g, g0 + lam * p * mask, **TOL[dtype])  # biases get nothing


def test_state_and_buffers_are_kept_and_written_in_place():
    """The `_probe` unit (identity) keeps its input as per-step state, adds column sums to its
    buffer, counts steps and records the random stream's step, in train mode only."""
    sums, count, last = np.zeros(3), np.zeros((), np.int64), np.zeros(1, np.int64)
    ops = [("linear", 2, 3, 0, 6), ("_probe", {"sums": sums, "count": count}), ("relu",)]
    e, p, g = _engine("float64", ops, "mse", 2, 9)
    with pytest.raises(ValueError, match="buffer 'last_step' is not bound"):
        e.loss_and_grad(np.ones((2, 2)), np.zeros((2, 3)))
    e.bind_buffers(1, {"last_step": last})
    e.set_seed(11, step=5)
    rng = np.random.default_rng(3)
    total = np.zeros(3)
    for n in (4, 9, 2):  # growing and shrinking batches: state sized from the rows
        X, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 3))
        W, b = p[:6].reshape(2, 3), p[6:]
        Z = ref.linear_forward(X, W, b)
        total += Z.sum(0)
        e.loss_and_grad(X, y)
        _, dout = ref.mse(ref.relu(Z), y)
        _, dW, db = ref.linear_backward(X, W, ref.relu_backward(Z, dout))
        np.testing.assert_allclose(g[:6].reshape(2, 3), dW, rtol=1e-12)  # the state survived (no NaN)
        np.testing.assert_allclose(g[6:], db, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sums, total, rtol=1e-12)
    assert int(count) == 3 and last[0] == 7 and e.rng_step == 8
    e.forward(X)  # eval mode: buffers untouched, the stream not advanced
    assert int(count) == 3 and e.rng_step == 8


@pytest.mark.parametrize("buffers,exc,match", [
    ({"sums": np.zeros(3, np.float32)}, TypeError, r"buffer 'sums' must be float64, got float32"),
    ({"sums": np.zeros(4)}, ValueError, r"buffer 'sums' must have shape \(3,\), got \(4,\)"),
    ({"sums": np.zeros(6)[::2]}, ValueError, r"buffer 'sums' must be a writable, aligned, contiguous"),
    ({"count": np.zeros(1)}, TypeError, r"buffer 'count' must be int64"),
    ({"nope": np.zeros(3)}, ValueError, r"op 1 has no buffer 'nope' \(its buffers: 'sums', 'count', 'last_step'\)"),
    ({"sums": [0.0, 0.0, 0.0]}, TypeError, r"buffer 'sums' must be a numpy.ndarray, got list"),
])
def test_bad_buffers_raise(buffers, exc, match):
    e, _, _ = _engine("float64", [("linear", 2, 3, 0, 6), ("_probe",)], "mse", 2, 9)
    with pytest.raises(exc, match=match):
        e.bind_buffers(1, buffers)
    with pytest.raises(ValueError, match=r"op_index must be in \[0, 2\)"):
        e.bind_buffers(2, {})


@pytest.mark.parametrize("w,exc,match", [
    (np.ones(3, np.float32), ValueError, r"sample_weight must have shape \(4,\) to match X, got \(3,\)"),
    (np.ones((4, 1), np.float32), ValueError, r"sample_weight must have shape \(4,\)"),
    (np.ones(4, np.float64), TypeError, r"sample_weight must be float32 \(the net's dtype\), got float64"),
    (np.array([1, -1, 1, 1], np.float32), ValueError, r"sample_weight must be finite and >= 0"),
    (np.array([1, np.nan, 1, 1], np.float32), ValueError, r"sample_weight must be finite and >= 0"),
    (np.array([1, np.inf, 1, 1], np.float32), ValueError, r"sample_weight must be finite and >= 0"),
    ([1.0, 1.0, 1.0, 1.0], TypeError, r"sample_weight must be a float32 or float64 numpy.ndarray, got list"),
])
def test_bad_sample_weights_raise(w, exc, match):
    trainer = fg.Trainer(fg.Net(ARCHS["relu"](), seed=0), loss="cross_entropy", optimizer="sgd", lr=0.1)
    X, y = np.ones((4, 6), np.float32), np.zeros(4, int)
    trainer.step(X, y)
    before = [p.data.copy() for p in trainer.net.parameters()]
    for call in (trainer._fused.step, trainer._fused.loss_and_grad):
        with pytest.raises(exc, match=match):
            call(X, y, sample_weight=w)
    assert all((p.data == q).all() for p, q in zip(trainer.net.parameters(), before))


def test_sample_weights_strided_are_read_correctly():
    e, _, _ = _engine("float64", [("linear", 3, 2, 0, 6)], "mse", 3, 8)
    rng = np.random.default_rng(4)
    X, y, w = rng.standard_normal((5, 3)), rng.standard_normal((5, 2)), rng.random(10)
    assert e.loss_and_grad(X, y, sample_weight=w[::2]) == e.loss_and_grad(X, y, sample_weight=w[::2].copy())


@pytest.mark.parametrize("ops,loss,exc,match", [
    ([("conv", 3)], "mse", ValueError, r"unknown layer 'conv'"),
    ([("linear", 3, 2, 0)], "mse", ValueError, r"'linear' takes 4 arguments \(in, out, w_off, b_off\), got 3"),
    ([("linear", 3, 2.5, 0, -1)], "mse", ValueError, r"'linear' argument 1 must be an integer"),
    ([("relu", 1)], "mse", ValueError, r"'relu' takes 0 arguments, got 1"),
    ([("leaky_relu", "x")], "mse", TypeError, r"argument 1 of op 'leaky_relu' must be a number"),
    (["relu"], "mse", TypeError, r"each op must be a tuple \(name, \*arguments\), got str"),
    ([("linear", 3, 2, 0, -1)], "hinge", ValueError, r"unknown loss 'hinge'"),
    ([("linear", 3, 2, 0, -1)], ("mse", 1.0), ValueError, r"'mse' takes 0 arguments, got 1"),
    ([("linear", 4, 2, 0, -1)], "mse", ValueError, r"a Linear layer expects 4 inputs but the previous layer gives 3"),
])
def test_bad_plans_raise(ops, loss, exc, match):
    with pytest.raises(exc, match=match):
        _core.Engine("float32", ops, loss, 3)


def test_bad_settings_raise():
    e, _, _ = _engine("float32", [("linear", 3, 2, 0, 6)], "mse", 3, 8)
    with pytest.raises(ValueError, match=r"Engine.set_l2: lam must be finite and >= 0"):
        e.set_l2(-1.0)
    with pytest.raises(ValueError, match=r"Engine.set_lr: group must be in \[0, 1\), got 3"):
        e.set_lr(0.1, 3)
    with pytest.raises(ValueError, match=r"params must keep the size 8"):
        e.bind(np.zeros(7, np.float32), np.zeros(7, np.float32))
    fresh = _core.Engine("float32", [("linear", 3, 2, 0, 6)], "mse", 3)
    with pytest.raises(ValueError, match=r"parameters \[6, 8\) lie outside params of size 7"):
        fresh.bind(np.zeros(7, np.float32), np.zeros(7, np.float32))
    with pytest.raises(ValueError, match=r"group \(offset 4, size 6\) must lie inside params of size 8"):
        e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64), offset=4, size=6)
    with pytest.raises(ValueError, match=r"momentum_buffer must have shape \(4,\) \(the group's size\)"):
        e.set_sgd(0.1, 0.9, 0.0, False, 0.0, np.zeros(8, np.float32), np.zeros((), np.int64), offset=0, size=4)
    e.clear_groups()
    e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64), offset=0, size=4)
    with pytest.raises(ValueError, match=r"overlaps the group \[0, 4\)"):
        e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64), offset=2, size=4)
    assert e.num_groups == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_eval_forward_equals_the_net_forward(dtype):
    net = fg.Net(ARCHS["mixed"](), dtype=dtype, seed=0)
    trainer = fg.Trainer(net, loss="mse", optimizer="adam", lr=0.01)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 6)).astype(dtype)
    trainer.step(X, rng.standard_normal((7, 3)).astype(dtype))
    net.eval()
    np.testing.assert_allclose(trainer._fused.forward(X), net.forward(X), **TOL[dtype])


GROUPED = [("sgd", {"momentum": 0.9}, [{"lr": 0.1}, {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1}]),
           ("adam", {}, [{"lr": 0.01}, {"lr": 0.001, "betas": (0.8, 0.99)}]),
           ("adamw", {"weight_decay": 0.1}, [{"lr": 0.01, "weight_decay": 0.0}, {"lr": 0.02}])]


@pytest.mark.parametrize("opt,common,per_group", GROUPED, ids=[g[0] for g in GROUPED])
def test_parameter_groups_fused_equal_layer_by_layer(opt, common, per_group):
    rng = np.random.default_rng(6)
    nets = [fg.Net(ARCHS["relu"](), dtype="float64", seed=2) for _ in range(2)]
    cls = {"sgd": fg.optim.SGD, "adam": fg.optim.Adam, "adamw": fg.optim.AdamW}[opt]
    trainers = []
    for net, fused in zip(nets, (True, False)):
        ps = net.parameters()
        groups = [{"params": ps[:2], **per_group[0]}, {"params": ps[2:], **per_group[1]}]
        trainers.append(fg.Trainer(net, loss="cross_entropy", optimizer=cls(groups, **common), fused=fused))
    for step in range(3):
        X, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
        if step == 2:
            for t in trainers:
                t.optimizer.param_groups[1]["lr"] *= 0.5  # a schedule editing one group
        np.testing.assert_allclose(*(t.step(X, y) for t in trainers), rtol=1e-12)
    assert trainers[0]._fused and trainers[0]._fused.engine.num_groups == 2
    for p, q in zip(*(net.parameters() for net in nets)):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-11, atol=1e-13)
    sd = [t.optimizer.state_dict()["state"] for t in trainers]
    for k in sd[1]:
        for key, v in sd[1][k].items():
            np.testing.assert_allclose(sd[0][k][key], v, rtol=1e-11, atol=1e-13)


def test_groups_that_are_not_contiguous_runs_are_not_fused():
    net = fg.Net(ARCHS["relu"](), dtype="float64", seed=2)
    ps = net.parameters()
    opt = fg.optim.SGD([{"params": [ps[0], ps[2]]}, {"params": [ps[1], ps[3]]}], lr=0.1)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer=opt)
    trainer.step(np.ones((2, 6)), np.zeros(2, int))
    assert trainer._fused is False


# The loss units with their options (engine_losses.cpp): the fused step equals layer by layer.
NEW_LOSSES = {
    "l1": lambda: fg.losses.L1Loss(),
    "huber": lambda: fg.losses.HuberLoss(delta=0.4),
    "smooth_l1": lambda: fg.losses.SmoothL1Loss(beta=0.7),
    "smooth_l1-0": lambda: fg.losses.SmoothL1Loss(beta=0.0),
    "poisson_nll": lambda: fg.losses.PoissonNLLLoss(full=True),
    "poisson_rates": lambda: fg.losses.PoissonNLLLoss(log_input=False, eps=1e-3),
    "ce-weight-smoothing": lambda: fg.losses.CrossEntropyLoss(weight=[1.0, 3.0, 0.5], label_smoothing=0.2),
    "ce-smoothing-probs": lambda: fg.losses.CrossEntropyLoss(label_smoothing=0.1),
    "ce-weight-probs": lambda: fg.losses.CrossEntropyLoss(weight=[0.2, 1.0, 2.0]),
    "bce-pos-weight": lambda: fg.losses.BCEWithLogitsLoss(pos_weight=[2.0, 0.5, 1.0]),
    "bce-pos-weight-1": lambda: fg.losses.BCEWithLogitsLoss(pos_weight=[3.0]),
}


def _new_loss_targets(name, rng, n, k, dtype):
    if name.startswith("ce") and name.endswith("probs"):
        return rng.dirichlet(np.ones(k), n).astype(dtype)
    if name.startswith("ce"):
        return rng.integers(0, k, n)
    if name.startswith("bce"):
        return (rng.random((n, k)) > 0.5).astype(dtype)
    if name.startswith("poisson"):
        return rng.poisson(2.0, (n, k)).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


@pytest.mark.parametrize("name", NEW_LOSSES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_loss_units_equal_layer_by_layer(name, weighted, dtype):
    rng = np.random.default_rng(4)
    def arch():  # rates > 0 for the non-log Poisson loss
        return [fg.Linear(6, 8), fg.Tanh(), fg.Linear(8, 3)] + ([fg.Sigmoid()] if name == "poisson_rates" else [])

    nets = [fg.Net(arch(), dtype=dtype, seed=3) for _ in range(2)]
    trainers = [fg.Trainer(net, loss=NEW_LOSSES[name](), optimizer="adam", fused=f, lr=1e-2)
                for net, f in zip(nets, (True, False))]
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for step in range(3):
        n = 7 if step % 2 else 12
        X = rng.standard_normal((n, 6)).astype(dtype)
        y = _new_loss_targets(name, rng, n, 3, dtype)
        w = rng.random(n).astype(dtype) if weighted else None
        if w is not None:
            w[1] = 0
        losses = [t.step(X, y, sample_weight=w) for t in trainers]
        np.testing.assert_allclose(losses[0], losses[1], **tol)
    assert trainers[0]._fused, "the fused path was not taken"
    for p, q in zip(*(net.parameters() for net in nets)):
        np.testing.assert_allclose(p.data, q.data, **tol)
        np.testing.assert_allclose(p.grad, q.grad, **tol)


@pytest.mark.parametrize("loss,match", [
    (("huber",), r"'huber' takes 1 argument \(delta\), got 0"),
    (("huber", 0.0), r"huber delta must be > 0"),
    (("smooth_l1", -1.0), r"smooth_l1 beta must be >= 0"),
    (("poisson_nll", 1.0), r"'poisson_nll' takes 3 arguments"),
    (("cross_entropy", 0.1, 1.0, 2.0), r"cross_entropy weight has 2 entries, the net has 3 outputs"),
    (("bce_with_logits", 1.0, 2.0), r"bce_with_logits pos_weight has 2 entries, the net has 3 outputs"),
])
def test_bad_loss_units_raise(loss, match):
    with pytest.raises(ValueError, match=match):
        _core.Engine("float64", [("linear", 4, 3, 0, 12)], loss, 4)
