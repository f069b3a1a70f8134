"""fastgd.minimize: convergence on known minima, numeric vs analytic gradients, schedules,
divergence and bad input."""

from __future__ import annotations

import fastgd
import numpy as np
import pytest
from fastgd import MinimizeResult, minimize, optim
from fastgd.errors import DivergenceError
from fastgd.minimize import numerical_gradient
from fastgd.optim.schedules import exponential_decay

# A strictly convex quadratic 0.5·xᵀAx - bᵀx with its known minimiser A⁻¹b.
A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
B = np.array([1.0, -2.0, 0.5])
X_STAR = np.linalg.solve(A, B)


def quad(x):
    return 0.5 * x @ A @ x - B @ x


def quad_grad(x):
    return A @ x - B


# The seed's 2-D example and its gradient, written out by hand.
def bumpy(v):
    x, y = v
    return x**2 + y**2 + x * (y + 2) + np.cos(3 * x)


def bumpy_grad(v):
    x, y = v
    return np.array([2 * x + y + 2 - 3 * np.sin(3 * x), 2 * y + x])


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def rosenbrock_grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


@pytest.mark.parametrize(
    ("optimizer", "hyper"),
    [("sgd", dict(lr=0.1)), ("sgd", dict(lr=0.05, momentum=0.9)),
     ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("adam", dict(lr=0.05)),
     (optim.AdamW, dict(lr=0.05, weight_decay=0.0))],
)
def test_quadratic_converges_to_the_known_minimum(optimizer, hyper):
    x0 = np.array([2.0, 2.0, -3.0])
    res = minimize(quad, x0, grad=quad_grad, optimizer=optimizer, steps=5000, tol=1e-9, **hyper)
    assert isinstance(res, MinimizeResult)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, X_STAR, atol=1e-6)
    assert res.fun == pytest.approx(quad(res.x))
    np.testing.assert_allclose(res.grad, quad_grad(res.x))
    assert res.path.shape == (res.n_steps + 1, 3)
    np.testing.assert_array_equal(res.path[0], x0)
    np.testing.assert_array_equal(res.path[-1], res.x)
    np.testing.assert_array_equal(x0, [2.0, 2.0, -3.0])  # the caller's x0 is not modified
    assert 0 < res.n_steps < 5000


def test_sgd_path_is_plain_gradient_descent():
    res = minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, lr=0.2, steps=15)
    x = np.array([1.0, 1.0, 1.0])
    want = [x.copy()]
    for _ in range(15):
        x = x - 0.2 * quad_grad(x)
        want.append(x.copy())
    np.testing.assert_allclose(res.path, np.array(want), rtol=1e-14, atol=1e-15)
    assert res.n_steps == 15 and not res.converged
    assert "reached steps=15" in res.message


@pytest.mark.parametrize(
    ("fun", "grad", "x"),
    [
        (quad, quad_grad, np.array([0.3, -1.2, 2.0])),
        (bumpy, bumpy_grad, np.array([3.0, 2.0])),
        (rosenbrock, rosenbrock_grad, np.array([-1.5, 2.0])),
        (rosenbrock, rosenbrock_grad, np.array([1e3, -2e3])),  # large |x|: the step is scaled
        (lambda v: np.sum(np.exp(v / 100)), lambda v: np.exp(v / 100) / 100,
         np.array([250.0, -400.0, 1e-3])),
    ],
)
def test_numeric_gradient_agrees_with_analytic(fun, grad, x):
    np.testing.assert_allclose(numerical_gradient(fun, x), grad(x), rtol=1e-7, atol=1e-7)


def test_minimize_with_numeric_gradient_matches_analytic():
    a = minimize(bumpy, (3, 2), lr=0.1, steps=300)
    b = minimize(bumpy, (3, 2), grad=bumpy_grad, lr=0.1, steps=300)
    np.testing.assert_allclose(a.path, b.path[: len(a.path)], atol=1e-6)
    np.testing.assert_allclose(a.x, b.x, atol=1e-6)


@pytest.mark.parametrize("decay", [None, 0.99])
def test_seed_example_with_and_without_decay(decay):
    seen = []
    schedule = None
    if decay is not None:
        inner = exponential_decay(0.1, decay)

        def schedule(step):
            seen.append(step)
            return inner(step)

    res = minimize(bumpy, [3, 2], optimizer="sgd", steps=2000, schedule=schedule,
                   **({} if decay else {"lr": 0.1}))
    assert res.converged, res.message
    assert np.linalg.norm(bumpy_grad(res.x)) < 1e-5
    assert res.path.shape == (res.n_steps + 1, 2)
    np.testing.assert_array_equal(res.path[0], [3.0, 2.0])
    assert res.fun < bumpy(np.array([3.0, 2.0]))
    if decay is not None:
        assert seen[0] == 0 and seen[1:] == list(range(res.n_steps))  # schedule(0) sets lr first
        # The first step used lr = 0.1, the k-th lr = 0.1·0.99^k.
        k = 5
        step = res.path[k + 1] - res.path[k]
        np.testing.assert_allclose(step, -0.1 * decay**k * bumpy_grad(res.path[k]), rtol=1e-6)


