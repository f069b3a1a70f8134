"""fastgd.optim.schedules: schedule functions against their closed forms, schedulers against
torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastgd import optim
from fastgd.optim import schedules as S

EPOCHS = 40


# ------------------------------------------------------------------------ schedule functions


def test_constant():
    s = S.constant(0.1)
    assert [s(t) for t in (0, 1, 1000)] == [0.1, 0.1, 0.1]


def test_step_decay_closed_form():
    s = S.step_decay(2.0, step_size=3, gamma=0.5)
    assert [s(t) for t in range(10)] == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert S.step_decay(1.0, 10)(25) == pytest.approx(0.01)  # default gamma 0.1


def test_exponential_decay_is_the_seed_rule():
    # The seed's loop: lr used at step t, then lr *= decay.
    s = S.exponential_decay(0.3, gamma=0.9)
    lr = 0.3
    for t in range(50):
        assert s(t) == pytest.approx(lr, rel=1e-13)
        lr *= 0.9


def test_cosine_closed_form_and_period():
    s = S.cosine(1.0, T_max=10, eta_min=0.1)
    assert s(0) == 1.0
    assert s(5) == pytest.approx(0.55)
    assert s(10) == pytest.approx(0.1)
    for t in range(30):
        want = 0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2
        assert s(t) == pytest.approx(want, rel=1e-15)
    assert s(15) == pytest.approx(s(5))  # follows the cosine back up past T_max, as torch does
    values = [s(t) for t in range(11)]
    assert (np.diff(values) < 0).all()  # decreasing over one T_max


def test_schedules_have_readable_reprs():
    assert repr(S.cosine(0.1, 100)) == "cosine(lr=0.1, T_max=100, eta_min=0.0)"
    assert "step_size=5" in repr(S.step_decay(0.1, 5))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: S.constant(-1.0), "Invalid learning rate: -1.0"),
        (lambda: S.step_decay(0.1, 0), "step_size must be a positive integer, got 0"),
        (lambda: S.step_decay(0.1, 2.5), "step_size must be a positive integer, got 2.5"),
        (lambda: S.cosine(0.1, 0), "T_max must be positive, got 0"),
        (lambda: S.exponential_decay(float("nan"), 0.9), "Invalid learning rate: nan"),
    ],
)
def test_schedule_arguments_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------------------ schedulers

# (our scheduler, torch's scheduler name, kwargs): the same kwargs drive both.
SCHEDULERS = [
    (S.StepLR, "StepLR", dict(step_size=3, gamma=0.5)),
    (S.StepLR, "StepLR", dict(step_size=1)),
    (S.ExponentialLR, "ExponentialLR", dict(gamma=0.9)),
    (S.CosineAnnealingLR, "CosineAnnealingLR", dict(T_max=10, eta_min=0.01)),
    (S.CosineAnnealingLR, "CosineAnnealingLR", dict(T_max=7)),
    (S.LambdaLR, "LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
]


def two_groups(lr0=0.1, lr1=0.5):
    return optim.SGD([{"params": [np.zeros(2)]}, {"params": [np.zeros(3)], "lr": lr1}], lr=lr0)


@pytest.mark.parametrize(("ours", "name", "kwargs"), SCHEDULERS,
                         ids=[f"{n}-{sorted(kw)}" for _, n, kw in SCHEDULERS])
def test_schedulers_match_torch(ours, name, kwargs):
    torch = pytest.importorskip("torch")
    opt = two_groups()
    sched = ours(opt, **kwargs)
    tparams = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    topt = torch.optim.SGD([{"params": [tparams[0]]}, {"params": [tparams[1]], "lr": 0.5}], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in range(EPOCHS):
        want = tsched.get_last_lr()
        assert sched.get_last_lr() == pytest.approx(want, rel=1e-12, abs=1e-15), epoch
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        assert sched.last_epoch == tsched.last_epoch == epoch
        opt.step(grads=[np.zeros(2), np.zeros(3)])
        topt.step()  # torch warns if its scheduler steps before its optimizer
        sched.step()
        tsched.step()


def test_schedulers_follow_the_closed_forms():
    opt = optim.SGD([np.zeros(1)], lr=0.2)
    sched = S.CosineAnnealingLR(opt, T_max=8, eta_min=0.02)
    f = S.cosine(0.2, 8, 0.02)
    for epoch in range(20):
        assert opt.param_groups[0]["lr"] == f(epoch)
        sched.step()


def test_schedule_lr_sets_the_schedule_value_per_group():
    opt = two_groups()
    sched = S.ScheduleLR(opt, [S.exponential_decay(1.0, 0.5), S.constant(0.3)])
    for epoch in range(6):
        assert sched.get_last_lr() == [0.5**epoch, 0.3]
        sched.step()
    opt = two_groups()
    sched = S.ScheduleLR(opt, S.step_decay(0.7, 2))  # one schedule for every group
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.07)] * 2


def test_scheduler_drives_the_optimizer_update():
    x = np.zeros(1)
    opt = optim.SGD([x], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.step(grads=[np.ones(1)])
        sched.step()
    assert x[0] == pytest.approx(-(1 + 0.5 + 0.25))


def test_scheduler_state_dict_resumes():
    opt = optim.SGD([np.zeros(1)], lr=0.1)
    sched = S.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt_sd = opt.state_dict()
    assert opt_sd["param_groups"][0]["initial_lr"] == 0.1

    opt2 = optim.SGD([np.zeros(1)], lr=0.1)
    opt2.load_state_dict(opt_sd)
    sched2 = S.CosineAnnealingLR(opt2, T_max=10, last_epoch=sd["last_epoch"] - 1)
    sched2.load_state_dict(sd)
    for _ in range(8):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_schedule_lr_state_dict_leaves_out_the_functions():
    sched = S.ScheduleLR(optim.SGD([np.zeros(1)], lr=0.1), S.constant(0.1))
    assert "schedules" not in sched.state_dict()
    lam = S.LambdaLR(optim.SGD([np.zeros(1)], lr=0.1), lambda e: 1.0)
    assert "lr_lambdas" not in lam.state_dict()


def test_scheduler_errors():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        S.StepLR([], step_size=1)
    opt = optim.SGD([np.zeros(1)], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        S.ExponentialLR(opt, gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        S.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be positive"):
        S.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="Expected 2 schedules"):
        S.ScheduleLR(two_groups(), [S.constant(0.1)] * 3)
    with pytest.raises(TypeError, match="schedule must be callable"):
        S.ScheduleLR(opt, 0.1)
    assert "last_epoch=0" in repr(S.StepLR(opt, step_size=2))


# --------------------------------------------- every scheduler against torch over 100 steps

STEPS = 100

# (id, optimizer name and kwargs, builder(module, optimizer)): the builder is called with
# fastgd.optim.schedules and with torch.optim.lr_scheduler, which share the class names.
TORCH_TABLE = [
    ("StepLR", "SGD", {}, lambda L, o: L.StepLR(o, step_size=7, gamma=0.5)),
    ("ExponentialLR", "SGD", {}, lambda L, o: L.ExponentialLR(o, gamma=0.97)),
    ("CosineAnnealingLR", "SGD", {}, lambda L, o: L.CosineAnnealingLR(o, T_max=30, eta_min=1e-3)),
    ("LambdaLR", "SGD", {}, lambda L, o: L.LambdaLR(o, lambda e: 1 / (1 + 0.1 * e))),
    ("MultiStepLR", "SGD", {}, lambda L, o: L.MultiStepLR(o, milestones=[10, 30, 30, 75])),
    ("MultiStepLR-gamma", "SGD", {}, lambda L, o: L.MultiStepLR(o, [5, 50], gamma=0.5)),
    ("LinearLR-warmup", "SGD", {}, lambda L, o: L.LinearLR(o, start_factor=0.1, total_iters=10)),
    ("LinearLR-decay", "SGD", {},
     lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=60)),
    ("LinearLR-default", "SGD", {}, lambda L, o: L.LinearLR(o)),
    ("CosineAnnealingWarmRestarts", "SGD", {},
     lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts-Tmult", "SGD", {},
     lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2)),
    ("OneCycleLR-cos-sgd", "SGD", {"momentum": 0.9},
     lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=STEPS)),
    ("OneCycleLR-linear-3phase", "SGD", {"momentum": 0.9},
     lambda L, o: L.OneCycleLR(o, max_lr=0.5, epochs=10, steps_per_epoch=10, pct_start=0.25,
                               anneal_strategy="linear", three_phase=True)),
    ("OneCycleLR-adam", "Adam", {},
     lambda L, o: L.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, div_factor=10.0,
                               final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    ("OneCycleLR-no-momentum", "Adam", {},
     lambda L, o: L.OneCycleLR(o, max_lr=0.01, total_steps=120, cycle_momentum=False)),
    ("SequentialLR-warmup-cosine", "SGD", {},
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5),
                                     L.CosineAnnealingLR(o, T_max=40)], milestones=[5])),
    ("SequentialLR-three", "SGD", {},
     lambda L, o: L.SequentialLR(o, [L.ExponentialLR(o, gamma=0.9),
                                     L.MultiStepLR(o, [3, 20], gamma=0.5),
                                     L.CosineAnnealingWarmRestarts(o, T_0=8)],
                                 milestones=[12, 40])),
]


def _two_group_optimizers(torch, opt_name, kwargs):
    ours = getattr(optim, opt_name)(
        [{"params": [np.zeros(2)]}, {"params": [np.zeros(3)], "lr": 0.5}], lr=0.1, **kwargs)
    tparams = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    theirs = getattr(torch.optim, opt_name)(
        [{"params": [tparams[0]]}, {"params": [tparams[1]], "lr": 0.5}], lr=0.1, **kwargs)
    return ours, theirs


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


@pytest.mark.parametrize(("opt_name", "kwargs", "build"), [row[1:] for row in TORCH_TABLE],
                         ids=[row[0] for row in TORCH_TABLE])
def test_lr_sequence_matches_torch_over_100_steps(opt_name, kwargs, build):
    torch = pytest.importorskip("torch")
    opt, topt = _two_group_optimizers(torch, opt_name, kwargs)
    sched = build(S, opt)
    tsched = build(torch.optim.lr_scheduler, topt)
    ours, theirs = [], []
    for _ in range(STEPS):
        ours.append(sched.get_last_lr() + _momenta(opt))
        theirs.append([float(v) for v in tsched.get_last_lr()] + _momenta(topt))
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        topt.step()
        if len(ours) < STEPS:  # OneCycleLR refuses a step past total_steps, as torch's does
            sched.step()
            tsched.step()
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float),
                               rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == tsched.last_epoch


# A metric that improves, stalls, improves a little (below the threshold), jumps and plateaus.
PLATEAU_METRIC = ([1.0 / (1 + e) for e in range(15)] + [0.07] * 12 + [0.0699999] * 5
                  + [0.05 - 1e-3 * e for e in range(10)] + [0.2] * 30
                  + [0.04 * 0.9**e for e in range(28)])
PLATEAU_KWARGS = [
    {},
    {"patience": 2, "factor": 0.5},
    {"patience": 0, "cooldown": 3, "factor": 0.5, "min_lr": [0.01, 0.02]},
    {"patience": 1, "threshold": 0.01, "threshold_mode": "abs", "min_lr": 1e-3},
    {"mode": "max", "patience": 3, "factor": 0.3},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.001, "patience": 1, "eps": 0.05},
]


@pytest.mark.parametrize("kwargs", PLATEAU_KWARGS, ids=[str(sorted(k)) for k in PLATEAU_KWARGS])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    assert len(PLATEAU_METRIC) == STEPS
    opt, topt = _two_group_optimizers(torch, "SGD", {})
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    reductions = 0
    for value in PLATEAU_METRIC:
        before = sched.get_last_lr()
        sched.step(value)
        tsched.step(value)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-15)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch)
        reductions += sched.get_last_lr() != before
    assert reductions >= 1  # the sequence exercises a reduction for every setting


def test_chainable_schedulers_compose_with_hand_edits_as_torch():
    # MultiStepLR and LinearLR scale the current lr: a hand edit carries through, as in torch.
    torch = pytest.importorskip("torch")
    for build in (lambda L, o: L.MultiStepLR(o, [3, 6]), lambda L, o: L.LinearLR(o, 0.2)):
        opt, topt = _two_group_optimizers(torch, "SGD", {})
        sched, tsched = build(S, opt), build(torch.optim.lr_scheduler, topt)
        for epoch in range(10):
            if epoch == 2:
                opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.05
            topt.step()
            sched.step()
            tsched.step()
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)


def test_warm_restarts_fractional_epochs_match_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _two_group_optimizers(torch, "SGD", {})
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2,
                                                                  eta_min=0.001)
    import warnings
    for epoch in range(12):
        for i in range(4):
            topt.step()
            sched.step(epoch + i / 4)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch deprecates step(epoch) in general
                tsched.step(epoch + i / 4)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)
    with pytest.raises(ValueError, match="Expected non-negative epoch"):
        sched.step(-1)


def _run(sched, opt, n, metric=None):
    lrs = []
    for e in range(n):
        if metric is None:
            sched.step()
        else:
            sched.step(metric[e])
        lrs.append(sched.get_last_lr() + _momenta(opt))
    return lrs


@pytest.mark.parametrize(("opt_name", "kwargs", "build"), [row[1:] for row in TORCH_TABLE],
                         ids=[row[0] for row in TORCH_TABLE])
def test_scheduler_state_dict_round_trip(opt_name, kwargs, build):
    # Run 40 steps, save scheduler + optimizer, rebuild both fresh, load, and continue: the next
    # lrs equal an uninterrupted run's.
    def fresh():
        return getattr(optim, opt_name)(
            [{"params": [np.zeros(2)]}, {"params": [np.zeros(3)], "lr": 0.5}], lr=0.1, **kwargs)

    opt = fresh()
    sched = build(S, opt)
    _run(sched, opt, 40)
    sd, opt_sd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd
    want = _run(sched, opt, 30)

    opt2 = fresh()
    sched2 = build(S, opt2)  # construct before loading the optimizer state, as torch advises
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert _run(sched2, opt2, 30) == want


def test_reduce_lr_on_plateau_state_dict_round_trip():
    opt = two_groups()
    sched = S.ReduceLROnPlateau(opt, patience=2, cooldown=1, factor=0.5)
    _run(sched, opt, 40, PLATEAU_METRIC)
    sd, opt_sd = sched.state_dict(), opt.state_dict()
    want = _run(sched, opt, 60, PLATEAU_METRIC[40:])
    opt2 = two_groups()
    sched2 = S.ReduceLROnPlateau(opt2)  # other settings: the state carries them
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert _run(sched2, opt2, 60, PLATEAU_METRIC[40:]) == want


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda o: S.MultiStepLR(o, 5), TypeError, "milestones must be an iterable"),
        (lambda o: S.MultiStepLR(o, [1.5]), ValueError, "milestones must be integers"),
        (lambda o: S.LinearLR(o, start_factor=0), ValueError, "start_factor = 0"),
        (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, "end_factor = 1.5"),
        (lambda o: S.LinearLR(o, total_iters=0), ValueError, "total_iters must be a positive"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "positive integer T_0"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), ValueError, "T_mult >= 1"),
        (lambda o: S.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps OR"),
        (lambda o: S.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps, but got 0"),
        (lambda o: S.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1), ValueError,
         "steps_per_epoch, but got -1"),
        (lambda o: S.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, "pct_start, but got 1.5"),
        (lambda o: S.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError, "'exp'"),
        (lambda o: S.OneCycleLR(o, [0.1] * 3, 10), ValueError, "max_lr has 3 values, param_gr"),
        (lambda o: S.OneCycleLR(o, -0.1, 10), ValueError, "Invalid learning rate: -0.1"),
        (lambda o: S.SequentialLR(o, [], []), ValueError, "at least one scheduler"),
        (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], []), ValueError,
         "number of milestones to be equal to 0"),
        (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o)], []), ValueError,
         "does not support `ReduceLROnPlateau`"),
        (lambda o: S.SequentialLR(o, [S.StepLR(two_groups(), 2)], []), ValueError,
         "same optimizer"),
        (lambda o: S.SequentialLR(o, [0.1], []), TypeError, r"schedulers\[0\] must be a sched"),
        (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
        (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError, "mode must be 'min' or 'max'"),
        (lambda o: S.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
        (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be an int"),
        (lambda o: S.ReduceLROnPlateau(o, cooldown=1.5), ValueError, "cooldown must be an int"),
        (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
        (lambda o: S.ReduceLROnPlateau([], 0.1), TypeError, "list is not an Optimizer"),
        (lambda o: S.ReduceLROnPlateau(o).step("x"), TypeError, "metric as a number, got 'x'"),
    ],
)
def test_new_scheduler_arguments_are_validated(make, error, message):
    with pytest.raises(error, match=message):
        make(two_groups())


def test_one_cycle_refuses_steps_past_the_cycle_and_needs_momentum():
    opt = two_groups()
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    sched.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()

    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    with pytest.raises(ValueError, match="momentum or beta1.*Plain has neither"):
        S.OneCycleLR(Plain([np.zeros(1)]), max_lr=0.1, total_steps=5)
    assert S.OneCycleLR(Plain([np.zeros(1)]), 0.1, 5, cycle_momentum=False).get_last_lr() == [
        pytest.approx(0.004)]
