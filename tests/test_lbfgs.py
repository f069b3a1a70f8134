"""fastgd.optim.LBFGS against torch.optim.LBFGS, evaluation by evaluation, on Rosenbrock and on
a small net trained full-batch; its state, errors and the non-finite-closure stop."""

from __future__ import annotations

import fastgd as fg
import numpy as np
import pytest
from fastgd import optim
from fastgd.errors import DivergenceError
from fastgd.optim.lbfgs import _cubic_interpolate


def rosen(x):
    """The n-dimensional Rosenbrock function and its gradient (float64 or float32)."""
    a, b = x[:-1], x[1:]
    f = np.sum(100.0 * (b - a**2) ** 2 + (1 - a) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * (b - a**2) - 2 * (1 - a)
    g[1:] += 200.0 * (b - a**2)
    return float(f), g


def rosen_torch(torch, x):
    a, b = x[:-1], x[1:]
    return torch.sum(100.0 * (b - a**2) ** 2 + (1 - a) ** 2)


X0 = np.array([-1.2, 1.0, -0.5, 0.8])

# (hyper-parameters, steps): with the line search from torch's default lr; without it a
# fixed step that does not diverge on Rosenbrock; small histories exercise the shift.
CASES = [
    ({"line_search_fn": "strong_wolfe"}, 4),
    ({"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 7}, 6),
    ({"line_search_fn": "strong_wolfe", "max_iter": 50, "max_eval": 60,
      "tolerance_change": 1e-12}, 3),
    ({"lr": 0.05}, 5),
    ({"lr": 0.02, "history_size": 2, "max_iter": 4}, 6),
]


def _torch_run(torch, x0, hyper, steps, fun):
    xt = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = torch.optim.LBFGS([xt], **hyper)
    evaluated = []

    def closure():
        opt.zero_grad()
        loss = fun(xt)
        loss.backward()
        evaluated.append(xt.detach().numpy().copy())
        return loss.detach()

    losses = [float(opt.step(closure)) for _ in range(steps)]
    return evaluated, losses, opt.state[xt], xt.detach().numpy()


@pytest.mark.parametrize(("hyper", "steps"), CASES, ids=[str(sorted(h.items())) for h, _ in CASES])
def test_rosenbrock_equals_torch_evaluation_by_evaluation(hyper, steps):
    torch = pytest.importorskip("torch")
    want_points, want_losses, tstate, tx = _torch_run(torch, X0, hyper, steps,
                                                      lambda x: rosen_torch(torch, x))
    x = X0.copy()
    opt = optim.LBFGS([x], **hyper)
    points = []

    def closure():
        f, g = rosen(x)
        opt.params[0].grad[...] = g
        points.append(x.copy())
        return f

    losses = [opt.step(closure) for _ in range(steps)]
    # Every point the closure was asked about (line-search trials included), in order.
    assert len(points) == len(want_points)
    np.testing.assert_allclose(np.array(points), np.array(want_points), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(x, tx, rtol=1e-9, atol=1e-12)
    state = opt.state[opt.params[0]]
    assert state["func_evals"] == tstate["func_evals"]
    assert state["n_iter"] == tstate["n_iter"]
    assert len(state["old_dirs"]) == len(tstate["old_dirs"]) <= opt.param_groups[0]["history_size"]
    for key in ("t", "H_diag", "prev_loss"):
        assert state[key] == pytest.approx(float(tstate[key]), rel=1e-7), key
    for key in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(state[key], tstate[key].numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.array(state["old_stps"]),
                               np.array([s.numpy() for s in tstate["old_stps"]]),
                               rtol=1e-7, atol=1e-9)  # s = t·d: small differences of points
    np.testing.assert_allclose(state["ro"], [float(r) for r in tstate["ro"]], rtol=1e-5)


def test_strong_wolfe_reaches_the_rosenbrock_minimum():
    x = X0.copy()
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100)

    def closure():
        f, g = rosen(x)
        opt.params[0].grad[...] = g
        return f

    opt.step(closure)
    np.testing.assert_allclose(x, np.ones(4), atol=1e-6)
    assert "tolerance" in opt._stop_reason


def test_float32_parameters_stay_float32_and_converge():
    x = X0.astype(np.float32)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100, tolerance_grad=1e-4)

    def closure():
        f, g = rosen(x)
        assert g.dtype == np.float32
        opt.params[0].grad[...] = g
        return f

    for _ in range(3):
        opt.step(closure)
    assert x.dtype == np.float32
    state = opt.state[opt.params[0]]
    assert state["d"].dtype == state["prev_flat_grad"].dtype == np.float32
    np.testing.assert_allclose(x, np.ones(4), atol=2e-3)


def _net_and_torch_twin(torch, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 5))
    y = rng.integers(0, 3, size=40)
    net = fg.Net([fg.Linear(5, 8), fg.Tanh(), fg.Linear(8, 3)], dtype="float64", seed=seed)
    tparams = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in net.parameters()]

    def torch_loss():
        W1, b1, W2, b2 = tparams
        Z = torch.tanh(torch.from_numpy(X) @ W1 + b1) @ W2 + b2
        return torch.nn.functional.cross_entropy(Z, torch.from_numpy(y))

    return net, X, y, tparams, torch_loss


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_small_net_full_batch_equals_torch_step_by_step(line_search_fn):
    torch = pytest.importorskip("torch")
    net, X, y, tparams, torch_loss = _net_and_torch_twin(torch)
    hyper = {"lr": 1 if line_search_fn else 0.5, "max_iter": 5, "history_size": 10,
             "line_search_fn": line_search_fn}
    topt = torch.optim.LBFGS(tparams, **hyper)
    opt = optim.LBFGS(net.parameters(), **hyper)
    loss_fn = fg.losses.get_loss("cross_entropy")

    def closure():
        net.zero_grad()
        value, dout = loss_fn(net.forward(X), y)
        net.backward(dout, need_dx=False)
        return value

    def tclosure():
        topt.zero_grad()
        loss = torch_loss()
        loss.backward()
        return loss.detach()

    for _ in range(6):
        loss, tloss = opt.step(closure), float(topt.step(tclosure))
        assert loss == pytest.approx(tloss, rel=1e-10)
        for p, tp in zip(net.parameters(), tparams, strict=True):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-8, atol=1e-10)
    assert opt.state[net.parameters()[0]]["func_evals"] == topt.state[tparams[0]]["func_evals"]
    assert closure() < 0.5 * np.log(3)  # it trained


