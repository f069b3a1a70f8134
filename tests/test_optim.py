"""fastgd.optim: SGD/Adam/AdamW/RMSprop/Adagrad/NAdam/RAdam against hand-written NumPy versions of
torch's formulas and against torch itself, from one table of (name, kwargs); state_dict,
validation, parameter groups, clipping."""

from __future__ import annotations

import copy
import re

import fastgd
import numpy as np
import pytest
from fastgd import Parameter, optim
from fastgd.layers import Layer

# One table for every optimizer test: (name, hyper-parameters).
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.1, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.2, weight_decay=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    ("sgd", dict(lr=0.1, maximize=True)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6)),
    ("adam", dict(lr=1e-2, weight_decay=0.1)),
    ("adam", dict(lr=1e-2, amsgrad=True)),
    ("adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("adamw", dict(lr=1e-2)),
    ("adamw", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("adamw", dict(lr=1e-2, betas=(0.5, 0.9), weight_decay=0.2, maximize=True)),
    ("rmsprop", dict(lr=1e-2)),
    ("rmsprop", dict(lr=1e-2, alpha=0.9, eps=1e-6)),
    ("rmsprop", dict(lr=1e-2, momentum=0.9)),
    ("rmsprop", dict(lr=1e-2, centered=True)),
    ("rmsprop", dict(lr=1e-2, momentum=0.8, centered=True, weight_decay=0.1)),
    ("rmsprop", dict(lr=1e-2, alpha=0.3, centered=True, maximize=True)),  # lerp's w >= 0.5 branch
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("nadam", dict(lr=1e-2)),
    ("nadam", dict(lr=1e-2, betas=(0.8, 0.99), momentum_decay=0.01)),
    ("nadam", dict(lr=1e-2, weight_decay=0.1)),
    ("nadam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("nadam", dict(lr=1e-2, betas=(0.3, 0.9))),
    ("radam", dict(lr=1e-2)),
    ("radam", dict(lr=1e-2, betas=(0.5, 0.9))),  # rectified from step 6 on (rho_t > 5)
    ("radam", dict(lr=1e-2, weight_decay=0.1)),
    ("radam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]
CLASSES = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
           "adagrad": optim.Adagrad, "nadam": optim.NAdam, "radam": optim.RAdam}
NAMES = list(CLASSES)
KERNEL = {"sgd": "sgd_step", "adam": "adam_step", "adamw": "adam_step", "rmsprop": "rmsprop_step",
          "adagrad": "adagrad_step", "nadam": "nadam_step", "radam": "radam_step"}
DTYPES = [np.float32, np.float64]
SHAPES = [(4, 3), (3,), (2, 2, 2)]
N_STEPS = 6
ARRAY_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg",
              "sum")
SCALAR_KEYS = ("step", "mu_product")


def torch_class(name):
    torch = pytest.importorskip("torch")
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
            "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
            "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}[name]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)


def problem(dtype, seed=0, n_steps=N_STEPS):
    """Initial parameters and a gradient sequence: n_steps lists, one array per parameter."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(n_steps)]
    return params, grads


# ----------------------------------------------------- torch's formulas, written out in NumPy


def numpy_sgd(p, g, state, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False,
              maximize=False):
    """torch.optim.SGD (its documented algorithm), one parameter, returns the new parameter."""
    d_p = -g if maximize else g
    if weight_decay != 0:
        d_p = d_p + weight_decay * p
    if momentum != 0:
        if "momentum_buffer" not in state:
            buf = d_p.copy()
        else:
            buf = momentum * state["momentum_buffer"] + (1 - dampening) * d_p
        state["momentum_buffer"] = buf
        d_p = d_p + momentum * buf if nesterov else buf
    return p - lr * d_p


def numpy_adam(p, g, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
               maximize=False, decoupled=False):
    """torch.optim.Adam / AdamW (their documented algorithm), one parameter."""
    b1, b2 = betas
    if not state:
        state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
        if amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(p)
    state["step"] += 1
    t = state["step"]
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = b1 * state["exp_avg"] + (1 - b1) * g
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
    denom = np.sqrt(v) / np.sqrt(1 - b2**t) + eps
    return p - (lr / (1 - b1**t)) * m / denom


def lerp(a, b, w):
    """torch.lerp's two formulas (|w| < 0.5 or not)."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


def numpy_rmsprop(p, g, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                  centered=False, maximize=False):
    """torch.optim.RMSprop (its documented algorithm), one parameter."""
    if not state:
        state.update(step=0, square_avg=np.zeros_like(p))
        if momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if centered:
            state["grad_avg"] = np.zeros_like(p)
    state["step"] += 1
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g
    if centered:
        ga = state["grad_avg"] = lerp(state["grad_avg"], g, 1 - alpha)
        v = v - ga * ga
    avg = np.sqrt(v) + eps
    if momentum > 0:
        buf = state["momentum_buffer"] = momentum * state["momentum_buffer"] + g / avg
        return p - lr * buf
    return p - lr * g / avg


def numpy_adagrad(p, g, state, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                  eps=1e-10, maximize=False):
    """torch.optim.Adagrad (its documented algorithm), one parameter."""
    if not state:
        state.update(step=0, sum=np.full_like(p, initial_accumulator_value))
    state["step"] += 1
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    clr = lr / (1 + (state["step"] - 1) * lr_decay)
    state["sum"] = state["sum"] + g * g
    return p - clr * g / (np.sqrt(state["sum"]) + eps)


def numpy_nadam(p, g, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    """torch.optim.NAdam (its documented algorithm), one parameter. torch keeps mu_product in a
    float32 tensor, so each product is rounded to float32."""
    b1, b2 = betas
    if not state:
        state.update(step=0, mu_product=1.0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    state["mu_product"] = prod = float(np.float32(state["mu_product"]) * np.float32(mu))
    m = state["exp_avg"] = lerp(state["exp_avg"], g, 1 - b1)
    v = state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    denom = np.sqrt(v / (1 - b2**t)) + eps
    return p - lr * (1 - mu) / (1 - prod) * g / denom - lr * mu_next / (1 - prod * mu_next) * m / denom


def numpy_radam(p, g, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                decoupled_weight_decay=False, maximize=False):
    """torch.optim.RAdam (its documented algorithm), one parameter."""
    b1, b2 = betas
    if not state:
        state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = state["exp_avg"] = lerp(state["exp_avg"], g, 1 - b1)
    v = state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return p - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * rect * np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)


NUMPY = {"rmsprop": numpy_rmsprop, "adagrad": numpy_adagrad, "nadam": numpy_nadam,
         "radam": numpy_radam}


def run_numpy(name, kwargs, params0, grad_seq):
    params = [p.copy() for p in params0]
    states = [{} for _ in params]
    history = []
    for grads in grad_seq:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if name == "sgd":
                params[i] = numpy_sgd(p, g, states[i], **kwargs)
            elif name in NUMPY:
                params[i] = NUMPY[name](p, g, states[i], **kwargs)
            else:
                params[i] = numpy_adam(p, g, states[i], decoupled=name == "adamw",
                                       **{"weight_decay": 1e-2 if name == "adamw" else 0,
                                          **kwargs})
        history.append([p.copy() for p in params])
    return history, states


def run_fastgd(name, kwargs, params0, grad_seq, plain=False):
    """Run fastgd's optimizer: on Parameters via .grad, or on plain arrays via step(grads=)."""
    arrays = [p.copy() for p in params0]
    params = arrays if plain else [Parameter(a) for a in arrays]
    opt = CLASSES[name](params, **kwargs)
    history = []
    for grads in grad_seq:
        if plain:
            opt.step(grads=grads)
        else:
            for p, g in zip(params, grads, strict=True):
                p.grad[...] = g
            opt.step()
        history.append([a.copy() for a in arrays])
    states = [opt.state.get(p, {}) for p in opt.params]
    return history, states, opt


def run_torch(name, kwargs, params0, grad_seq):
    torch = pytest.importorskip("torch")
    cls = torch_class(name)
    params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    opt = cls(params, **kwargs)
    history = []
    for grads in grad_seq:
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history, [torch_state(opt, p) for p in params]


def torch_state(opt, p):
    """torch's state of p: 0-d tensors (step, mu_product) as floats, the rest as arrays."""
    return {k: (float(v) if k in SCALAR_KEYS else v.numpy().copy())
            for k, v in opt.state[p].items() if v is not None}


def assert_states_close(ours, theirs, dtype):
    assert len(ours) == len(theirs)
    for s, t in zip(ours, theirs, strict=True):
        assert set(s) == set(t), (set(s), set(t))
        for key in s:
            if key in SCALAR_KEYS:  # mu_product too: exactly torch's float32 value
                assert s[key] == t[key], (key, s[key], t[key])
            else:
                assert s[key].dtype == dtype
                np.testing.assert_allclose(s[key], t[key], **tol(dtype), err_msg=key)


# ------------------------------------------------------------------------- the update rules


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_matches_numpy_formulas(name, kwargs, dtype):
    params0, grads = problem(dtype)
    ours, our_states, _ = run_fastgd(name, kwargs, params0, grads)
    want, want_states = run_numpy(name, kwargs, params0, grads)
    for step, (a, b) in enumerate(zip(ours, want, strict=True)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert x.dtype == dtype
            np.testing.assert_allclose(x, y, **tol(dtype), err_msg=f"step {step}, param {i}")
    assert_states_close(our_states, want_states, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_matches_torch(name, kwargs, dtype):
    params0, grads = problem(dtype, seed=1)
    want, want_states = run_torch(name, kwargs, params0, grads)
    ours, our_states, _ = run_fastgd(name, kwargs, params0, grads)
    for step, (a, b) in enumerate(zip(ours, want, strict=True)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            np.testing.assert_allclose(x, y, **tol(dtype), err_msg=f"step {step}, param {i}")
    assert_states_close(our_states, want_states, dtype)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_plain_arrays_match_parameters_and_are_updated_in_place(name, kwargs):
    params0, grads = problem(np.float64, seed=2)
    via_grad, _, _ = run_fastgd(name, kwargs, params0, grads)
    via_arrays, _, opt = run_fastgd(name, kwargs, params0, grads, plain=True)
    for a, b in zip(via_grad, via_arrays, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    # The wrapped Parameters share memory with the caller's arrays (no copies).
    x = np.ones(3)
    opt = CLASSES[name]([x], **kwargs)
    assert opt.params[0].data is x
    before = x.copy()
    opt.step(grads=[np.full(3, 0.5)])
    assert not np.array_equal(x, before)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_update_runs_in_the_cpp_kernel(name, kwargs, monkeypatch):
    kernel = KERNEL[name]
    calls = []
    real = getattr(fastgd.ops, kernel)

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(fastgd.ops, kernel, spy)
    params0, grads = problem(np.float32, n_steps=2)
    run_fastgd(name, kwargs, params0, grads)
    assert len(calls) == 2 * len(SHAPES)
    if "step" in calls[0]:
        assert [c["step"] for c in calls] == [1] * len(SHAPES) + [2] * len(SHAPES)
    if name in ("adam", "adamw"):
        assert all(c["decoupled"] == (name == "adamw") for c in calls)


def test_param_groups_with_their_own_options_match_torch():
    torch = pytest.importorskip("torch")
    params0, grads = problem(np.float64, seed=3)
    arrays = [p.copy() for p in params0]
    opt = optim.SGD([{"params": arrays[:2]}, {"params": arrays[2:], "lr": 0.5, "nesterov": True}],
                    lr=0.1, momentum=0.9)
    tp = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.5, "nesterov": True}],
                           lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["lr"] == 0.1
    for gs in grads:
        opt.step(grads=gs)
        for p, g in zip(tp, gs, strict=True):
            p.grad = torch.from_numpy(g.copy())
        topt.step()
    for a, p in zip(arrays, tp, strict=True):
        np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_editing_group_lr_takes_effect_at_the_next_step():
    x = np.zeros(2)
    opt = optim.SGD([x], lr=1.0)
    opt.step(grads=[np.ones(2)])
    opt.param_groups[0]["lr"] = 0.25
    opt.step(grads=[np.ones(2)])
    np.testing.assert_array_equal(x, [-1.25, -1.25])


@pytest.mark.parametrize("name", NAMES)
def test_defaults_equal_torch(name):
    torch = pytest.importorskip("torch")
    ours = CLASSES[name]([np.zeros(2)]).defaults
    theirs = torch_class(name)([torch.nn.Parameter(torch.zeros(2))]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


def test_step_skips_parameters_without_gradient():
    a, b = np.zeros(2), np.zeros(2)
    opt = optim.Adam([a, b], lr=0.1)
    opt.step(grads=[np.ones(2), None])
    assert (a < 0).all() and (b == 0).all()
    assert opt.params[1] not in opt.state
    p = Parameter(np.zeros(2))
    p.grad = None
    optim.SGD([p], lr=0.1).step()
    assert (p.data == 0).all()


def test_zero_grad_zeroes_in_place():
    p = Parameter(np.ones(3, np.float32))
    p.grad[...] = 5
    g = p.grad
    optim.SGD([p], lr=0.1).zero_grad()
    assert p.grad is g and (g == 0).all()


def test_maximize_ascends():
    x = np.zeros(1)
    optim.SGD([x], lr=0.1, maximize=True).step(grads=[np.ones(1)])
    assert x[0] == pytest.approx(0.1)


def test_repr_is_readable():
    text = repr(optim.Adam([np.zeros((2, 3), np.float32)], lr=0.01))
    assert text.startswith("Adam (")
    assert "Parameter Group 0" in text and "lr: 0.01" in text and "betas: (0.9, 0.999)" in text
    assert "6 float32 values" in text


# ------------------------------------------------------------------------------ state_dict


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_state_dict_round_trip_continues_bit_identically(name, kwargs, dtype):
    params0, grads = problem(dtype, seed=4, n_steps=6)
    a = [p.copy() for p in params0]
    opt_a = CLASSES[name](a, **kwargs)
    for gs in grads[:3]:
        opt_a.step(grads=gs)
    sd = opt_a.state_dict()
    # A copy: neither further steps nor edits of the dict reach the other side.
    b = [p.copy() for p in a]
    opt_b = CLASSES[name](b, lr=123.0)  # different hyper-parameters: replaced by the loaded ones
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[0]["lr"] == kwargs["lr"]
    for entry in sd["state"].values():
        for key in ARRAY_KEYS:
            if key in entry:
                entry[key][...] = np.nan
    for gs in grads[3:]:
        opt_a.step(grads=gs)
        opt_b.step(grads=gs)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i, entry in sa["state"].items():
        assert set(entry) == set(sb["state"][i])
        for key, value in entry.items():
            np.testing.assert_array_equal(value, sb["state"][i][key])


def test_state_dict_layout_is_torch_like():
    x, y = np.zeros(3), np.zeros((2, 2))
    opt = optim.Adam([{"params": [x]}, {"params": [y], "lr": 0.1}], amsgrad=True)
    opt.step(grads=[np.ones(3), np.ones((2, 2))])
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.1
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][1]["step"] == 1
    assert sd["state"][1]["exp_avg"] is not opt.state[opt.params[1]]["exp_avg"]


def _trained_sgd():
    x, y = np.zeros(3), np.zeros((2, 2))
    opt = optim.SGD([x, y], lr=0.1, momentum=0.9)
    opt.step(grads=[np.ones(3), np.ones((2, 2))])
    return opt


def _with(sd, **changes):
    """A modified copy of a state_dict."""
    sd = copy.deepcopy(sd)
    for path, value in changes.items():
        if path == "groups":
            sd["param_groups"] = value(sd["param_groups"])
        elif path == "state":
            sd["state"] = value(sd["state"])
    return sd


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(groups=lambda g: g + g), "different number of parameter groups"),
        (dict(groups=lambda g: [{**g[0], "params": [0]}]),
         "has 1 parameters but the optimizer's has 2"),
        (dict(state=lambda s: {0: {"momentum_buffer": np.zeros(4)}, 1: s[1]}),
         r"state\[0\]\['momentum_buffer'\] has shape \(4,\) but parameter 0 has shape \(3,\)"),
        (dict(state=lambda s: {0: {"momentum_buffer": np.zeros(3, np.float32)}}),
         "has dtype float32 but parameter 0 has dtype float64"),
        (dict(state=lambda s: {0: {"momentum_buffer": [0.0, 0.0, 0.0]}}), "must be a NumPy array"),
        (dict(state=lambda s: {7: s[0]}), "unknown parameter index 7"),
        (dict(groups=lambda g: [{**g[0], "lr": -1.0}]), "Invalid learning rate: -1.0"),
    ],
)
def test_load_state_dict_rejects_mismatches_and_changes_nothing(change, message):
    opt = _trained_sgd()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(_with(before, **change))
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["momentum_buffer"],
                                  before["state"][0]["momentum_buffer"])


def test_load_state_dict_rejects_bad_step_and_non_dicts():
    opt = optim.Adam([np.zeros(2)])
    opt.step(grads=[np.ones(2)])
    sd = opt.state_dict()
    sd["state"][0]["step"] = -1
    with pytest.raises(ValueError, match="non-negative integer"):
        opt.load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_load_adam_state_into_adamw_is_refused():
    sd = optim.Adam([np.zeros(2)]).state_dict()
    with pytest.raises(ValueError, match="decoupled"):
        optim.AdamW([np.zeros(2)]).load_state_dict(sd)


# ------------------------------------------------------------------------------ validation

NESTEROV = "Nesterov momentum requires a momentum and zero dampening"
BAD_HYPER = [
    ("sgd", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("sgd", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("sgd", dict(lr=0.1, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("sgd", dict(lr=0.1, nesterov=True), NESTEROV),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), NESTEROV),
    ("adam", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("adam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("adam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("adamw", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("adamw", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("rmsprop", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("rmsprop", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("rmsprop", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    ("rmsprop", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("rmsprop", dict(alpha=-0.9), "Invalid alpha value: -0.9"),
    ("adagrad", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ("adagrad", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("adagrad", dict(initial_accumulator_value=-0.5),
     "Invalid initial_accumulator_value value: -0.5"),
    ("adagrad", dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
    ("nadam", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("nadam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("nadam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("nadam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("nadam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("nadam", dict(momentum_decay=-4e-3), "Invalid momentum_decay value: -0.004"),
    ("radam", dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    ("radam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("radam", dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
    ("radam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("radam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD_HYPER)
def test_invalid_hyper_parameters_raise_torchs_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CLASSES[name]([np.zeros(2)], **kwargs)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):  # also per group
        CLASSES[name]([{"params": [np.zeros(2)], **kwargs}])
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        torch_class(name)([torch.nn.Parameter(torch.zeros(2))], **kwargs)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ([np.zeros((4, 3))[:, ::2]], ValueError,
         r"parameter 0 \(shape \(4, 2\)\) must be C-contiguous"),
        ([np.zeros(2), np.zeros((3, 4)).T], ValueError, r"parameter 1 \(shape \(4, 3\)\)"),
        ([np.zeros(3, np.int64)], TypeError, "parameter 0 must be a float32 or float64 array"),
        ([[1.0, 2.0]], TypeError, "parameter 0 must be a fastgd.Parameter or a float NumPy array"),
        (np.zeros(3), TypeError, r"single ndarray; wrap it in a list"),
        ([], ValueError, "optimizer got an empty parameter list"),
        ({np.zeros(1).tobytes()}, TypeError, "ordered collections"),
    ],
)
def test_bad_parameters_are_rejected(params, error, message):
    with pytest.raises(error, match=message):
        optim.SGD(params, lr=0.1)


def test_read_only_and_duplicate_parameters_are_rejected():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"parameter 0 \(shape \(3,\)\) is read-only"):
        optim.Adam([x])
    y = np.zeros(3)
    with pytest.raises(ValueError, match="appears more than once"):
        optim.Adam([y, y])
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p], "lr": 0.1}])


def test_bad_grads_are_rejected():
    opt = optim.SGD([np.zeros(3), np.zeros((2, 2))], lr=0.1)
    with pytest.raises(ValueError, match="expected 2, got 1"):
        opt.step(grads=[np.zeros(3)])
    with pytest.raises(ValueError,
                       match=r"grads\[1\] has shape \(4,\) but parameter 1 has shape \(2, 2\)"):
        opt.step(grads=[np.zeros(3), np.zeros(4)])
    with pytest.raises(TypeError,
                       match=r"grads\[0\] has dtype float32 but parameter 0 has dtype float64"):
        opt.step(grads=[np.zeros(3, np.float32), np.zeros((2, 2))])
    with pytest.raises(TypeError, match="list of arrays"):
        opt.step(grads=np.zeros(3))


# ---------------------------------------------------------------------------- get_optimizer


def test_get_optimizer_by_name_class_and_instance():
    x = np.zeros(2)
    assert type(optim.get_optimizer("SGD", [x], lr=0.1)) is optim.SGD
    y = np.zeros(2)
    opt = optim.get_optimizer("AdamW", [y], lr=0.1)
    assert type(opt) is optim.AdamW and opt.defaults["weight_decay"] == 1e-2
    assert type(optim.get_optimizer(optim.Adam, [np.zeros(2)], lr=0.1)) is optim.Adam
    assert optim.get_optimizer(opt) is opt
    with pytest.raises(ValueError, match="already constructed AdamW"):
        optim.get_optimizer(opt, lr=0.5)
    with pytest.raises(ValueError,
                       match="unknown optimizer 'lion'; valid names are 'sgd', 'adam', 'adamw', "
                             "'rmsprop', 'adagrad', 'nadam', 'radam'"):
        optim.get_optimizer("lion", [np.zeros(2)])
    for name in ("RMSprop", "adagrad", "NAdam", "radam"):
        assert type(optim.get_optimizer(name, [np.zeros(2)])) is CLASSES[name.lower()]
    with pytest.raises(TypeError, match="optimizer must be a name"):
        optim.get_optimizer(42, [np.zeros(2)])


# ------------------------------------------------------------------------------ clipping


def numpy_clip(grads, max_norm, norm_type):
    """torch.nn.utils.clip_grad_norm_ written out: returns (total, clipped grads)."""
    if np.isinf(norm_type):
        total = max(np.abs(g).max() for g in grads)
    else:
        powers = sum(np.sum(np.abs(g.astype(np.float64)) ** norm_type) for g in grads)
        total = powers ** (1 / norm_type)
    coef = min(max_norm / (total + 1e-6), 1.0)
    return total, [g * coef for g in grads]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_numpy_and_torch(dtype, norm_type, max_norm):
    _, grads = problem(dtype, seed=5, n_steps=1)
    grads = grads[0]
    params = [Parameter(g.copy() * 0, grad=g.copy()) for g in grads]
    total = optim.clip_grad_norm(params, max_norm, norm_type)
    assert isinstance(total, float)
    p = float(norm_type)
    want_total, want = numpy_clip(grads, max_norm, p)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total == pytest.approx(want_total, rel=rtol)
    for prm, w in zip(params, want, strict=True):
        assert prm.grad.dtype == dtype
        np.testing.assert_allclose(prm.grad, w, rtol=rtol, atol=rtol * 1e-3)
    if max_norm < want_total:  # clipped: the new global norm is max_norm
        assert numpy_clip([q.grad for q in params], 1e9, p)[0] == pytest.approx(max_norm, rel=1e-4)
    torch = pytest.importorskip("torch")
    tp = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)) for g in grads]
    for t, g in zip(tp, grads, strict=True):
        t.grad = torch.from_numpy(g.copy())
    t_total = float(torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=p))
    assert total == pytest.approx(t_total, rel=rtol)
    for prm, t in zip(params, tp, strict=True):
        np.testing.assert_allclose(prm.grad, t.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)


def test_clip_grad_norm_on_plain_gradient_arrays_and_edge_cases():
    g = np.array([3.0, 4.0])
    assert optim.clip_grad_norm([g], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)
    g = np.array([3.0, 4.0])
    assert optim.clip_grad_norm(g, 10.0) == pytest.approx(5.0)  # a single array; no clip
    np.testing.assert_array_equal(g, [3.0, 4.0])
    assert optim.clip_grad_norm([], 1.0) == 0.0
    with pytest.raises(ValueError, match="norm_type must be positive"):
        optim.clip_grad_norm([g], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        optim.clip_grad_norm([g], -1.0)
    with pytest.raises(TypeError, match=r"params\[0\] must be"):
        optim.clip_grad_norm([[1.0, 2.0]], 1.0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("name", "kwargs"), [
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("nadam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"lr": 0.01, "betas": (0.9, 0.9)}),
])
def test_large_buffers_split_over_threads_match_numpy_formulas(name, kwargs, threads):
    """Buffers above the threading grain (2**17 elements) are updated in chunks over fastgd's
    threads; odd sizes put a chunk boundary mid-vector. Same result as the formulas, any split."""
    old = fastgd.get_num_threads()
    fastgd.set_num_threads(threads)
    try:
        rng = np.random.default_rng(5)
        params0 = [rng.standard_normal(300_001).astype(np.float32), rng.standard_normal((513, 517))]
        steps = 7 if name == "radam" else 3  # RAdam rectifies from step 6 on
        grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params0] for _ in range(steps)]
        ours, _, _ = run_fastgd(name, kwargs, params0, grads)
        want, _ = run_numpy(name, kwargs, params0, grads)
        for a, b in zip(ours[-1], want[-1], strict=True):
            np.testing.assert_allclose(a, b, **tol(a.dtype))
    finally:
        fastgd.set_num_threads(old)


# ------------------------------------------------------------- a small net, 25 steps, vs torch


def small_net(dtype, seed=0):
    """A fastgd net Linear(4, 6)-Tanh-Linear(6, 3) and torch's twin with the same weights."""
    torch = pytest.importorskip("torch")
    net = fastgd.Net([fastgd.Linear(4, 6), fastgd.Tanh(), fastgd.Linear(6, 3)], dtype=dtype, seed=seed)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    tnet = tnet.to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        for layer, tl in zip(net.layers[::2], tnet[::2], strict=True):
            tl.weight.copy_(torch.from_numpy(layer.W.data.T.copy()))
            tl.bias.copy_(torch.from_numpy(layer.b.data.copy()))
    return net, tnet


def torch_params(tnet):
    """torch's parameters in fastgd's order and layout: W (in, out), b."""
    return [t.detach().numpy().T if t.ndim == 2 else t.detach().numpy() for t in tnet.parameters()]


def fused_tol(dtype):
    """The fused engine vs the layer-by-layer path: the same kernels, sums maybe in another order."""
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)


def net_tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)


# Every case of the table but those ascending the loss (maximize), which drives the net's
# weights apart chaotically: those are checked on fixed gradient sequences above.
NET_CASES = [(i, n, kw) for i, (n, kw) in zip(IDS, CASES, strict=True) if not kw.get("maximize")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in NET_CASES], ids=[c[0] for c in NET_CASES])
def test_small_net_25_steps_match_torch(name, kwargs, dtype):
    """Each framework computes its own gradients (MSE of a small tanh net) and steps its own
    optimizer, fastgd both layer by layer and fused (Trainer.step as one C++ call): the weights
    agree after every one of 25 steps, and so does the final state."""
    torch = pytest.importorskip("torch")
    net, tnet = small_net(dtype)
    fnet, _ = small_net(dtype)
    opt = CLASSES[name](net.parameters(), **kwargs)
    fopt = CLASSES[name](fnet.parameters(), **kwargs)
    trainer = fastgd.Trainer(fnet, loss="mse", optimizer=fopt)
    topt = torch_class(name)(tnet.parameters(), **kwargs)
    rng = np.random.default_rng(7)
    for step in range(25):
        X = rng.standard_normal((8, 4)).astype(dtype)
        y = rng.standard_normal((8, 3)).astype(dtype)
        net.zero_grad()
        _, dout = fastgd.ops.mse(net.forward(X), y)
        net.backward(dout)
        opt.step()
        trainer.step(X, y)
        topt.zero_grad()
        torch.nn.functional.mse_loss(tnet(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
        for p, q, t in zip(net.parameters(), fnet.parameters(), torch_params(tnet), strict=True):
            np.testing.assert_allclose(p.data, t, **net_tol(dtype), err_msg=f"step {step}")
            np.testing.assert_allclose(q.data, p.data, **fused_tol(dtype), err_msg=f"fused, step {step}")
    assert trainer._fused, "the Trainer's step was not fused"
    fused_state = fopt.state_dict()["state"]
    for i, p in enumerate(net.parameters()):
        assert set(fused_state.get(i, {})) == set(opt.state.get(p, {}))
        for key, value in fused_state.get(i, {}).items():
            if key in SCALAR_KEYS:
                assert value == opt.state[p][key], key
            else:
                np.testing.assert_allclose(value, opt.state[p][key], **fused_tol(dtype), err_msg=key)
    for p, t in zip(net.parameters(), tnet.parameters(), strict=True):
        ours, theirs = opt.state.get(p, {}), torch_state(topt, t)
        assert set(ours) == set(theirs)
        for key, value in theirs.items():
            if key in SCALAR_KEYS:
                assert ours[key] == value, key
            else:
                mine = ours[key].T if ours[key].ndim == 2 else ours[key]
                assert ours[key].dtype == dtype
                np.testing.assert_allclose(mine, value, **net_tol(dtype), err_msg=key)


def test_nadam_mu_product_is_torchs_float32_product():
    """torch keeps mu_product in a float32 tensor whatever the parameters' dtype: after 25 steps
    fastgd's value is exactly torch's, and differs from the product taken in double."""
    torch = pytest.importorskip("torch")
    x = np.zeros(3)
    opt = optim.NAdam([x], lr=1e-2, momentum_decay=0.01)
    t = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    topt = torch.optim.NAdam([t], lr=1e-2, momentum_decay=0.01)
    exact = 1.0
    for step in range(1, 26):
        opt.step(grads=[np.full(3, 0.5)])
        t.grad = torch.full((3,), 0.5, dtype=torch.float64)
        topt.step()
        exact *= 0.9 * (1 - 0.5 * 0.96 ** (step * 0.01))
        assert opt.state[opt.params[0]]["mu_product"] == topt.state[t]["mu_product"].item()
    assert opt.state[opt.params[0]]["mu_product"] != exact
    assert opt.state[opt.params[0]]["mu_product"] == pytest.approx(exact, rel=1e-6)


def test_radam_is_momentum_sgd_until_the_variance_is_tractable():
    """While rho_t <= 5 (steps 1-5 for beta2 = 0.999) RAdam steps by lr·m/(1-β1^t): with a
    constant gradient g that is exactly lr·g per step; from step 6 on the step is rectified."""
    g = 0.25
    x = np.zeros(1)
    opt = optim.RAdam([x], lr=0.1)
    for step in range(1, 6):
        opt.step(grads=[np.full(1, g)])
        assert x[0] == pytest.approx(-0.1 * g * step, rel=1e-14)
    rho_inf = 2 / (1 - 0.999) - 1
    rho_6 = rho_inf - 2 * 6 * 0.999**6 / (1 - 0.999**6)
    assert rho_6 > 5
    rect = np.sqrt((rho_6 - 4) * (rho_6 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_6))
    before = x[0]
    opt.step(grads=[np.full(1, g)])
    # m/(1-β1^t) = g and v/(1-β2^t) = g² for a constant gradient: the step is lr·rect·g/(g + ε')
    eps_hat = 1e-8 / np.sqrt(1 - 0.999**6)
    assert before - x[0] == pytest.approx(0.1 * rect * g / (g + eps_hat), rel=1e-12)


@pytest.mark.parametrize("name", ["rmsprop", "adagrad", "nadam", "radam"])
def test_param_groups_with_their_own_hyper_parameters_match_torch(name):
    """Per-group lr, weight_decay, momentum/betas/... on the layer-by-layer path, and an lr
    edited between steps, as torch."""
    torch = pytest.importorskip("torch")
    extra = {"rmsprop": {"momentum": 0.5, "centered": True, "alpha": 0.9},
             "adagrad": {"lr_decay": 0.1},
             "nadam": {"betas": (0.8, 0.9), "momentum_decay": 0.01},
             "radam": {"betas": (0.8, 0.9), "decoupled_weight_decay": True}}[name]
    params0, grads = problem(np.float64, seed=8, n_steps=8)
    arrays = [p.copy() for p in params0]
    tp = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]

    def groups(ps):
        return [{"params": ps[:2], "weight_decay": 0.1}, {"params": ps[2:], "lr": 0.05, **extra}]

    opt = CLASSES[name](groups(arrays), lr=0.01)
    topt = torch_class(name)(groups(tp), lr=0.01)
    for i, gs in enumerate(grads):
        if i == 4:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.02
        opt.step(grads=gs)
        for p, g in zip(tp, gs, strict=True):
            p.grad = torch.from_numpy(g.copy())
        topt.step()
        for a, p in zip(arrays, tp, strict=True):
            np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-11, atol=1e-13)


def test_adagrad_state_exists_from_construction_as_in_torch():
    torch = pytest.importorskip("torch")
    opt = optim.Adagrad([np.zeros(3)], initial_accumulator_value=0.25)
    theirs = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))],
                                 initial_accumulator_value=0.25).state_dict()
    sd = opt.state_dict()
    assert set(sd["state"][0]) == set(theirs["state"][0]) == {"step", "sum"}
    assert sd["state"][0]["step"] == float(theirs["state"][0]["step"]) == 0
    np.testing.assert_array_equal(sd["state"][0]["sum"], theirs["state"][0]["sum"].numpy())
    assert set(sd["param_groups"][0]) - {"params"} <= set(theirs["param_groups"][0])


def test_nadam_state_dict_checks_mu_product():
    opt = optim.NAdam([np.zeros(2)])
    opt.step(grads=[np.ones(2)])
    sd = opt.state_dict()
    assert isinstance(sd["state"][0]["mu_product"], float)
    sd["state"][0]["mu_product"] = "x"
    with pytest.raises(ValueError, match=r"state\[0\]\['mu_product'\] must be a number"):
        opt.load_state_dict(sd)


# ---------------------------------------------------------------------------- param_groups


class ToyNorm(Layer):
    """A stand-in normalisation layer: its class name contains "Norm"."""

    def __init__(self, n, dtype=np.float64):
        super().__init__()
        self.weight = Parameter(np.ones(n, dtype), name="weight")
        self.shift = Parameter(np.zeros(n, dtype), name="shift")

    def parameters(self):
        return [self.weight, self.shift]

    def forward(self, X):
        return X * self.weight.data + self.shift.data

    def backward(self, dout, *, need_dx=True):
        return dout * self.weight.data


def test_param_groups_leave_biases_and_norms_undecayed():
    inner = fastgd.Net([fastgd.Linear(3, 3), ToyNorm(3)], dtype="float64")
    net = fastgd.Net([fastgd.Linear(4, 3), fastgd.ReLU(), inner, fastgd.Linear(3, 2, bias=False)],
                     dtype="float64")
    names = dict((id(p), n) for n, p in net.named_parameters())
    groups = optim.param_groups(net, weight_decay=0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    assert [names[id(p)] for p in groups[0]["params"]] == ["0.W", "2.0.W", "3.W"]
    assert [names[id(p)] for p in groups[1]["params"]] == ["0.b", "2.0.b", "2.1.weight", "2.1.shift"]
    # only biases excluded; a name matched by its last part; nothing excluded: one group
    only_bias = optim.param_groups(net, 0.05, no_decay=("bias",))
    assert [names[id(p)] for p in only_bias[1]["params"]] == ["0.b", "2.0.b"]
    by_name = optim.param_groups(net, 0.05, no_decay=("shift",))
    assert [names[id(p)] for p in by_name[1]["params"]] == ["2.1.shift"]
    assert len(optim.param_groups(net, 0.05, no_decay=())) == 1
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        optim.param_groups(net, weight_decay=-1)


def test_param_groups_train_like_torch_with_the_same_groups():
    torch = pytest.importorskip("torch")
    net, tnet = small_net(np.float64, seed=3)
    opt = optim.AdamW(optim.param_groups(net, weight_decay=0.1), lr=0.01)
    tw = [p for n, p in tnet.named_parameters() if n.endswith("weight")]
    tb = [p for n, p in tnet.named_parameters() if n.endswith("bias")]
    topt = torch.optim.AdamW([{"params": tw, "weight_decay": 0.1},
                              {"params": tb, "weight_decay": 0.0}], lr=0.01)
    rng = np.random.default_rng(9)
    for _ in range(10):
        X, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
        net.zero_grad()
        net.backward(fastgd.ops.mse(net.forward(X), y)[1])
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tnet(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
    for p, t in zip(net.parameters(), torch_params(tnet), strict=True):
        np.testing.assert_allclose(p.data, t, **net_tol(np.float64))


# --------------------------------------------------------------- parameter groups, fused


GROUP_HYPER = {  # (common, second group's own, an option edited in the first group mid-run)
    "sgd": ({"lr": 0.05, "momentum": 0.9}, {"lr": 0.02, "nesterov": True}, ("momentum", 0.5)),
    "adam": ({"lr": 0.01}, {"lr": 0.005, "betas": (0.8, 0.99), "amsgrad": True}, ("betas", (0.5, 0.9))),
    "adamw": ({"lr": 0.01}, {"lr": 0.02, "eps": 1e-6}, ("weight_decay", 0.3)),
    "rmsprop": ({"lr": 0.01, "momentum": 0.5}, {"lr": 0.005, "centered": True, "alpha": 0.9},
                ("alpha", 0.8)),
    "adagrad": ({"lr": 0.1}, {"lr": 0.05, "lr_decay": 0.1}, ("eps", 1e-3)),
    "nadam": ({"lr": 0.01}, {"lr": 0.02, "betas": (0.8, 0.9), "momentum_decay": 0.01},
              ("momentum_decay", 0.02)),
    "radam": ({"lr": 0.01}, {"lr": 0.02, "betas": (0.8, 0.9), "decoupled_weight_decay": True},
              ("betas", (0.7, 0.95))),
}


@pytest.mark.parametrize("layout", ["param_groups", "per_layer"])
@pytest.mark.parametrize("name", NAMES)
def test_parameter_groups_run_fused_and_equal_layer_by_layer_and_torch(name, layout):
    """Two groups with their own hyper-parameters, in the fused step: param_groups(net) (weights
    vs biases, interleaved in the net's order) and one group per layer. An lr and another option
    edited between steps reach the next fused step without rebuilding the engine."""
    torch = pytest.importorskip("torch")
    common, own, (edit_key, edit_value) = GROUP_HYPER[name]
    rng = np.random.default_rng(11)
    nets = [small_net(np.float64, seed=5)[0] for _ in range(2)]
    _, tnet = small_net(np.float64, seed=5)
    tparams = list(tnet.parameters())

    def groups(ps):
        if layout == "param_groups":
            first, second = [ps[0], ps[2]], [ps[1], ps[3]]
        else:
            first, second = ps[:2], ps[2:]
        return [{"params": first, "weight_decay": 0.1}, {"params": second, "weight_decay": 0.0, **own}]

    trainers = []
    for net, fused in zip(nets, (True, False), strict=True):
        ps = optim.param_groups(net, weight_decay=0.1) if layout == "param_groups" else None
        gs = groups(net.parameters())
        if ps is not None:  # param_groups gives the weights/biases split of groups()
            assert [[id(p) for p in g["params"]] for g in ps] == [[id(p) for p in g["params"]] for g in gs]
        trainers.append(fastgd.Trainer(net, loss="mse", optimizer=CLASSES[name](gs, **common), fused=fused))
    topt = torch_class(name)(groups(tparams), **common)
    engine = None
    for step in range(12):
        if step == 4:
            for group in [t.optimizer.param_groups[1] for t in trainers] + [topt.param_groups[1]]:
                group["lr"] *= 0.5  # a schedule
        if step == 7:
            for group in [t.optimizer.param_groups[0] for t in trainers] + [topt.param_groups[0]]:
                group[edit_key] = edit_value
        X, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
        losses = [t.step(X, y) for t in trainers]
        topt.zero_grad()
        torch.nn.functional.mse_loss(tnet(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
        assert losses[0] == pytest.approx(losses[1], rel=1e-11)
        fused_step = trainers[0]._fused
        assert fused_step and fused_step.engine.num_groups == 2
        engine = engine or fused_step.engine
        assert fused_step.engine is engine  # never rebuilt
        for p, q, t in zip(*(n.parameters() for n in nets), torch_params(tnet), strict=True):
            np.testing.assert_allclose(p.data, q.data, **fused_tol(np.float64), err_msg=f"step {step}")
            np.testing.assert_allclose(q.data, t, **net_tol(np.float64), err_msg=f"step {step}")
    sd = [t.optimizer.state_dict() for t in trainers]
    assert sd[0]["param_groups"] == sd[1]["param_groups"]
    for i, entry in sd[1]["state"].items():
        assert set(entry) == set(sd[0]["state"][i])
        for key, value in entry.items():
            np.testing.assert_allclose(sd[0]["state"][i][key], value, **fused_tol(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "kwargs"), [c[1:] for c in NET_CASES], ids=[c[0] for c in NET_CASES])
def test_fused_state_dict_round_trip_resumes_bit_identically(name, kwargs, dtype):
    """A fused Trainer's optimizer state (flat buffers, the step and NAdam's mu_product kept by
    the engine) saved mid-run and loaded into a fresh fused Trainer continues bit-identically."""
    rng = np.random.default_rng(12)
    batches = [(rng.standard_normal((8, 4)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype))
               for _ in range(8)]
    net = fastgd.Net([fastgd.Linear(4, 6), fastgd.Tanh(), fastgd.Linear(6, 3)], dtype=dtype, seed=1)
    trainer = fastgd.Trainer(net, loss="mse", optimizer=CLASSES[name](net.parameters(), **kwargs))
    for X, y in batches[:4]:
        trainer.step(X, y)
    sd = trainer.optimizer.state_dict()
    if name == "sgd":  # torch's SGD keeps a momentum_buffer only (none without momentum)
        assert all(set(entry) == {"momentum_buffer"} for entry in sd["state"].values())
        assert bool(sd["state"]) == bool(kwargs.get("momentum"))
    else:
        assert sd["state"] and all(entry["step"] == 4 for entry in sd["state"].values())
    net2 = net.copy()
    trainer2 = fastgd.Trainer(net2, loss="mse", optimizer=CLASSES[name](net2.parameters(), lr=1.0))
    trainer2.optimizer.load_state_dict(sd)
    for X, y in batches[4:]:
        assert trainer.step(X, y) == trainer2.step(X, y)
    assert trainer._fused and trainer2._fused
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda e, c: e.set_update("lion", {"lr": 0.1}, {}, {}, c), ValueError, "unknown optimizer 'lion'"),
    (lambda e, c: e.set_update("radam", {"lr": 0.1}, {}, {}, c), ValueError, "needs hyper-parameter 'beta1'"),
    (lambda e, c: e.set_update("adagrad", {"lr": 0.1, "lr_decay": 0, "weight_decay": 0, "eps": 1e-10}, {}, {}, c),
     ValueError, "adagrad needs a sum state array"),
    (lambda e, c: e.set_update("adagrad", {"lr": 0.1, "lr_decay": 0, "weight_decay": 0, "eps": 1e-10},
                               {"sum": np.zeros(3)}, {}, c), ValueError, r"sum must have shape \(23,\)"),
    (lambda e, c: e.set_update("adagrad", {"lr": "x"}, {}, {}, c), TypeError, "hyper-parameter 'lr' must be a number"),
    (lambda e, c: e.set_update("nadam", {"lr": 0.1, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0,
                                         "momentum_decay": 4e-3, "decoupled": 0},
                               {"exp_avg": np.zeros(23), "exp_avg_sq": np.zeros(23)}, {"mu_product": 1.0}, c),
     TypeError, "scalar 'mu_product' must be a float64 array of shape"),
    (lambda e, c: e.set_update("nadam", {"lr": 0.1, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0,
                                         "momentum_decay": 4e-3, "decoupled": 0},
                               {"exp_avg": np.zeros(23), "exp_avg_sq": np.zeros(23)}, {}, c),
     ValueError, "nadam needs a mu_product scalar"),
])
def test_engine_set_update_refuses_bad_units(call, error, message):
    """Engine.set_update (the generic binding of the update registry) names what is wrong."""
    e = fastgd._core.Engine("float64", [("linear", 4, 3, 0, 12), ("tanh",), ("linear", 3, 2, 15, 21)], "mse", 4)
    e.bind(np.zeros(23), np.zeros(23))
    with pytest.raises(error, match=message):
        call(e, np.zeros((), np.int64))


@pytest.mark.parametrize("name", ["rmsprop", "adagrad", "nadam", "radam"])
def test_names_work_in_fit_trainer_and_minimize(name):
    """The registry names reach Net.fit, Trainer and minimize, and each descends."""
    res = fastgd.minimize(lambda x: float((x**2).sum()), np.ones(3), grad=lambda x: 2 * x,
                          optimizer=name, steps=300, lr=0.1)
    assert res.fun < 1e-2 * 3
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = X @ rng.standard_normal((4, 1)).astype(np.float32)
    net = fastgd.Net([fastgd.Linear(4, 1)], dtype="float32", seed=0)
    history = net.fit(X, y, loss="mse", optimizer=name, epochs=15, batch_size=16, lr=0.05)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    trainer = fastgd.Trainer(net, loss="mse", optimizer=name, lr=0.01)
    assert type(trainer.optimizer) is CLASSES[name]


@pytest.mark.parametrize("name", ["rmsprop", "adagrad", "nadam", "radam"])
def test_checkpoint_keeps_the_new_optimizers_state(name, tmp_path):
    """net.save(optimizer=) / Net.load(with_optimizer=True): the state (arrays, step, NAdam's
    mu_product) comes back and training continues bit-identically."""
    kwargs = dict(CASES[[n for n, _ in CASES].index(name)][1])
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    net = fastgd.Net([fastgd.Linear(4, 3), fastgd.Tanh(), fastgd.Linear(3, 2)], dtype="float64", seed=0)
    opt = CLASSES[name](net.parameters(), **kwargs)
    trainer = fastgd.Trainer(net, loss="mse", optimizer=opt)
    for _ in range(3):
        trainer.step(X, y)
    net.save(tmp_path / "ckpt.npz", optimizer=opt)
    net2, opt2 = fastgd.Net.load(tmp_path / "ckpt.npz", with_optimizer=True)
    assert type(opt2) is CLASSES[name]
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    trainer2 = fastgd.Trainer(net2, loss="mse", optimizer=opt2)
    for _ in range(3):
        assert trainer.step(X, y) == trainer2.step(X, y)
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
