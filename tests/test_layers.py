"""The new layers in nets: whole training runs against torch, the fused C++ step against the
layer-by-layer path (Dropout bit for bit), configs, checkpoints with buffers, and a checkpoint
written before buffers existed."""

import os

import fastgd as fg
import numpy as np
import pytest

DATA = os.path.join(os.path.dirname(__file__), "data")
TOL = {"float32": {"rtol": 2e-4, "atol": 2e-5}, "float64": {"rtol": 1e-9, "atol": 1e-11}}


def _mixed(dropout=0.0):
    return [fg.Linear(6, 16), fg.BatchNorm1d(16), fg.GELU(), fg.Dropout(dropout), fg.Linear(16, 12),
            fg.LayerNorm(12), fg.SiLU(), fg.Linear(12, 8), fg.ELU(0.7), fg.Linear(8, 8),
            fg.Softplus(beta=2.0, threshold=5.0), fg.Linear(8, 4), fg.GELU("tanh")]


def _to_torch(torch, net):
    """The torch.nn.Sequential of ``net`` with the same weights (torch's Linear weight is Wᵀ)."""
    nn = torch.nn
    tdt = torch.float64 if net.dtype == np.float64 else torch.float32
    mods = []
    for layer in net.layers:
        if isinstance(layer, fg.Linear):  # (made in the dtype: a float32 copy would round the weights)
            m = nn.Linear(layer.in_features, layer.out_features, bias=layer.b is not None, dtype=tdt)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.W.data.T.copy()))
                if layer.b is not None:
                    m.bias.copy_(torch.from_numpy(layer.b.data.copy()))
        elif isinstance(layer, fg.BatchNorm1d):
            m = nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                               track_running_stats=layer.track_running_stats)
        elif isinstance(layer, fg.LayerNorm):
            m = nn.LayerNorm(layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine,
                             bias=layer.use_bias)
        else:
            m = {fg.GELU: lambda: nn.GELU(approximate=layer.approximate), fg.SiLU: nn.SiLU,
                 fg.ELU: lambda: nn.ELU(layer.alpha), fg.Dropout: lambda: nn.Dropout(layer.p),
                 fg.Softplus: lambda: nn.Softplus(layer.beta, layer.threshold),
                 fg.Softmax: lambda: nn.Softmax(dim=-1), fg.ReLU: nn.ReLU, fg.Tanh: nn.Tanh, fg.Sigmoid: nn.Sigmoid,
                 fg.LeakyReLU: lambda: nn.LeakyReLU(layer.slope), fg.Identity: nn.Identity}[type(layer)]()
        mods.append(m)
    seq = nn.Sequential(*mods)
    return seq.double() if net.dtype == np.float64 else seq.float()