def test_state_dict_round_trip_continues_identically():
    def make(x):
        opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=3, history_size=4)

        def closure():
            f, g = rosen(x)
            opt.params[0].grad[...] = g
            return f

        return opt, closure

    x = X0.copy()
    opt, closure = make(x)
    for _ in range(3):
        opt.step(closure)
    sd = opt.state_dict()
    assert {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
            "prev_flat_grad", "prev_loss"} <= set(sd["state"][0])
    x2 = x.copy()
    opt2, closure2 = make(x2)
    opt2.load_state_dict(sd)
    sd["state"][0]["old_dirs"][0][:] = 123.0  # the load copied the arrays
    for _ in range(3):
        opt.step(closure)
        opt2.step(closure2)
        np.testing.assert_array_equal(x2, x)
    assert opt2.state[opt2.params[0]]["n_iter"] == opt.state[opt.params[0]]["n_iter"]

    bad = opt.state_dict()
    bad["state"][0]["d"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"state\[0\]\['d'\] must be a flat array of shape \(4,\)"):
        opt2.load_state_dict(bad)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_a_nan_closure_stops_with_a_clear_error(line_search_fn):
    x = np.array([3.0, -2.0])
    good = []
    opt = optim.LBFGS([x], lr=1.0, line_search_fn=line_search_fn)

    def closure():
        # finite near the start, NaN once x[0] < 2.5 (the first steps walk there)
        if x[0] < 2.5:
            opt.params[0].grad[...] = np.nan
            return float("nan")
        good.append(x.copy())
        opt.params[0].grad[...] = 2 * x
        return float(x @ x)

    with pytest.raises(DivergenceError, match="non-finite loss") as info:
        for _ in range(50):
            opt.step(closure)
    assert isinstance(info.value, FloatingPointError)
    assert "last point whose loss was finite" in str(info.value)
    assert x[0] >= 2.5 and any(np.array_equal(x, g) for g in good)


def test_a_non_finite_gradient_alone_is_an_error_too():
    x = np.array([1.0])
    opt = optim.LBFGS([x])

    def closure():
        opt.params[0].grad[...] = np.inf
        return 1.0

    with pytest.raises(DivergenceError, match="non-finite gradient"):
        opt.step(closure)
    assert x[0] == 1.0


def test_zero_gradient_returns_at_once():
    x = np.array([0.0, 0.0])
    opt = optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.params[0].grad[...] = 0
        return 0.0

    assert opt.step(closure) == 0.0
    assert len(calls) == 1 and opt.state[opt.params[0]]["n_iter"] == 0


