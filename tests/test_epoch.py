"""Engine.epoch: fit's inner loop in one C++ call. The same weights, bit for bit, as the Python
loop over Trainer.step (forced here by a callback that needs the batches), the epoch sums of its
NumPy twin reference.epoch, the divergence check, Ctrl-C, and the choice between the two loops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import fastgd as fg
import numpy as np
import pytest
from fastgd import reference
from fastgd.callbacks import Callback, LambdaCallback, LearningRateScheduler
from fastgd.datasets import load_digits
from fastgd.trainer import Trainer


class EveryBatch(Callback):
    """Needs the batch hooks: fit runs its Python loop over Trainer.step."""

    def on_batch_end(self, batch, logs=None):
        pass


@pytest.fixture
def cpp_epochs(monkeypatch):
    """Counts the epochs run by Engine.epoch."""
    calls = []
    real = Trainer._epoch_in_cpp

    def spy(self, *args):
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(Trainer, "_epoch_in_cpp", spy)
    return calls


def _digits(n=300, dtype="float32"):
    X, y = load_digits()
    X = ((X - X.mean(0)) / (X.std(0) + 1e-6)).astype(dtype)
    return X[:n], y[:n]


def _net(layers, dtype="float32"):
    return fg.Net(layers, dtype=dtype, seed=0)


CASES = {  # name: (layers, loss, fit keywords)
    "adam": (lambda: [fg.Linear(64, 32), fg.ReLU(), fg.Linear(32, 10)], "cross_entropy",
             {"optimizer": "adam", "lr": 1e-2}),
    "sgd_nesterov_l2_clip": (lambda: [fg.Linear(64, 32), fg.Tanh(), fg.Linear(32, 10)], "cross_entropy",
                             {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "l2": 1e-3,
                              "clip_norm": 0.5}),
    "adamw_dropout_batchnorm": (lambda: [fg.Linear(64, 32), fg.BatchNorm1d(32), fg.ReLU(), fg.Dropout(0.3),
                                         fg.Linear(32, 10)], "cross_entropy",
                                {"optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.01}),
    "rmsprop_layernorm_gelu": (lambda: [fg.Linear(64, 32), fg.LayerNorm(32), fg.GELU(), fg.Linear(32, 10)],
                               "cross_entropy", {"optimizer": "rmsprop", "lr": 1e-3, "momentum": 0.5,
                                                 "centered": True}),
    "adagrad_class_weight": (lambda: [fg.Linear(64, 16), fg.SiLU(), fg.Linear(16, 10)], "cross_entropy",
                             {"optimizer": "adagrad", "lr": 0.05, "class_weight": "balanced"}),
    "nadam_bce": (lambda: [fg.Linear(64, 16), fg.ELU(), fg.Linear(16, 1)], "bce_with_logits",
                  {"optimizer": "nadam", "lr": 1e-2}),
    "radam_mse_weights": (lambda: [fg.Linear(64, 16), fg.Softplus(), fg.Linear(16, 1)], "mse",
                          {"optimizer": "radam", "lr": 1e-2}),
    "linreg_mse": (lambda: [fg.Linear(64, 1)], "mse", {"optimizer": "sgd", "lr": 0.01}),
}


def _targets(name, y):
    if name == "nadam_bce":
        return (y >= 5).astype(np.int64)
    if name in ("radam_mse_weights", "linreg_mse"):
        return (y / 9.0).astype(np.float32)
    return y


@pytest.mark.parametrize("name", sorted(CASES))
def test_weights_are_bit_identical_to_the_python_loop(name, cpp_epochs):
    layers, loss, kw = CASES[name]
    X, y = _digits(250)
    y = _targets(name, y)
    kw = dict(kw)
    if name == "radam_mse_weights":
        kw["sample_weight"] = np.random.default_rng(1).random(len(X))
    runs = []
    for callbacks in ([], [EveryBatch()]):
        net = _net(layers())
        h = net.fit(X, y, loss=loss, epochs=3, batch_size=32, progress=False, callbacks=callbacks,
                    validation_split=0.2, **kw)
        runs.append((net, h))
    assert len(cpp_epochs) == 3  # the first run only
    (cpp, hc), (py, hp) = runs
    for a, b in zip(cpp.parameters(), py.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(cpp.layers, py.layers):  # running statistics, Dropout's counter
        for key, buf in a.buffers().items():
            np.testing.assert_array_equal(buf, b.buffers()[key])
    assert hc.history.keys() == hp.history.keys()
    for key in hc.history:
        # the loss sums are float64 in C++ (a batch's Σw is summed in the weights' dtype in Python)
        np.testing.assert_allclose(hc.history[key], hp.history[key], rtol=1e-6, err_msg=key)
    if "accuracy" in hc.history:
        assert hc.history["accuracy"] == hp.history["accuracy"]


def test_an_epoch_schedule_stays_in_cpp_and_a_step_schedule_does_not(cpp_epochs):
    X, y = _digits(200)
    weights = []
    for interval in ("epoch", "step"):
        net = _net([fg.Linear(64, 10)])
        opt = fg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        sched = fg.optim.schedules.StepLR(opt, step_size=1, gamma=0.5)
        h = net.fit(X, y, loss="cross_entropy", optimizer=opt, epochs=3, progress=False,
                    callbacks=[LearningRateScheduler(sched, interval=interval)])
        weights.append(net.parameters()[0].data.copy())
        if interval == "epoch":
            assert len(cpp_epochs) == 3
            assert h.history["lr"] == [0.1, 0.05, 0.025]
            # the same run through the Python loop
            net2 = _net([fg.Linear(64, 10)])
            opt2 = fg.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9)
            net2.fit(X, y, loss="cross_entropy", optimizer=opt2, epochs=3, progress=False,
                     callbacks=[LearningRateScheduler(fg.optim.schedules.StepLR(opt2, 1, 0.5)), EveryBatch()])
            np.testing.assert_array_equal(net2.parameters()[0].data, weights[0])
    assert len(cpp_epochs) == 3  # the step schedule ran the Python loop


def test_which_loop_runs(cpp_epochs, tmp_path):
    X, y = _digits(100, "float64")
    fit = {"loss": "cross_entropy", "epochs": 1, "progress": False}

    def runs(before, **kw):
        net = _net([fg.Linear(64, 10)], "float64")
        net.fit(X, y, **{**fit, **kw})
        return len(cpp_epochs) - before

    assert runs(0) == 1
    n = len(cpp_epochs)
    assert runs(n, callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: None)]) == 1
    n = len(cpp_epochs)
    assert runs(n, callbacks=[LambdaCallback(on_batch_end=lambda b, logs: None)]) == 0
    assert runs(n, optimizer="lbfgs", batch_size=None) == 0
    path = tmp_path / "X.npy"
    np.save(path, X)
    net = _net([fg.Linear(64, 10)], "float64")
    net.fit(np.load(path, mmap_mode="r"), y, **fit)  # a memory-mapped X is read batch by batch
    assert len(cpp_epochs) == n
    trainer = fg.Trainer(_net([fg.Linear(64, 10)], "float64"), loss="cross_entropy", fused=False)
    trainer.fit(X, y, epochs=1, progress=False)
    assert len(cpp_epochs) == n


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_epoch_sums_match_the_numpy_twin(shuffle, dtype):
    """Engine.epoch against reference.epoch over the layer-by-layer NumPy step."""
    X, y = _digits(203, dtype)
    w = np.random.default_rng(2).random(len(X)).astype(dtype)
    w[32:64] = 0  # a batch of zero weight is skipped
    order = np.random.default_rng(3).permutation(len(X)) if shuffle else None
    nets = [_net([fg.Linear(64, 16), fg.ReLU(), fg.Linear(16, 10)], dtype) for _ in range(2)]
    fused = fg.Trainer(nets[0], loss="cross_entropy", optimizer="adam", lr=1e-2)
    plain = fg.Trainer(nets[1], loss="cross_entropy", optimizer="adam", lr=1e-2, fused=False)

    def step(Xb, yb, wb):
        value = plain.step(Xb, yb, wb)
        return value, plain.last_output

    want = reference.epoch(step, X, y, 32, order=order, sample_weight=w, n_correct=plain.loss.n_correct)
    got = fused._fused_step().epoch(X, y, 32, order, w, None, None, True)
    total, weight, correct, count, done, _, first, diverged, penalty = got
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose([total, weight], want[:2], rtol=tol)
    assert (correct, count) == want[2:4] and done == 7 and not diverged and first is not None
    assert penalty == want[4] == 0.0  # no L2
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=tol, atol=tol)


def test_divergence_stops_at_the_same_batch_with_the_same_message(cpp_epochs):
    rng = np.random.default_rng(0)
    x = rng.uniform(-10, 10, 64)
    X = np.stack([x ** k for k in range(1, 6)], 1)  # raw polynomial features: SGD explodes
    y = 3 * x ** 2 + 1
    errors, weights = [], []
    for callbacks in ([], [EveryBatch()]):
        net = _net([fg.Linear(5, 1)], "float64")
        with pytest.raises(fg.DivergenceError) as err:
            net.fit(X, y, loss="mse", optimizer="sgd", lr=1e-3, epochs=50, batch_size=8, progress=False,
                    callbacks=callbacks)
        errors.append(str(err.value))
        weights.append(net.parameters()[0].data.copy())
    assert len(cpp_epochs) >= 1
    assert errors[0] == errors[1] and "batch" in errors[0]
    np.testing.assert_array_equal(*weights)


def test_engine_epoch_checks_its_arguments():
    X, y = _digits(50, "float64")
    net = _net([fg.Linear(64, 10)], "float64")
    fused = fg.Trainer(net, loss="cross_entropy")._fused_step()
    eng = fused.engine
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        eng.epoch(X, y, 0)
    with pytest.raises(TypeError, match="order must be a signed integer array of shape \\(50,\\)"):
        eng.epoch(X, y, 8, order=np.arange(50.0))
    with pytest.raises(ValueError, match="order must have shape \\(50,\\).*got \\(49,\\)"):
        eng.epoch(X, y, 8, order=np.arange(49))
    with pytest.raises(ValueError, match="order must hold row indices in \\[0, 50\\), got 50 at index 3"):
        eng.epoch(X, y, 8, order=np.array([0, 1, 2, 50] + [0] * 46))
    with pytest.raises(ValueError, match="y must have shape \\(50,\\)"):
        eng.epoch(X, y[:40], 8)
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 10\\)"):
        eng.epoch(X, y + 1, 8)
    with pytest.raises(TypeError, match="X must be float64"):
        eng.epoch(X.astype(np.float32), y, 8)
    with pytest.raises(ValueError, match="sample_weight must have shape \\(50,\\)"):
        eng.epoch(X, y, 8, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="divergence_factor must be > 1"):
        eng.epoch(X, y, 8, divergence_factor=0.5)
    mse = fg.Trainer(_net([fg.Linear(64, 1)], "float64"), loss="mse")._fused_step().engine
    with pytest.raises(ValueError, match="accuracy needs a classification loss, got 'mse'"):
        mse.epoch(X, y[:, None].astype(np.float64), 8, accuracy=True)
    # Fortran-ordered inputs train as their C-ordered copy
    a = eng.epoch(np.asfortranarray(X), y, 8)
    net2 = _net([fg.Linear(64, 10)], "float64")
    b = fg.Trainer(net2, loss="cross_entropy")._fused_step().engine.epoch(X, y, 8)
    assert a[:5] == b[:5]


_INTERRUPTED = textwrap.dedent("""
    import signal, sys, numpy as np, fastgd as fg
    from fastgd.trainer import Trainer
    # Python leaves SIGINT ignored when it starts with it ignored (a job started with & by a
    # non-interactive shell): install the usual KeyboardInterrupt handler, as a terminal has it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    real = Trainer._epoch_in_cpp
    Trainer._epoch_in_cpp = lambda self, *a: (print("in C++", flush=True), real(self, *a))[1]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400_000, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    # (wide enough that the epoch's 400 000 one-row steps take seconds, even on a fast idle machine)
    net = fg.Net([fg.Linear(8, 1024), fg.ReLU(), fg.Linear(1024, 2)], dtype="float32", seed=0)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=1e-3)
    try:
        trainer.fit(X, y, epochs=1, batch_size=1, progress=False)
    except KeyboardInterrupt:
        print("interrupted after", int(trainer._fused.counter), "of", len(X), "steps", flush=True)
        sys.exit(3)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_interrupts_an_epoch_in_cpp():
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "in C++"
        import time

        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, out
    done, total = (int(v) for v in out.split()[2:5:2])
    assert 0 < done < total  # stopped inside the epoch, long before its end


