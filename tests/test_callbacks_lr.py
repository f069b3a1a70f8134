"""fastgd.callbacks.LearningRateScheduler and ReduceLROnPlateau in fit, and the per-batch hooks:
fit's weights against a hand-written loop that steps the scheduler, lr sequences against torch
and against Keras' rules worked out by hand."""

from __future__ import annotations

import fastgd as fg
import numpy as np
import pytest
from fastgd import optim
from fastgd.callbacks import LambdaCallback, LearningRateScheduler, ReduceLROnPlateau
from fastgd.optim import schedules as S


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(n)
    return X, y


def _net():
    return fg.Net([fg.Linear(4, 6), fg.Tanh(), fg.Linear(6, 1)], dtype="float64", seed=3)


def _manual(X, y, epochs, batch_size, make_opt, make_sched, per_step, fused=True):
    """The loop fit should run: Trainer.step per batch in order, the scheduler stepped by hand."""
    net = _net()
    opt = make_opt(net)
    sched = make_sched(opt)
    trainer = fg.Trainer(net, loss="mse", optimizer=opt, fused=fused)
    lrs = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            lrs.append(opt.param_groups[0]["lr"])
            trainer.step(X[start:start + batch_size], y[start:start + batch_size])
            if per_step:
                sched.step()
        if not per_step:
            sched.step()
    return net, lrs


def test_epoch_scheduler_in_fit_equals_the_hand_written_loop():
    X, y = _data()
    net = _net()
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    hist = net.fit(X, y, optimizer=opt, epochs=6, batch_size=16, shuffle=False, progress=False,
                   callbacks=[LearningRateScheduler(sched)])
    assert hist.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    want, _ = _manual(X, y, 6, 16, lambda n: optim.SGD(n.parameters(), lr=0.1, momentum=0.9),
                      lambda o: S.StepLR(o, step_size=2, gamma=0.5), per_step=False)
    for p, q in zip(net.parameters(), want.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)
    assert sched.last_epoch == 6


def test_step_scheduler_one_cycle_matches_torch_and_the_unfused_loop():
    # OneCycleLR per batch also cycles SGD's momentum: the fused step must pick that up.
    torch = pytest.importorskip("torch")
    X, y = _data()
    epochs, bs = 4, 16
    steps = epochs * -(-len(X) // bs)
    net = _net()
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=0.2, total_steps=steps)
    seen = []
    hist = net.fit(X, y, optimizer=opt, epochs=epochs, batch_size=bs, shuffle=False,
                   progress=False,
                   callbacks=[LearningRateScheduler(sched, interval="step"),
                              LambdaCallback(on_batch_begin=lambda b, logs: seen.append(
                                  (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])))])
    tp = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.2, total_steps=steps)
    want = []
    for _ in range(steps):
        want.append((tsched.get_last_lr()[0], topt.param_groups[0]["momentum"]))
        topt.step()
        if len(want) < steps:
            tsched.step()
    np.testing.assert_allclose(np.array(seen), np.array(want), rtol=1e-13)
    per_epoch = steps // epochs
    # an epoch's "lr" is the lr at its end: per step, the one the next epoch starts with
    assert hist.history["lr"] == pytest.approx(
        [opt_lr for opt_lr, _ in want[per_epoch::per_epoch]] + [sched.get_last_lr()[0]],
        rel=1e-13)
    ref, lrs = _manual(X, y, epochs, bs, lambda n: optim.SGD(n.parameters(), lr=0.1, momentum=0.9),
                       lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=steps), per_step=True,
                       fused=False)
    assert lrs == pytest.approx([lr for lr, _ in want], rel=1e-13)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-12)


def test_keras_style_schedule_function():
    X, y = _data()
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr if epoch < 2 else lr * 0.5

    hist = _net().fit(X, y, optimizer="sgd", lr=0.05, epochs=5, batch_size=25, shuffle=False,
                      progress=False, callbacks=[LearningRateScheduler(schedule)])
    assert hist.history["lr"] == pytest.approx([0.05, 0.05, 0.025, 0.0125, 0.00625])
    assert [e for e, _ in calls] == list(range(5))
    # per step: schedule(step, lr) before every step, counting over the whole run
    steps = []
    _net().fit(X, y, optimizer="sgd", lr=0.05, epochs=2, batch_size=25, progress=False,
               callbacks=[LearningRateScheduler(lambda s, lr: steps.append(s) or 0.01 * (s + 1),
                                                interval="step")])
    assert steps == [0, 1, 2, 3]