def test_registry_and_torch_defaults():
    torch = pytest.importorskip("torch")
    x = np.zeros(3)
    opt = optim.get_optimizer("lbfgs", [x])
    assert isinstance(opt, optim.LBFGS)
    tdefaults = torch.optim.LBFGS([torch.nn.Parameter(torch.zeros(3))]).defaults
    assert opt.defaults == tdefaults
    assert optim.LBFGS([np.zeros(1)], max_iter=8).defaults["max_eval"] == 10


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ({"lr": float("nan")}, ValueError, "Invalid learning rate: nan"),
        ({"max_iter": 0}, ValueError, "max_iter must be a positive integer, got 0"),
        ({"max_iter": 2.5}, ValueError, "max_iter must be a positive integer, got 2.5"),
        ({"max_eval": 0}, ValueError, "max_eval must be a positive integer, got 0"),
        ({"tolerance_grad": -1e-3}, ValueError, "tolerance_grad must be a number >= 0"),
        ({"tolerance_change": "x"}, ValueError, "tolerance_change must be a number >= 0"),
        ({"history_size": 0}, ValueError, "history_size must be a positive integer, got 0"),
        ({"line_search_fn": "armijo"}, ValueError,
         "line_search_fn must be None or 'strong_wolfe', got 'armijo'"),
    ],
)
def test_bad_hyper_parameters_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.LBFGS([np.zeros(2)], **kwargs)


def test_bad_parameters_and_closures():
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [np.zeros(2)]}, {"params": [np.zeros(1)], "lr": 0.1}])
    opt = optim.LBFGS([np.zeros(2)])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [np.zeros(1)]})
    with pytest.raises(TypeError, match="one dtype.*float32 and float64"):
        optim.LBFGS([np.zeros(2), np.zeros(2, dtype=np.float32)])
    with pytest.raises(TypeError, match="LBFGS.step needs a closure"):
        opt.step()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"must return the loss as a number, got ndarray of shape \(2,\)"):
        opt.step(lambda: np.zeros(2))
    p = opt.params[0]

    def wrong_grad():
        p.grad = np.zeros(3)
        return 1.0

    with pytest.raises(ValueError, match=r"parameter 0's .grad must be an array of shape \(2,\) and "
                                         r"dtype float64.*got shape \(3,\)"):
        opt.step(wrong_grad)


def test_cubic_interpolate_finds_the_cubic_minimum():
    # f(x) = (x - 1)^3 - 3 (x - 1): local minimum at x = 2
    def f(x):
        return (x - 1) ** 3 - 3 * (x - 1)

    def g(x):
        return 3 * (x - 1) ** 2 - 3

    assert _cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0)) == pytest.approx(2.0)
    assert _cubic_interpolate(3.0, f(3.0), g(3.0), 1.5, f(1.5), g(1.5)) == pytest.approx(2.0)
    assert _cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0),
                              bounds=(2.5, 4.0)) == 2.5  # clipped to the bounds


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_parameters_and_fortran_ordered_gradients(dtype):
    # A 2-D parameter whose closure assigns a Fortran-ordered gradient gives the same descent as
    # one that writes C-ordered gradients in place (the flat vector is in C order either way).
    A = np.array([[2.0, 0.3], [0.3, 1.0]])
    target = np.arange(6.0).reshape(2, 3)

    def run(fortran):
        W = np.zeros((2, 3), dtype=dtype)
        opt = optim.LBFGS([W], line_search_fn="strong_wolfe", max_iter=30)
        p = opt.params[0]

        def closure():
            R = W.astype(np.float64) - target
            g = (A @ R).astype(dtype)
            if fortran:
                p.grad = np.asfortranarray(g)
            else:
                p.grad[...] = g
            return 0.5 * float(np.sum(R * (A @ R)))

        opt.step(closure)
        return W

    W_c, W_f = run(False), run(True)
    assert W_f.dtype == dtype
    np.testing.assert_array_equal(W_f, W_c)
    np.testing.assert_allclose(W_c, target, atol=1e-4)  # (to L-BFGS's default tolerances)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_small_net_float32_stays_close_to_torch_float32(line_search_fn):
    # float32 buffers, float64 dot products (torch's are float32): the same descent to float32
    # rounding over a few iterations.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    net = fg.Net([fg.Linear(4, 6), fg.Tanh(), fg.Linear(6, 3)], dtype="float32", seed=1)
    tparams = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in net.parameters()]
    hyper = {"lr": 1 if line_search_fn else 0.5, "max_iter": 4, "line_search_fn": line_search_fn}
    opt, topt = optim.LBFGS(net.parameters(), **hyper), torch.optim.LBFGS(tparams, **hyper)
    loss_fn = fg.losses.get_loss("cross_entropy")

    def closure():
        net.zero_grad()
        value, dout = loss_fn(net.forward(X), y)
        net.backward(dout, need_dx=False)
        return value

    def tclosure():
        topt.zero_grad()
        W1, b1, W2, b2 = tparams
        Z = torch.tanh(torch.from_numpy(X) @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(Z, torch.from_numpy(y))
        loss.backward()
        return loss.detach()

    for _ in range(2):
        assert opt.step(closure) == pytest.approx(float(topt.step(tclosure)), rel=1e-4)
    for p, tp in zip(net.parameters(), tparams, strict=True):
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-3, atol=1e-4)
