"""fastgd.optim: SGD/Adam/AdamW against hand-written NumPy versions of torch's formulas and
against torch itself, from one table of (name, kwargs); state_dict, validation, clipping."""

from __future__ import annotations

import copy
import re

import fastgd
import numpy as np
import pytest
from fastgd import Parameter, optim

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
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]
CLASSES = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}
DTYPES = [np.float32, np.float64]
SHAPES = [(4, 3), (3,), (2, 2, 2)]
N_STEPS = 6
ARRAY_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


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


def run_numpy(name, kwargs, params0, grad_seq):
    params = [p.copy() for p in params0]
    states = [{} for _ in params]
    history = []
    for grads in grad_seq:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if name == "sgd":
                params[i] = numpy_sgd(p, g, states[i], **kwargs)
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
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    opt = cls(params, **kwargs)
    history = []
    for grads in grad_seq:
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    states = [
        {k: (float(v) if k == "step" else v.numpy().copy()) for k, v in opt.state[p].items()
         if v is not None}
        for p in params
    ]
    return history, states


def assert_states_close(ours, theirs, dtype):
    assert len(ours) == len(theirs)
    for s, t in zip(ours, theirs, strict=True):
        assert set(s) == set(t), (set(s), set(t))
        for key in s:
            if key == "step":
                assert s[key] == t[key]
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
    kernel = "sgd_step" if name == "sgd" else "adam_step"
    calls = []
    real = getattr(fastgd.ops, kernel)

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(fastgd.ops, kernel, spy)
    params0, grads = problem(np.float32, n_steps=2)
    run_fastgd(name, kwargs, params0, grads)
    assert len(calls) == 2 * len(SHAPES)
    if name != "sgd":
        assert [c["step"] for c in calls] == [1] * len(SHAPES) + [2] * len(SHAPES)
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


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_defaults_equal_torch(name):
    torch = pytest.importorskip("torch")
    ours = CLASSES[name]([np.zeros(2)]).defaults
    theirs = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name](
        [torch.nn.Parameter(torch.zeros(2))]).defaults
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
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD_HYPER)
def test_invalid_hyper_parameters_raise_torchs_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CLASSES[name]([np.zeros(2)], **kwargs)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):  # also per group
        CLASSES[name]([{"params": [np.zeros(2)], **kwargs}])
    torch = pytest.importorskip("torch")
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)


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
                       match="unknown optimizer 'rmsprop'; valid names are 'sgd', 'adam', 'adamw'"):
        optim.get_optimizer("rmsprop", [np.zeros(2)])
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
@pytest.mark.parametrize(("name", "kwargs"), [("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                                       "weight_decay": 0.01}),
                                              ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True})])
def test_large_buffers_split_over_threads_match_numpy_formulas(name, kwargs, threads):
    """Buffers above the threading grain (2**17 elements) are updated in chunks over fastgd's
    threads; odd sizes put a chunk boundary mid-vector. Same result as the formulas, any split."""
    old = fastgd.get_num_threads()
    fastgd.set_num_threads(threads)
    try:
        rng = np.random.default_rng(5)
        params0 = [rng.standard_normal(300_001).astype(np.float32), rng.standard_normal((513, 517))]
        grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params0] for _ in range(3)]
        ours, _, _ = run_fastgd(name, kwargs, params0, grads)
        want, _ = run_numpy(name, kwargs, params0, grads)
        for a, b in zip(ours[-1], want[-1], strict=True):
            np.testing.assert_allclose(a, b, **tol(a.dtype))
    finally:
        fastgd.set_num_threads(old)