def _params_as_torch_order(net):
    """fastgd's parameters laid out as torch's (Linear weights transposed)."""
    out = []
    for layer in net.layers:
        for p in layer.parameters():
            out.append(p.data.T if p.name == "W" else p.data)
    return out


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer-by-layer"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["mse", "softmax-probabilities"])
def test_training_runs_equal_torch_after_20_steps(dtype, fused, case):
    torch = pytest.importorskip("torch")
    layers = _mixed() + ([fg.Softmax()] if case == "softmax-probabilities" else [])
    net = fg.Net(layers, dtype=dtype, seed=1)
    model = _to_torch(torch, net)
    trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.05, momentum=0.9, fused=fused)
    topt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(2)
    for _ in range(20):
        X = (rng.standard_normal((16, 6)) * 3).astype(dtype)
        y = rng.random((16, 4)).astype(dtype)
        loss = trainer.step(X, y)
        topt.zero_grad()
        tl = torch.nn.functional.mse_loss(model(torch.from_numpy(X)), torch.from_numpy(y))
        tl.backward()
        topt.step()
        assert loss == pytest.approx(tl.item(), rel=TOL[dtype]["rtol"] * 10, abs=TOL[dtype]["atol"])
    assert bool(trainer._fused) is fused, "the fused path was not taken" if fused else "fused by mistake"
    for ours, theirs in zip(_params_as_torch_order(net), model.parameters()):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL[dtype])
    bn, tbn = net.layers[1], model[1]
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), **TOL[dtype])
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), **TOL[dtype])
    assert int(bn.num_batches_tracked) == int(tbn.num_batches_tracked) == 20
    model.eval()
    X = rng.standard_normal((5, 6)).astype(dtype)
    np.testing.assert_allclose(net.eval().forward(X), model(torch.from_numpy(X)).detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer-by-layer"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classifier_with_every_layer_adam_and_weighted_smoothed_ce_equals_torch_after_20_steps(dtype, fused):
    """Linear-BN-ReLU-Dropout(0)-Linear-LayerNorm-GELU-...: Adam with weight decay on a class-weighted,
    label-smoothed cross-entropy, 20 steps, against torch.nn + torch.optim.Adam."""
    torch = pytest.importorskip("torch")
    # (no bias right before a BatchNorm1d: its gradient would be rounding noise, which Adam
    # scales up to lr-sized steps that differ between any two implementations)
    layers = [fg.Linear(6, 16, bias=False), fg.BatchNorm1d(16), fg.ReLU(), fg.Dropout(0.0), fg.Linear(16, 12),
              fg.LayerNorm(12), fg.GELU(), fg.Linear(12, 10), fg.LeakyReLU(0.1), fg.Linear(10, 8), fg.SiLU(),
              fg.BatchNorm1d(8, momentum=None), fg.Tanh(), fg.Linear(8, 8), fg.ELU(0.5), fg.Linear(8, 8),
              fg.Sigmoid(), fg.Linear(8, 8), fg.Softplus(), fg.Linear(8, 4)]
    net = fg.Net(layers, dtype=dtype, seed=3)
    model = _to_torch(torch, net)
    weight = [0.5, 2.0, 1.0, 1.5]
    loss = fg.losses.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
    trainer = fg.Trainer(net, loss=loss, optimizer="adam", lr=5e-3, weight_decay=1e-3, fused=fused)
    topt = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-3)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    tloss = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight, dtype=tdt), label_smoothing=0.1)
    rng = np.random.default_rng(4)
    for _ in range(20):
        X = (rng.standard_normal((24, 6)) * 3).astype(dtype)
        y = rng.integers(0, 4, 24)
        value = trainer.step(X, y)
        topt.zero_grad()
        tl = tloss(model(torch.from_numpy(X)), torch.from_numpy(y))
        tl.backward()
        topt.step()
        assert value == pytest.approx(tl.item(), rel=TOL[dtype]["rtol"] * 10, abs=TOL[dtype]["atol"])
    assert bool(trainer._fused) is fused
    tol = {"rtol": TOL[dtype]["rtol"] * 5, "atol": TOL[dtype]["atol"] * 5}
    for ours, theirs in zip(_params_as_torch_order(net), model.parameters(), strict=True):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **tol)
    for i in (1, 11):
        np.testing.assert_allclose(net.layers[i].running_mean, model[i].running_mean.numpy(), **tol)
        np.testing.assert_allclose(net.layers[i].running_var, model[i].running_var.numpy(), **tol)
    model.eval()
    X = rng.standard_normal((5, 6)).astype(dtype)
    np.testing.assert_allclose(net.predict(X), model(torch.from_numpy(X)).detach().numpy(), **tol)


ARCHS = {
    "dropout": lambda: [fg.Linear(6, 32), fg.ReLU(), fg.Dropout(0.5), fg.Linear(32, 3)],
    "dropout-first": lambda: [fg.Dropout(0.2), fg.Linear(6, 8), fg.Tanh(), fg.Dropout(0.3), fg.Linear(8, 3)],
    "mixed": lambda: _mixed(0.25)[:-1] + [fg.Linear(4, 3)],
    "bn-momentum-none": lambda: [fg.Linear(6, 8), fg.BatchNorm1d(8, momentum=None, affine=False), fg.ELU(),
                                 fg.Linear(8, 3)],
    "norms-first": lambda: [fg.BatchNorm1d(6), fg.LayerNorm(6, bias=False), fg.Linear(6, 3), fg.Softplus()],
    "ln-no-affine": lambda: [fg.Linear(6, 8), fg.LayerNorm(8, elementwise_affine=False), fg.SiLU(),
                             fg.Linear(8, 3), fg.Softmax()],
}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_equals_layer_by_layer(arch, dtype):
    rng = np.random.default_rng(0)
    nets = [fg.Net(ARCHS[arch](), dtype=dtype, seed=3) for _ in range(2)]
    trainers = [fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=1e-2, fused=f)
                for net, f in zip(nets, (True, False))]
    for step in range(6):
        n = 7 if step % 2 else 12
        X = rng.standard_normal((n, 6)).astype(dtype)
        y = rng.integers(0, 3, n)
        losses = [t.step(X, y) for t in trainers]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5 if dtype == "float32" else 1e-12)
    assert trainers[0]._fused, "the fused path was not taken"
    exact = arch.startswith("dropout")  # the same kernels in the same order: bit for bit
    for p, q in zip(*(net.parameters() for net in nets)):
        if exact:
            np.testing.assert_array_equal(p.data, q.data)
        else:
            np.testing.assert_allclose(p.data, q.data, rtol=1e-4, atol=1e-5 if dtype == "float32" else 1e-12)
    for (name, a), (_, b) in zip(*(sorted(net.buffers().items()) for net in nets)):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=name)  # counters, seeds, running stats
    for layer in nets[0].layers:
        if isinstance(layer, fg.Dropout):
            assert int(layer.counter) == 6  # one per training forward
    # eval-mode outputs from the engine and from the layers
    X = rng.standard_normal((4, 6)).astype(dtype)
    np.testing.assert_allclose(trainers[0]._fused.forward(X), nets[1].eval().forward(X), rtol=1e-4,
                               atol=1e-5 if dtype == "float32" else 1e-12)