# Keras' ReduceLROnPlateau worked through by hand for factor=0.5, patience=2, cooldown=1,
# min_lr=0.02 and this metric: reductions at epochs 3, 5 and 7 (the third clipped to min_lr),
# the cooldown epoch after each still counting once it has run out, none below min_lr.
PLATEAU = [1.0, 0.9, 0.9, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
PLATEAU_LR = [0.1] * 4 + [0.05] * 2 + [0.025] * 2 + [0.02] * 6


def _attached(callback, lr=0.1):
    net = _net()
    trainer = fg.Trainer(net, loss="mse", optimizer=optim.SGD(
        [{"params": net.parameters()[:2]}, {"params": net.parameters()[2:], "lr": 2 * lr}], lr=lr))
    callback.set_trainer(trainer)
    callback.on_train_begin({})
    return trainer


def test_reduce_lr_on_plateau_follows_keras_rules():
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02,
                           min_delta=0.0)
    trainer = _attached(cb)
    logged = []
    for epoch, value in enumerate(PLATEAU):
        logs = {"val_loss": value}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["lr"])
    assert logged == pytest.approx(PLATEAU_LR, rel=1e-15)
    # the second group started at 0.2: halved at epochs 3, 5, 7 (0.025), then at epoch 10,
    # when the first is already at min_lr, clipped to min_lr
    assert trainer.optimizer.param_groups[1]["lr"] == pytest.approx(0.02)
    assert cb.best == 0.8


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    cb = ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=1, min_delta=0.01)
    assert cb.mode == "max"  # "auto" for a metric containing "acc"
    trainer = _attached(cb)
    for epoch, value in enumerate([0.5, 0.505, 0.6, 0.6]):  # 0.505 is within min_delta
        cb.on_epoch_end(epoch, {"val_accuracy": value})
    lrs = [g["lr"] for g in trainer.optimizer.param_groups]
    assert lrs == pytest.approx([1e-3, 2e-3])  # reduced after epochs 1 and 3


def test_reduce_lr_on_plateau_in_fit_records_lr_and_trains_with_it():
    X, y = _data()
    net = _net()
    # min_delta huge: no epoch after the first improves, so with patience 0 every epoch reduces
    hist = net.fit(X, y, optimizer="sgd", lr=0.1, epochs=4, batch_size=16, shuffle=False,
                   progress=False,
                   callbacks=[ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e9)])
    assert hist.history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    ref, _ = _manual(X, y, 4, 16, lambda n: optim.SGD(n.parameters(), lr=0.1),
                     lambda o: S.LambdaLR(o, lambda e: [1, 1, 0.1, 0.01, 0.001][e]),
                     per_step=False)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)


def test_batch_hooks_see_every_step_and_its_loss():
    X, y = _data(n=50)
    begins, ends, epoch_losses = [], [], []
    cb = LambdaCallback(on_batch_begin=lambda b, logs: begins.append(b),
                        on_batch_end=lambda b, logs: ends.append((b, logs["loss"])),
                        on_epoch_end=lambda e, logs: epoch_losses.append(logs["loss"]))
    _net().fit(X, y, optimizer="sgd", lr=0.01, epochs=2, batch_size=16, progress=False,
               callbacks=[cb])
    assert begins == [0, 1, 2, 3] * 2 and [b for b, _ in ends] == begins
    sizes = np.array([16, 16, 16, 2])
    for e in range(2):
        batch = np.array([v for _, v in ends[4 * e:4 * e + 4]])
        assert epoch_losses[e] == pytest.approx(float(batch @ sizes) / 50, rel=1e-12)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: LearningRateScheduler(S.ReduceLROnPlateau(optim.SGD([np.zeros(1)], lr=0.1))),
         ValueError, "use fastgd.callbacks.ReduceLROnPlateau"),
        (lambda: LearningRateScheduler(0.1), TypeError, "scheduler must be a fastgd"),
        (lambda: LearningRateScheduler(lambda e, lr: lr, interval="batch"), ValueError,
         "interval must be 'epoch' or 'step', got 'batch'"),
        (lambda: ReduceLROnPlateau(factor=1.0), ValueError, "factor must be a number in"),
        (lambda: ReduceLROnPlateau(patience=-1), ValueError, "patience must be an int >= 0"),
        (lambda: ReduceLROnPlateau(cooldown=0.5), ValueError, "cooldown must be an int >= 0"),
        (lambda: ReduceLROnPlateau(min_lr=-1), ValueError, "min_lr must be a finite number"),
        (lambda: ReduceLROnPlateau(min_delta=float("inf")), ValueError, "min_delta must be"),
        (lambda: ReduceLROnPlateau(mode="up"), ValueError, "mode must be 'auto', 'min' or 'max'"),
        (lambda: ReduceLROnPlateau(monitor=3), TypeError, "monitor must be a metric name"),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_errors_at_fit_time():
    X, y = _data()
    other = S.StepLR(optim.SGD([np.zeros(1)], lr=0.1), step_size=1)
    with pytest.raises(ValueError, match="built over another optimizer"):
        _net().fit(X, y, epochs=1, progress=False, callbacks=[LearningRateScheduler(other)])
    with pytest.raises(ValueError, match=r"monitors 'val_loss'.*pass validation_data"):
        _net().fit(X, y, epochs=1, progress=False, callbacks=[ReduceLROnPlateau()])
    with pytest.raises(ValueError, match="returned lr = -1.0"):
        _net().fit(X, y, epochs=1, progress=False,
                   callbacks=[LearningRateScheduler(lambda e, lr: -1.0)])


def test_a_loop_without_batch_hooks_is_an_error_for_per_step_schedules():
    X, y = _data()
    net = _net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    cb = LearningRateScheduler(S.ExponentialLR(opt, gamma=0.9), interval="step")
    trainer = fg.Trainer(net, loss="mse", optimizer=opt)
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    cb.on_epoch_begin(0, {})
    trainer.step(X, y)  # a hand-written loop that calls no on_batch_end
    with pytest.raises(RuntimeError, match="does not call the per-batch hooks"):
        cb.on_epoch_end(0, {"loss": 1.0})
