"""No silent slow path: every built-in layer, loss, optimizer and training option runs in the
fused C++ step, and the combinations that cannot are exactly the documented ones.

``Trainer._fused`` is the ``FusedStep`` (the engine) once a step ran fused, and ``False`` when the
combination fell back to the layer-by-layer Python path; these tests assert on it for each
option, through ``Trainer.step`` and through ``fit`` (read by a callback), and that a changed
learning rate reaches the engine without rebuilding it."""

from __future__ import annotations

import inspect

import fastgd as fg
import numpy as np
import pytest
from fastgd import losses, optim
from fastgd.fused import LAYER_SPECS, LOSS_SPECS, UPDATE_SPECS
from fastgd.layers import Layer
from fastgd.optim import schedules

DTYPES = ["float32", "float64"]


def _public_classes(module, base):
    return {obj for name in module.__all__ if inspect.isclass(obj := getattr(module, name))
            and issubclass(obj, base) and obj is not base}


def test_every_built_in_layer_loss_and_optimizer_has_a_fused_unit():
    layers = _public_classes(fg.layers, Layer)
    assert layers and layers <= set(LAYER_SPECS), layers - set(LAYER_SPECS)
    assert {name for name in fg.__all__ if getattr(fg, name, None) in layers} == {c.__name__ for c in layers}
    loss_classes = _public_classes(losses, losses.Loss)
    assert loss_classes and loss_classes <= set(LOSS_SPECS), loss_classes - set(LOSS_SPECS)
    # SGD/Adam/AdamW through the engine's own setters, the others through UPDATE_SPECS, LBFGS
    # through the engine's loss_and_grad in its closure (tested below for each)
    own = {optim.SGD, optim.Adam, optim.AdamW, optim.LBFGS}
    assert set(optim.OPTIMIZERS.values()) == own | set(UPDATE_SPECS)


def _targets(loss, rng, n, k, dtype):
    name = losses.get_loss(loss).name
    if name == "cross_entropy":
        return rng.integers(0, k, n)
    if name == "bce_with_logits":
        return (rng.random((n, k)) > 0.5).astype(dtype)
    if name == "poisson_nll":
        return rng.poisson(2.0, (n, k)).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


def _assert_fused_and_equal(make_layers, loss="mse", optimizer="sgd", dtype="float64", steps=3, k=3,
                            sample_weight=False, **kw):
    """Trainer.step fused (asserted) and layer by layer give the same losses and weights."""
    rng = np.random.default_rng(0)
    nets = [fg.Net(make_layers(dtype), dtype=dtype, seed=2) for _ in range(2)]
    trainers = [fg.Trainer(net, loss=loss, optimizer=optimizer, fused=f, **kw)
                for net, f in zip(nets, (True, False))]
    for _ in range(steps):
        X = rng.standard_normal((10, 4)).astype(dtype)
        y = _targets(loss, rng, 10, k, dtype)
        w = rng.random(10).astype(dtype) if sample_weight else None
        a, b = (t.step(X, y, sample_weight=w) for t in trainers)
        assert a == pytest.approx(b, rel=1e-4 if dtype == "float32" else 1e-10)
    assert trainers[0]._fused, "fell back to the layer-by-layer path"
    assert trainers[1]._fused is None  # (fused=False never builds the engine)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, **tol)
    return trainers[0]