def test_fused_dropout_masks_have_the_statistics_and_switching_paths_continues_the_stream():
    net = fg.Net([fg.Identity(), fg.Dropout(0.3), fg.Linear(1, 1, bias=False, init="zeros")],
                 dtype="float64", seed=7)
    trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.0)  # lr 0: only the masks matter
    drop = net.layers[1]
    X = np.ones((20_000, 1))
    trainer.step(X, np.zeros((20_000, 1)))
    assert trainer._fused
    # dL/dW = Σ 2(out - y)/n · A = 0 here; read the mask through the kernel with the used counter
    A, mask = fg.ops.dropout(X, 0.3, drop.seed, 0)
    assert abs(mask.mean() - 0.7) < 0.015 and np.all(A[mask] == 1 / 0.7)
    assert int(drop.counter) == 1
    trainer.fused = False
    trainer.step(X, np.zeros((20_000, 1)))
    assert int(drop.counter) == 2  # the layer path continues from the engine's counter


def test_eval_mode_predict_uses_running_stats_and_no_dropout():
    net = fg.Net([fg.Linear(3, 4), fg.BatchNorm1d(4), fg.Dropout(0.5), fg.Linear(4, 2)], seed=0)
    X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    net.eval()
    a, b = net.forward(X), net.forward(X)
    np.testing.assert_array_equal(a, b)  # deterministic: no masks, running statistics
    assert int(net.layers[2].counter) == 0 and int(net.layers[1].num_batches_tracked) == 0
    np.testing.assert_array_equal(net.forward(X[:1]), a[:1])  # one sample is fine in eval mode


@pytest.mark.parametrize("layer", [
    fg.GELU(), fg.GELU(approximate="tanh"), fg.SiLU(), fg.ELU(alpha=0.5), fg.Softplus(beta=2.0, threshold=10.0),
    fg.Softmax(), fg.Dropout(0.2), fg.Dropout(0.1, seed=3), fg.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False),
    fg.BatchNorm1d(4, track_running_stats=False), fg.LayerNorm(4, eps=1e-6, elementwise_affine=False),
    fg.LayerNorm((4,), bias=False)], ids=repr)
def test_config_round_trip_and_repr(layer):
    twin = fg.layers.layer_from_config(layer.config())
    assert type(twin) is type(layer) and twin.config() == layer.config() and repr(twin) == repr(layer)
    net = fg.Net([fg.Linear(3, 4), layer], seed=0)
    rebuilt = fg.Net.from_config(net.config())
    assert rebuilt.config() == net.config()


def test_layer_arguments_are_validated():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        fg.GELU("erf")
    with pytest.raises(ValueError, match="ELU: alpha must be a finite number"):
        fg.ELU(float("inf"))
    with pytest.raises(ValueError, match="Softplus: beta must be non-zero"):
        fg.Softplus(beta=0)
    with pytest.raises(ValueError, match="Softmax: dim must be -1 or 1"):
        fg.Softmax(dim=0)


def test_defaults_equal_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    assert fg.GELU().approximate == nn.GELU().approximate
    assert fg.ELU().alpha == nn.ELU().alpha
    assert (fg.Softplus().beta, fg.Softplus().threshold) == (nn.Softplus().beta, nn.Softplus().threshold)
    assert fg.Dropout().p == nn.Dropout().p
    ln, tln = fg.LayerNorm(3), nn.LayerNorm(3)
    assert (ln.eps, ln.elementwise_affine) == (tln.eps, tln.elementwise_affine)