def test_needs_batches_and_a_trainer_that_overrides_step(cpp_epochs):
    net = _net([fg.Linear(64, 10)])
    opt = fg.optim.SGD(net.parameters(), lr=0.1)
    sched = fg.optim.schedules.StepLR(opt, step_size=1)
    assert not LearningRateScheduler(sched).needs_batches
    assert LearningRateScheduler(sched, interval="step").needs_batches
    assert not LambdaCallback(on_epoch_end=print).needs_batches
    assert LambdaCallback(on_batch_begin=print).needs_batches
    assert EveryBatch().needs_batches and not fg.callbacks.EarlyStopping().needs_batches
    seen = []

    class Logged(Trainer):
        def step(self, X, y, sample_weight=None):
            seen.append(len(X))
            return super().step(X, y, sample_weight)

    X, y = _digits(70)
    Logged(net, loss="cross_entropy", optimizer=opt).fit(X, y, epochs=1, batch_size=32, progress=False)
    assert seen == [32, 32, 6] and not cpp_epochs  # its own step: the Python loop


@pytest.mark.parametrize("rows_weight", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_l2_per_unit_batch_weight_and_the_penalty_sum_match_the_numpy_twin(rows_weight, dtype):
    """set_l2(lam, per_weight=True): every step's L2 coefficient is lam / Σw of its batch (the
    scikit-learn estimators' term); the epoch's penalty_sum (and loss_sum, with rows_weight by
    batch rows) against reference.epoch over a NumPy step with reference.l2_penalty."""
    X, y = _digits(203, dtype)
    w = np.random.default_rng(2).random(len(X)).astype(dtype)
    w[32:64] = 0  # skipped: no L2 term either
    order = np.random.default_rng(3).permutation(len(X))
    lam = 0.3
    nets = [_net([fg.Linear(64, 16), fg.Tanh(), fg.Linear(16, 10)], dtype) for _ in range(2)]
    fused = fg.Trainer(nets[0], loss="cross_entropy", optimizer="sgd", lr=0.1, momentum=0.9)._fused_step()
    fused.set_l2(lam, per_weight=True)
    plain = fg.Trainer(nets[1], loss="cross_entropy", optimizer="sgd", lr=0.1, momentum=0.9, fused=False)
    mats = [p for p in nets[1].regularized_parameters()]

    def step(Xb, yb, wb):  # the layer-by-layer step, its L2 term added by the twin
        plain.net.zero_grad()
        out = plain.net.forward(Xb)
        value, dout = plain.loss(out, yb, sample_weight=wb)
        plain.net.backward(dout, need_dx=False)
        term, grads = reference.l2_penalty([p.data for p in mats], lam, batch_weight=float(wb.sum(dtype=np.float64)))
        for p, g in zip(mats, grads):
            p.grad += g
        plain.optimizer.step()
        return value + term, out, term

    want = reference.epoch(step, X, y, 32, order=order, sample_weight=w, rows_weight=rows_weight)
    total, weight, _, _, done, _, _, _, penalty = fused.epoch(X, y, 32, order, w, None, None, False, rows_weight)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert done == 7 and penalty > 0
    np.testing.assert_allclose([total, weight, penalty], [want[0], want[1], want[4]], rtol=tol)
    assert weight == (len(X) if rows_weight else pytest.approx(float(w.sum(dtype=np.float64))))
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=tol, atol=tol)