# every layer with its options (on 4 inputs, 3 outputs)
LAYER_CASES = {
    "linear": lambda dtype=None: [fg.Linear(4, 5), fg.Linear(5, 3, bias=False)],
    "relu_leaky": lambda dtype=None: [fg.Linear(4, 5), fg.ReLU(), fg.Linear(5, 5), fg.LeakyReLU(0.2), fg.Linear(5, 3)],
    "sigmoid_tanh_identity": lambda dtype=None: [fg.Linear(4, 5), fg.Sigmoid(), fg.Identity(), fg.Linear(5, 3),
                                                 fg.Tanh()],
    "gelu": lambda dtype=None: [fg.Linear(4, 5), fg.GELU(), fg.Linear(5, 3), fg.GELU("tanh")],
    "silu_elu": lambda dtype=None: [fg.Linear(4, 5), fg.SiLU(), fg.Linear(5, 3), fg.ELU(0.3)],
    "softplus_softmax": lambda dtype=None: [fg.Linear(4, 5), fg.Softplus(beta=2.0, threshold=3.0), fg.Linear(5, 3),
                                 fg.Softmax()],
    "dropout": lambda dtype=None: [fg.Dropout(0.2), fg.Linear(4, 5), fg.ReLU(), fg.Dropout(0.5), fg.Linear(5, 3)],
    "batchnorm": lambda dtype=None: [fg.Linear(4, 5), fg.BatchNorm1d(5), fg.Linear(5, 3)],
    "batchnorm_options": lambda dtype=None: [fg.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False), fg.Linear(4, 5),
                                  fg.BatchNorm1d(5, track_running_stats=False), fg.Linear(5, 3)],
    "layernorm": lambda dtype=None: [fg.Linear(4, 5), fg.LayerNorm(5), fg.Linear(5, 3)],
    "layernorm_options": lambda dtype=None: [fg.LayerNorm(4, elementwise_affine=False), fg.Linear(4, 5),
                                  fg.LayerNorm(5, eps=1e-3, bias=False), fg.Linear(5, 3)],
    "nested_net": lambda dtype=None: [fg.Net([fg.Linear(4, 5), fg.Tanh()], dtype=dtype, seed=0), fg.Linear(5, 3)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_CASES)
def test_every_layer_and_layer_option_runs_fused(case, dtype):
    _assert_fused_and_equal(LAYER_CASES[case], dtype=dtype)


def test_the_layer_table_names_every_layer_class():
    used = {type(layer) for make in LAYER_CASES.values() for layer in make()}
    assert _public_classes(fg.layers, Layer) <= used


LOSS_CASES = ["mse", "l1", "huber", "smooth_l1", "poisson_nll", "cross_entropy", "bce_with_logits",
              losses.HuberLoss(delta=0.3), losses.SmoothL1Loss(beta=0.0), losses.SmoothL1Loss(beta=2.0),
              losses.PoissonNLLLoss(log_input=False, full=True, eps=1e-4),
              losses.CrossEntropyLoss(weight=[1.0, 2.0, 0.5]), losses.CrossEntropyLoss(label_smoothing=0.2),
              losses.CrossEntropyLoss(weight=[0.3, 1.0, 4.0], label_smoothing=0.1),
              losses.BCEWithLogitsLoss(pos_weight=[2.0, 0.5, 1.0]), losses.BCEWithLogitsLoss(pos_weight=[3.0])]


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSS_CASES, ids=repr)
def test_every_loss_and_loss_option_runs_fused(loss, dtype, weighted):
    make = LAYER_CASES["relu_leaky"]
    if repr(loss).startswith("PoissonNLLLoss(log_input=False"):  # rates: a positive output
        def make(dtype=None):
            return [fg.Linear(4, 5), fg.Tanh(), fg.Linear(5, 3), fg.Softplus()]
    _assert_fused_and_equal(make, loss=loss, dtype=dtype, sample_weight=weighted)


