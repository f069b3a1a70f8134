"""Full-batch L-BFGS on digits (64-64-10 ReLU net, cross-entropy, float64) to a fixed loss.

Wall time to reach the target loss, interleaved in one run (each round runs every
implementation once, in a rotating order; the table shows medians and ratios to fastgd):

- ``fastgd``: ``fastgd.optim.LBFGS`` with a closure over ``Net.forward``/``backward`` (C++);
- ``fastgd+numpy``: the same optimizer with the NumPy-twin loss/grad (``fastgd.reference``);
- ``torch``: ``torch.optim.LBFGS`` on the same net in torch;
- ``scipy``: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the NumPy-twin loss/grad.

All start from the same weights, keep 10 curvature pairs (scipy's default) and use a line
search (strong Wolfe for fastgd and torch, scipy's own for L-BFGS-B). Before timing, every
implementation is checked to reach the target, and fastgd's first L-BFGS step is checked
against torch's.

    python bench/bench_lbfgs.py [--rounds 5] [--target 0.05] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import fastgd as fg
import numpy as np
from fastgd import reference as R
from fastgd.datasets import load_digits

HISTORY = 10
MAX_ITERATIONS = 5000


def make_problem(seed: int = 0):
    X, y = load_digits(dtype="float64")
    net = fg.Net([fg.Linear(64, 64), fg.ReLU(), fg.Linear(64, 10)], dtype="float64", seed=seed)
    return X, y, [p.data.copy() for p in net.parameters()]


def numpy_loss_grad(X: np.ndarray, y: np.ndarray, shapes: list[tuple[int, ...]]):
    """``f(theta) -> (loss, flat grad)`` of the net on the flat parameter vector, in NumPy."""
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0, *sizes])

    def unflat(theta):
        return [theta[a:b].reshape(s) for a, b, s in zip(offsets[:-1], offsets[1:], shapes,
                                                         strict=True)]

    def f(theta):
        W1, b1, W2, b2 = unflat(theta)
        Z1 = R.linear_forward(X, W1, b1)
        A1 = R.relu(Z1)
        loss, dZ2 = R.softmax_cross_entropy(R.linear_forward(A1, W2, b2), y)
        dA1, dW2, db2 = R.linear_backward(A1, W2, dZ2)
        _, dW1, db1 = R.linear_backward(X, W1, R.relu_backward(Z1, dA1), need_dx=False)
        return float(loss), np.concatenate([g.ravel() for g in (dW1, db1, dW2, db2)])

    return f


def fastgd_lbfgs(X, y, weights, **hyper):
    """fastgd's LBFGS over a fastgd Net: returns (optimizer, closure)."""
    net = fg.Net([fg.Linear(64, 64), fg.ReLU(), fg.Linear(64, 10)], dtype="float64")
    for p, w in zip(net.parameters(), weights, strict=True):
        p.data[...] = w
    ce = fg.losses.get_loss("cross_entropy")
    opt = fg.optim.LBFGS(net.parameters(), **hyper)

    def closure():
        net.zero_grad()
        loss, dout = ce(net.forward(X), y)
        net.backward(dout, need_dx=False)
        return loss

    return opt, closure


def fastgd_numpy_lbfgs(X, y, weights, **hyper):
    """fastgd's LBFGS over the flat vector with the NumPy-twin loss/grad."""
    theta = np.concatenate([w.ravel() for w in weights])
    f = numpy_loss_grad(X, y, [w.shape for w in weights])
    opt = fg.optim.LBFGS([theta], **hyper)
    param = opt.params[0]

    def closure():
        loss, g = f(theta)
        param.grad[...] = g
        return loss

    return opt, closure


def torch_lbfgs(X, y, weights, **hyper):
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
    opt = torch.optim.LBFGS(params, **hyper)

    def closure():
        opt.zero_grad()
        W1, b1, W2, b2 = params
        loss = torch.nn.functional.cross_entropy(torch.relu(Xt @ W1 + b1) @ W2 + b2, yt)
        loss.backward()
        return loss.detach()

    return opt, closure


# No early stop but the iteration count; no cap on the line search's evaluations.
HYPER = {"history_size": HISTORY, "line_search_fn": "strong_wolfe", "tolerance_grad": 0.0,
         "tolerance_change": 0.0, "max_eval": 10**9}