@pytest.mark.parametrize("fused", [True, False])
def test_checkpoint_keeps_buffers_and_resumes_bit_identically(tmp_path, fused):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    net = fg.Net(ARCHS["mixed"](), seed=5)
    t = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=0.01, fused=fused)
    for _ in range(3):
        t.step(X, y)
    path = tmp_path / "ck.npz"
    net.save(path, optimizer=t.optimizer)
    net2, opt2 = fg.Net.load(path, with_optimizer=True)
    assert sorted(net2.buffers()) == sorted(net.buffers())
    for name, b in net.buffers().items():
        np.testing.assert_array_equal(net2.buffers()[name], b, err_msg=name)
        assert net2.buffers()[name].dtype == b.dtype
    t2 = fg.Trainer(net2, loss="cross_entropy", optimizer=opt2, fused=fused)
    for _ in range(3):
        assert t.step(X, y) == t2.step(X, y)  # the same dropout masks, running statistics, state
    for p, q in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_checkpoint_with_damaged_buffers_is_refused(tmp_path):
    import json

    net = fg.Net([fg.Linear(3, 4), fg.BatchNorm1d(4)], seed=0)
    net.train().forward(np.ones((4, 3), np.float32) * np.arange(4, dtype=np.float32)[:, None])
    path = tmp_path / "ck.npz"
    net.save(path)
    with np.load(path) as z:
        files = dict(z.items())
    files["buffer_0"] = files["buffer_0"] + 1  # running_mean edited: the SHA-256 no longer matches
    np.savez(tmp_path / "bad.npz", **files)
    with pytest.raises(ValueError, match="the buffers do not match their recorded SHA-256"):
        fg.Net.load(tmp_path / "bad.npz")
    meta = json.loads(str(files["__meta__"]))
    meta["buffers"]["names"] = ["1.running_mean"]
    files["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad2.npz", **files)
    with pytest.raises(ValueError, match="buffers .* recorded, the architecture has"):
        fg.Net.load(tmp_path / "bad2.npz")


def test_checkpoint_written_before_buffers_existed_still_loads():
    # written by fastgd before this change (main at 3617b6e): no buffers in it
    net, opt = fg.Net.load(os.path.join(DATA, "checkpoint_before_buffers.npz"), with_optimizer=True)
    with np.load(os.path.join(DATA, "checkpoint_before_buffers_expected.npz")) as z:
        np.testing.assert_array_equal(net.forward(z["X"]), z["out"])
    assert type(opt).__name__ == "Adam" and net.buffers() == {}


def test_astype_converts_the_running_statistics():
    net = fg.Net([fg.Linear(3, 4), fg.BatchNorm1d(4), fg.LayerNorm(4)], seed=0)
    net64 = net.astype("float64")
    bn = net64.layers[1]
    assert bn.running_mean.dtype == bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    out = net64.forward(np.random.default_rng(0).standard_normal((5, 3)))
    assert out.dtype == np.float64
    assert net.layers[1].running_mean.dtype == np.float32  # the original is untouched


@pytest.mark.parametrize("ops,match", [
    ([("linear", 3, 2, 0, -1), ("dropout", 1.0)], r"a Dropout layer needs p in \[0, 1\)"),
    ([("linear", 3, 2, 0, -1), ("softplus", 0.0, 20.0)], r"a Softplus layer needs beta != 0"),
    ([("linear", 3, 2, 0, -1), ("gelu",)], r"'gelu' takes 1 argument"),
    ([("linear", 3, 2, 0, -1), ("batchnorm", 3, -1, -1, 1e-5, 0.1, 0, 1)], r"BatchNorm1d layer expects 3 features"),
    ([("linear", 3, 2, 0, -1), ("layernorm", 2, 0, -1, 1e-5, 9)], r"'layernorm' takes 4 arguments"),
])
def test_engine_units_refuse_bad_arguments(ops, match):
    with pytest.raises(ValueError, match=match):
        fg._core.Engine("float64", ops, "mse", 3)


def test_engine_batchnorm_needs_its_buffers_and_two_rows():
    e = fg._core.Engine("float64", [("linear", 3, 2, 0, -1), ("batchnorm", 2, -1, -1, 1e-5, 0.1, 0, 1)], "mse", 3)
    e.bind(np.zeros(6), np.zeros(6))
    e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64))
    with pytest.raises(ValueError, match="running_mean' is not bound"):
        e.step(np.ones((4, 3)), np.ones((4, 2)))
    bufs = {"running_mean": np.zeros(2), "running_var": np.ones(2), "num_batches_tracked": np.zeros((), np.int64)}
    e.bind_buffers(1, bufs)
    with pytest.raises(ValueError, match="more than 1 value per feature"):
        e.step(np.ones((1, 3)), np.ones((1, 2)))
    assert int(bufs["num_batches_tracked"]) == 0
    e.step(np.arange(12.0).reshape(4, 3), np.ones((4, 2)))
    assert int(bufs["num_batches_tracked"]) == 1