def test_adam_on_rosenbrock_reaches_the_minimum():
    res = minimize(rosenbrock, [-1.5, 2.0], grad=rosenbrock_grad, optimizer="adam", lr=0.02,
                   steps=10_000)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-3)
    assert res.n_steps < 10_000


def test_divergence_raises_with_advice():
    with pytest.raises(DivergenceError, match="smaller learning rate") as info:
        minimize(lambda v: float(v @ v), [3.0, -2.0], lr=10.0)
    assert isinstance(info.value, FloatingPointError)
    assert fastgd.errors.DivergenceError is DivergenceError
    with pytest.raises(DivergenceError, match="diverged at step"):
        minimize(lambda v: float(v @ v), [3.0], grad=lambda v: 2 * v,
                 optimizer="sgd", lr=2.0, momentum=0.9)


def test_non_finite_gradient_on_the_way_raises_divergence():
    def grad(v):
        return np.array([np.nan]) if v[0] < 1 else 2 * v

    with pytest.raises(DivergenceError, match="the gradient"):
        minimize(lambda v: float(v[0] ** 2), [1.5], grad=grad, lr=0.4)


def test_scalar_and_sequence_x0():
    res = minimize(lambda v: (v[0] - 2.0) ** 2, 3, lr=0.1)
    assert res.x.shape == (1,) and res.x.dtype == np.float64
    assert res.x[0] == pytest.approx(2.0, abs=1e-6)
    res = minimize(lambda v: float(np.sum((v - 1) ** 2)), (0, 0), optimizer=optim.Adam, lr=0.1)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-4)


def test_zero_steps_and_zero_gradient():
    res = minimize(quad, [0.0, 0.0, 0.0], grad=quad_grad, steps=0)
    assert res.n_steps == 0 and res.path.shape == (1, 3) and not res.converged
    res = minimize(lambda v: float(v @ v), [0.0, 0.0], lr=0.1)
    assert res.converged and res.n_steps == 0 and "gradient norm" in res.message


def test_callback_sees_every_step_and_can_stop():
    calls = []
    res = minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, lr=0.1, steps=50,
                   callback=lambda k, x, f: calls.append((k, x, f)))
    assert [c[0] for c in calls] == list(range(res.n_steps))
    np.testing.assert_array_equal(calls[-1][1], res.x)
    assert calls[-1][2] == res.fun
    res = minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, lr=0.1, callback=lambda k, x, f: k == 4)
    assert res.n_steps == 5 and not res.converged and "callback" in res.message