OPTIMIZER_CASES = [
    ("sgd", {}), ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(momentum=0.9, nesterov=True)),
    ("adam", {}), ("adam", dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)), ("adam", dict(amsgrad=True)),
    ("adamw", {}), ("adamw", dict(weight_decay=0.2, amsgrad=True)),
    ("rmsprop", {}), ("rmsprop", dict(momentum=0.9, centered=True, weight_decay=0.1)),
    ("adagrad", {}), ("adagrad", dict(lr_decay=0.1, initial_accumulator_value=0.3, weight_decay=0.1)),
    ("nadam", {}), ("nadam", dict(weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("radam", {}), ("radam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
    ("lbfgs", {}), ("lbfgs", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4)),
]


def _opt_net(dtype=None):
    # (no Linear bias right before the BatchNorm1d: its gradient is rounding noise, which
    # Adam-like updates scale up to lr-sized steps, different on the two paths)
    return [fg.Linear(4, 5), fg.Tanh(), fg.BatchNorm1d(5), fg.Linear(5, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "hyper"), OPTIMIZER_CASES,
                         ids=[f"{n}-{sorted(h)}" for n, h in OPTIMIZER_CASES])
def test_every_optimizer_and_hyper_parameter_set_runs_fused(name, hyper, dtype):
    lr = {"sgd": 0.05, "lbfgs": 0.5}.get(name, 0.01)
    _assert_fused_and_equal(_opt_net, loss="cross_entropy", optimizer=name, dtype=dtype,
                            lr=lr, **hyper)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam", "radam"])
def test_parameter_groups_with_their_own_options_run_fused(name):
    def make():
        return [fg.Linear(4, 5), fg.LayerNorm(5), fg.ReLU(), fg.Linear(5, 3)]

    rng = np.random.default_rng(1)
    nets = [fg.Net(make(), dtype="float64", seed=2) for _ in range(2)]
    trainers = []
    for net, fused in zip(nets, (True, False)):
        groups = optim.param_groups(net, weight_decay=0.05)
        groups[1]["lr"] = 0.003  # the undecayed group (biases, the norm) has its own lr too
        trainers.append(fg.Trainer(net, "cross_entropy", optim.OPTIMIZERS[name](groups, lr=0.01), fused=fused))
    for _ in range(3):
        X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
        assert trainers[0].step(X, y) == pytest.approx(trainers[1].step(X, y), rel=1e-10)
    assert trainers[0]._fused and len(trainers[0].optimizer.param_groups) == 2
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_options_run_fused(dtype):
    """sample_weight, l2, clip_norm, all at once, on a net of the new layers."""
    _assert_fused_and_equal(_opt_net, loss="cross_entropy", optimizer="adam", dtype=dtype,
                            sample_weight=True, l2=0.01, clip_norm=0.5, lr=0.01)


class Probe(fg.callbacks.Callback):
    """Records, at every batch end, the fused engine the Trainer used and the lr it ran with."""

    def __init__(self):
        self.engines, self.lrs = [], []

    def on_batch_end(self, batch, logs=None):
        self.engines.append(self.trainer._fused)
        self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])