def test_l2_per_weight_step_equals_the_absolute_l2_of_that_batch():
    """A step with per-weight L2 is bit for bit the step with lam / Σw set by hand, and last_l2
    is the term ½·λ·Σ‖W‖² at the weights before the update."""
    X, y = _digits(40, "float64")
    w = np.random.default_rng(0).random(len(X))
    nets = [_net([fg.Linear(64, 8), fg.ReLU(), fg.Linear(8, 10)], "float64") for _ in range(2)]
    steps = [fg.Trainer(n, loss="cross_entropy", optimizer="adam", lr=1e-2)._fused_step() for n in nets]
    mats = [p.data.copy() for p in nets[0].regularized_parameters()]
    steps[0].set_l2(2.0, per_weight=True)
    steps[1].set_l2(2.0 / float(w.sum()))
    a, b = steps[0].step(X, y, w), steps[1].step(X, y, w)
    assert a == pytest.approx(b, rel=1e-14)
    term, _ = reference.l2_penalty(mats, 2.0, batch_weight=float(w.sum()))
    assert steps[0].engine.last_l2() == pytest.approx(term, rel=1e-12) and term > 0
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-14, atol=1e-15)
    # unweighted: lam / rows
    before = [p.data.copy() for p in nets[0].regularized_parameters()]
    steps[0].step(X, y)
    term, _ = reference.l2_penalty(before, 2.0, batch_weight=float(len(X)))
    assert steps[0].engine.last_l2() == pytest.approx(term, rel=1e-12)