def iterations_to(build: Callable, X, y, weights, target: float) -> int:
    """How many L-BFGS iterations reach ``target`` (one iteration per step, the loss read at the
    start of the next): the timed runs then do exactly that many in one ``step``."""
    opt, closure = build(X, y, weights, max_iter=1, **HYPER)
    for k in range(MAX_ITERATIONS):
        if float(opt.step(closure)) <= target:
            return k
    raise RuntimeError(f"did not reach loss {target} in {MAX_ITERATIONS} iterations")


def lbfgs_runner(build: Callable) -> Callable:
    def run(X, y, weights, target, iterations):
        opt, closure = build(X, y, weights, max_iter=iterations, **HYPER)
        t0 = time.perf_counter()
        opt.step(closure)
        seconds = time.perf_counter() - t0
        evals = opt.state[opt.param_groups[0]["params"][0]]["func_evals"]
        return seconds, float(closure()), int(evals)

    return run


def run_scipy(X, y, weights, target, iterations=None):
    from scipy.optimize import minimize

    f = numpy_loss_grad(X, y, [w.shape for w in weights])
    theta0 = np.concatenate([w.ravel() for w in weights])

    def stop(intermediate_result):
        if intermediate_result.fun <= target:
            raise StopIteration

    t0 = time.perf_counter()
    res = minimize(f, theta0, jac=True, method="L-BFGS-B", callback=stop,
                   options={"maxcor": HISTORY, "maxiter": MAX_ITERATIONS, "gtol": 0, "ftol": 0})
    seconds = time.perf_counter() - t0
    return seconds, float(res.fun), int(res.nfev), int(res.nit)


BUILDERS = {"fastgd": fastgd_lbfgs, "fastgd+numpy": fastgd_numpy_lbfgs, "torch": torch_lbfgs}


def check_first_step_against_torch(X, y, weights) -> None:
    import torch

    net = fg.Net([fg.Linear(64, 64), fg.ReLU(), fg.Linear(64, 10)], dtype="float64")
    for p, w in zip(net.parameters(), weights, strict=True):
        p.data[...] = w
    ce = fg.losses.get_loss("cross_entropy")
    opt = fg.optim.LBFGS(net.parameters(), history_size=HISTORY, line_search_fn="strong_wolfe")

    def closure():
        net.zero_grad()
        loss, dout = ce(net.forward(X), y)
        net.backward(dout, need_dx=False)
        return loss

    opt.step(closure)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
    topt = torch.optim.LBFGS(params, history_size=HISTORY, line_search_fn="strong_wolfe")

    def tclosure():
        topt.zero_grad()
        W1, b1, W2, b2 = params
        loss = torch.nn.functional.cross_entropy(torch.relu(Xt @ W1 + b1) @ W2 + b2, yt)
        loss.backward()
        return loss.detach()

    topt.step(tclosure)
    for p, tp in zip(net.parameters(), params, strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-6, atol=1e-8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    fg.set_num_threads(args.threads)
    import scipy.optimize  # noqa: F401  (loaded before the limit below, which covers it then)

    try:  # NumPy's (and SciPy's) own BLAS too: on a busy machine extra threads only thrash
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    builders = dict(BUILDERS)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        builders.pop("torch")
    X, y, weights = make_problem()
    if "torch" in builders:
        check_first_step_against_torch(X, y, weights)
    runners: dict[str, Callable] = {name: lbfgs_runner(b) for name, b in builders.items()}
    runners["scipy"] = run_scipy
    iterations = {name: iterations_to(b, X, y, weights, args.target)
                  for name, b in builders.items()}
    iterations["scipy"] = run_scipy(X, y, weights, args.target)[3]
    times: dict[str, list[float]] = {name: [] for name in runners}
    evaluations: dict[str, int] = {}
    names = list(runners)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            seconds, loss, evaluations[name] = runners[name](X, y, weights, args.target,
                                                             iterations[name])[:3]
            if not loss <= args.target * (1 + 1e-9):
                raise RuntimeError(f"{name} ended at loss {loss} > target {args.target}")
            times[name].append(seconds)
    base = statistics.median(times["fastgd"])
    print(f"full-batch L-BFGS, digits {X.shape}, 64-64-10 ReLU, float64, to loss <= "
          f"{args.target}, history {HISTORY}, {args.threads} thread(s), median of {args.rounds} "
          "interleaved rounds")
    print(f"{'implementation':<14} {'iterations':>10} {'loss+grad':>9} {'median s':>9} "
          f"{'/ fastgd':>9}")
    for name in names:
        t = statistics.median(times[name])
        print(f"{name:<14} {iterations[name]:>10} {evaluations[name]:>9} {t:>9.3f} "
              f"{t / base:>9.2f}")


if __name__ == "__main__":
    main()