FIT_OPTIONS = {
    "sample_weight": dict(sample_weight=True),
    "class_weight": dict(class_weight={0: 2.0, 2: 0.5}),
    "balanced": dict(class_weight="balanced", sample_weight=True),
    "validation_split": dict(validation_split=0.25),
    "validation_data": dict(validation_data=True),
    "l2_clip": dict(l2=0.01, clip_norm=1.0),
    "full_batch": dict(batch_size=None),
    "step_schedule": dict(callbacks=lambda opt: [fg.callbacks.LearningRateScheduler(
        schedules.OneCycleLR(opt, max_lr=0.05, total_steps=12), interval="step")]),
    "epoch_schedule": dict(callbacks=lambda opt: [fg.callbacks.LearningRateScheduler(
        schedules.StepLR(opt, step_size=1, gamma=0.5))]),
    "plateau": dict(callbacks=lambda opt: [fg.callbacks.ReduceLROnPlateau(monitor="loss", patience=0,
                                                                          factor=0.5, min_delta=10.0)]),
    "lbfgs_full_batch": dict(optimizer="lbfgs", batch_size=None, lr=1.0, max_iter=3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", FIT_OPTIONS)
def test_fit_options_run_fused_and_a_new_lr_reaches_the_engine_without_a_rebuild(option, dtype):
    kw = dict(FIT_OPTIONS[option])
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((48, 4)).astype(dtype), rng.integers(0, 3, 48)
    weights = rng.random(48) + 0.1
    results = []
    for fused in (True, False):
        net = fg.Net([fg.Linear(4, 6), fg.GELU(), fg.BatchNorm1d(6), fg.Dropout(0.2), fg.Linear(6, 3)],
                     dtype=dtype, seed=4)
        args = dict(kw)
        opt_name = args.pop("optimizer", "sgd")
        hyper = {k: args.pop(k) for k in ("lr", "max_iter") if k in args}
        opt = optim.OPTIMIZERS[opt_name](net.parameters(), **({"lr": 0.05, "momentum": 0.9} if opt_name == "sgd"
                                                               else hyper))
        if args.pop("sample_weight", False):
            args["sample_weight"] = weights
        if args.pop("validation_data", False):
            args["validation_data"] = (X[:8], y[:8])
        probe = Probe()
        args["callbacks"] = (args["callbacks"](opt) if "callbacks" in args else []) + [probe]
        if not fused:  # the same fit, forced onto the layer-by-layer path
            trainer = fg.Trainer(net, "cross_entropy", opt, fused=False, l2=args.pop("l2", 0.0),
                                 clip_norm=args.pop("clip_norm", None))
            hist = trainer.fit(X, y, epochs=3, batch_size=args.pop("batch_size", 16), progress=False, **args)
        else:
            hist = net.fit(X, y, loss="cross_entropy", optimizer=opt, epochs=3,
                           batch_size=args.pop("batch_size", 16), progress=False, **args)
        results.append((net, hist, probe))
    (net, hist, probe), (net2, hist2, probe2) = results
    assert probe.engines and all(probe.engines), "fit fell back to the layer-by-layer path"
    assert len({id(e) for e in probe.engines}) == 1, "the engine was rebuilt during fit"
    assert probe2.engines and not any(probe2.engines)
    assert probe.lrs == probe2.lrs
    if "callbacks" in kw:
        assert len(set(probe.lrs)) > 1  # the schedule changed the lr, and the fused step used it:
    np.testing.assert_allclose(hist.history["loss"], hist2.history["loss"],
                               rtol=1e-4 if dtype == "float32" else 1e-9)
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):  # the same weights both ways
        np.testing.assert_allclose(p.data, q.data, rtol=1e-4 if dtype == "float32" else 1e-9,
                                   atol=1e-5 if dtype == "float32" else 1e-11)


# The documented combinations without a fused path (fused.py's docstring, README "What runs
# fused"): each keeps the layer-by-layer path, with the same results.
class Double(Layer):
    def forward(self, X):
        return 2 * X

    def backward(self, dout, *, need_dx=True):
        return 2 * dout


class Halved(losses.MSELoss):
    def __call__(self, pred, target, sample_weight=None):
        value, d = super().__call__(pred, target, sample_weight=sample_weight)
        return value / 2, d / 2


def _subset_optimizer(net):
    return optim.SGD(net.parameters()[:2], lr=0.1)


NOT_FUSED = {
    "custom_layer": (lambda: [fg.Linear(4, 3), Double()], dict()),
    "custom_loss": (lambda: [fg.Linear(4, 3)], dict(loss=Halved())),
    "maximize": (lambda: [fg.Linear(4, 3)], dict(optimizer=lambda net: optim.SGD(net.parameters(), lr=0.01,
                                                                                 maximize=True))),
    "optimizer_over_some_parameters": (lambda: [fg.Linear(4, 5), fg.Linear(5, 3)],
                                       dict(optimizer=_subset_optimizer)),
}


@pytest.mark.parametrize("case", NOT_FUSED)
def test_the_documented_unfused_combinations_take_the_layer_by_layer_path(case):
    make, kw = NOT_FUSED[case]
    rng = np.random.default_rng(5)
    net = fg.Net(make(), dtype="float64", seed=0)
    opt = kw.get("optimizer", lambda n: optim.SGD(n.parameters(), lr=0.1))(net)
    trainer = fg.Trainer(net, kw.get("loss", "mse"), opt)
    X, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    trainer.step(X, y)
    assert trainer._fused is False
    doc = fg.fused.__doc__
    for words in ("custom layers or losses", "groups that miss a", "maximize"):
        assert words in " ".join(doc.split()), words


# Hostile batches for nets of the new layers and every loss: the fused step and the layer-by-layer
# path refuse the same batches with a ValueError/TypeError naming the argument, leave the weights,
# buffers and optimizer state alone, and train on normally afterwards.
HOSTILE_NETS = {
    "norms_dropout": lambda: [fg.Linear(4, 6), fg.BatchNorm1d(6), fg.GELU(), fg.Dropout(0.3), fg.Linear(6, 5),
                              fg.LayerNorm(5), fg.SiLU(), fg.Linear(5, 3)],
    "activations": lambda: [fg.Linear(4, 5), fg.ELU(), fg.Linear(5, 5), fg.Softplus(), fg.Linear(5, 3)],
}


def _hostile_cases(loss, dtype):
    name = losses.get_loss(loss).name
    other = np.float32 if dtype == "float64" else np.float64
    X = np.ones((6, 4), dtype)
    good = _targets(loss, np.random.default_rng(0), 6, 3, dtype)
    cases = {
        "X other dtype": (X.astype(other), good, None, TypeError, "float"),
        "X int": (X.astype(np.int64), good, None, TypeError, r"X .*int64(?!.*dtype='int64')"),
        "X 1-D": (X[0], good, None, ValueError, r"X .*(2-D|shape)"),
        "X too wide": (np.ones((6, 5), dtype), good, None, ValueError, "5"),
        "X list": (X.tolist(), good, None, TypeError, "X"),
        "X empty": (X[:0], good[:0], None, ValueError, "no samples|0"),
        "y rows": (X, good[:5], None, ValueError, "y|labels|targets"),
        "sample_weight shape": (X, good, np.ones(5, dtype), ValueError, "sample_weight"),
        "sample_weight negative": (X, good, -np.ones(6, dtype), ValueError, "sample_weight"),
        "sample_weight nan": (X, good, np.full(6, np.nan, dtype), ValueError, "sample_weight"),
    }
    if name == "cross_entropy":
        cases["label out of range"] = (X, np.array([0, 1, 2, 3, 0, 1]), None, ValueError, r"\[0, 3\)")
        cases["negative label"] = (X, np.array([0, -1, 2, 1, 0, 1]), None, ValueError, r"\[0, 3\)")
        cases["float labels"] = (X, good.astype(dtype), None, TypeError, "integer")
    elif name == "bce_with_logits":
        cases["target 2"] = (X, np.full((6, 3), 2, np.int64), None, ValueError, "0/1|\\[0, 1\\]")
    else:
        cases["y other dtype"] = (X, good.astype(other), None, TypeError, "float")
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["mse", "huber", "poisson_nll", "cross_entropy", "bce_with_logits",
                                  losses.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], label_smoothing=0.1)], ids=repr)
