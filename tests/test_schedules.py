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