def test_result_repr():
    text = repr(minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, lr=0.1))
    assert text.startswith("MinimizeResult(converged=True, n_steps=")
    assert "path=<array of shape (" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(fun=42), TypeError, "fun must be callable, got int"),
        (dict(grad="no"), TypeError, "grad must be callable or None, got str"),
        (dict(x0=np.zeros((2, 2))), ValueError,
         r"x0 must be a scalar or a 1-D vector, got an array of shape \(2, 2\)"),
        (dict(x0=[]), ValueError, "x0 must have at least one element"),
        (dict(x0="abc"), TypeError, "x0 must be a number or a 1-D sequence of numbers, got str"),
        (dict(x0=[1.0, np.nan]), ValueError, "x0 must be finite"),
        (dict(optimizer="rmsprop"), ValueError,
         "unknown optimizer 'rmsprop'; valid names are 'sgd', 'adam', 'adamw'"),
        (dict(optimizer=np.sum), TypeError, "optimizer must be a name"),
        (dict(steps=-1), ValueError, "steps must be a non-negative integer, got -1"),
        (dict(steps=2.5), ValueError, "steps must be a non-negative integer"),
        (dict(tol=-1.0), ValueError, "tol must be >= 0"),
        (dict(schedule=0.1), TypeError, "schedule must be a function of the step"),
        (dict(callback=1), TypeError, "callback must be callable or None"),
        (dict(fun=lambda v: v), TypeError,
         r"fun must return a scalar, got ndarray of shape \(2,\)"),
        (dict(fun=lambda v: np.inf), ValueError, "fun.x0. must be finite"),
        (dict(grad=lambda v: np.zeros(3)), ValueError,
         r"grad must return an array of shape \(2,\), got \(3,\)"),
        (dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
        (dict(betas=(0.9, 0.99)), TypeError, "unexpected keyword argument 'betas'"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, error, message):
    args = {"fun": lambda v: float(v @ v), "x0": [1.0, 2.0], **kwargs}
    with pytest.raises(error, match=message):
        minimize(**args)


# ------------------------------------------------------------------------------- L-BFGS


def _torch_lbfgs_iterates(torch, fun_torch, x0, n, **hyper):
    """torch.optim.LBFGS's first n iterates: a fresh run with max_iter=k ends at iterate k."""
    out = []
    for k in range(1, n + 1):
        xt = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        opt = torch.optim.LBFGS([xt], max_iter=k, **hyper)

        def closure(opt=opt, xt=xt):
            opt.zero_grad()
            loss = fun_torch(xt)
            loss.backward()
            return loss.detach()

        opt.step(closure)
        out.append(xt.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("hyper", [{"line_search_fn": "strong_wolfe"}, {"lr": 0.1}],
                         ids=["strong_wolfe", "fixed-step"])
def test_lbfgs_path_is_torchs_iterates(hyper):
    torch = pytest.importorskip("torch")
    hyper = {**hyper, "max_eval": 10_000}  # the budget torch's max_iter=k runs must not hit
    res = minimize(rosenbrock, [-1.5, 2.0], grad=rosenbrock_grad, optimizer="lbfgs",
                   steps=12, **hyper)
    assert res.n_steps == 12 and res.path.shape == (13, 2)

    def fun_torch(v):
        return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2

    want = _torch_lbfgs_iterates(torch, fun_torch, [-1.5, 2.0], 12, **hyper)
    np.testing.assert_allclose(res.path[1:], want, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(res.path[0], [-1.5, 2.0])


def test_lbfgs_strong_wolfe_solves_rosenbrock_and_counts_iterations():
    res = minimize(rosenbrock, [-1.5, 2.0], grad=rosenbrock_grad, optimizer="lbfgs",
                   line_search_fn="strong_wolfe", tol=1e-10, tolerance_change=1e-14)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)
    assert res.fun == pytest.approx(rosenbrock(res.x)) and res.fun < 1e-12
    assert 10 < res.n_steps < 100  # superlinear: Adam needs thousands (test above)
    np.testing.assert_array_equal(res.path[-1], res.x)
    # the same descent with central differences instead of the analytic gradient
    numeric = minimize(rosenbrock, [-1.5, 2.0], optimizer="lbfgs",
                       line_search_fn="strong_wolfe", tol=1e-10, tolerance_change=1e-14)
    np.testing.assert_allclose(numeric.x, [1.0, 1.0], atol=1e-5)


def test_lbfgs_evaluates_each_point_once_and_honours_steps_and_callback():
    calls = []

    def counted(v):
        calls.append(v.copy())
        return quad(v)

    res = minimize(counted, [1.0, 1.0, 1.0], grad=quad_grad, optimizer="lbfgs",
                   line_search_fn="strong_wolfe", max_iter=2, tolerance_change=1e-14)
    assert res.converged
    np.testing.assert_allclose(res.x, X_STAR, atol=1e-7)
    points = {tuple(c) for c in calls}
    assert len(points) == len(calls)  # no point evaluated twice
    res = minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, optimizer="lbfgs", lr=0.1, steps=3)
    assert res.n_steps == 3 and not res.converged and "reached steps=3" in res.message
    seen = []
    res = minimize(quad, [1.0, 1.0, 1.0], grad=quad_grad, optimizer="lbfgs", lr=0.1,
                   callback=lambda k, x, f: seen.append((k, f)) or k == 4)
    assert res.n_steps == 5 and "callback" in res.message and not res.converged
    assert [k for k, _ in seen] == list(range(5))
    assert [f for _, f in seen] == pytest.approx([quad(p) for p in res.path[1:]])


def test_lbfgs_divergence_and_bad_input():
    with pytest.raises(DivergenceError, match="minimize diverged.*non-finite loss"):
        minimize(lambda v: float(v @ v) if abs(v[0]) < 2 else np.nan, [1.0, 1.0],
                 grad=lambda v: 2 * v, optimizer="lbfgs", lr=5.0)
    with pytest.raises(ValueError, match="schedule is not supported with L-BFGS"):
        minimize(quad, [1.0, 1.0, 1.0], optimizer="lbfgs", schedule=exponential_decay(0.1, 0.9))
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        minimize(quad, [1.0, 1.0, 1.0], optimizer="lbfgs", line_search_fn="wolfe")
    with pytest.raises(ValueError, match="fun.x0. must be finite"):
        minimize(lambda v: np.inf, [1.0], optimizer="lbfgs")