@pytest.mark.parametrize("arch", HOSTILE_NETS)
def test_hostile_batches_are_refused_alike_and_change_nothing(arch, loss, dtype):
    nets = [fg.Net(HOSTILE_NETS[arch](), dtype=dtype, seed=1) for _ in range(2)]
    trainers = [fg.Trainer(net, loss, "adam", lr=0.01, fused=f) for net, f in zip(nets, (True, False))]
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 4)).astype(dtype)
    y = _targets(loss, rng, 6, 3, dtype)
    for t in trainers:
        t.step(X, y)
    assert trainers[0]._fused
    for what, (Xh, yh, w, exc, match) in _hostile_cases(loss, dtype).items():
        for t, net in zip(trainers, nets):
            before = [p.data.copy() for p in net.parameters()] + [b.copy() for b in net.buffers().values()]
            with pytest.raises(exc, match=match):
                t.step(Xh, yh, sample_weight=w)
            after = [p.data for p in net.parameters()] + list(net.buffers().values())
            for a, b in zip(after, before, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{what}: a refused step changed the net")
    for _ in range(2):  # and both train on, alike
        a, b = (t.step(X, y) for t in trainers)
        assert a == pytest.approx(b, rel=1e-4 if dtype == "float32" else 1e-10)
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-4 if dtype == "float32" else 1e-9,
                                   atol=1e-5 if dtype == "float32" else 1e-11)
