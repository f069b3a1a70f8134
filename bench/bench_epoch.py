"""Whole epochs: ``Net.fit`` (epochs in C++, ``Engine.epoch``) against the same number of bare
fused steps (``Trainer.step`` in a Python loop over ready batches), and against ``fit``'s Python
loop (forced by a callback that needs the batches), measured in one run.

    python bench/bench_epoch.py             # the table of ratios (interleaved turns, medians)
    python -m pytest bench/bench_epoch.py --benchmark-enable --benchmark-group-by=group

Workloads: ``digits`` (64-128-10 ReLU, Adam, batch 32, float32, cross-entropy) and
``digits_tiny`` (64-32-1 ReLU, SGD lr 0.01, batch 10, float64, BCE-logits: digit < 5 or not),
both on the 1797 digits images. Every case first checks that ``fit`` and the bare steps end
with the same weights, then times them; "fit / steps" is the time of ``fit`` over the time of
the bare steps (1.0: fit costs nothing over its steps). "cpu/wall" is the process's CPU time
over the wall time while ``fit`` runs (1.0: one core busy). Absolute times depend on the machine
and its load; compare the ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import fastgd as fg
import numpy as np
import pytest
from fastgd.callbacks import Callback
from fastgd.datasets import load_digits

#: name: (layers, dtype, loss, optimizer, hyper, batch)
CASES: dict[str, tuple[Callable[[], list[Any]], str, str, str, dict[str, float], int]] = {
    "digits": (lambda: [fg.Linear(64, 128), fg.ReLU(), fg.Linear(128, 10)], "float32", "cross_entropy",
               "adam", {"lr": 1e-3}, 32),
    "digits_tiny": (lambda: [fg.Linear(64, 32), fg.ReLU(), fg.Linear(32, 1)], "float64", "bce_with_logits",
                    "sgd", {"lr": 0.01}, 10),
}


class _EveryBatch(Callback):
    def on_batch_end(self, batch: int, logs: Any = None) -> None:
        pass


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    dtype = CASES[name][1]
    X = ((X - X.mean(0)) / (X.std(0) + 1e-6)).astype(dtype)
    return X, ((y >= 5).astype(dtype) if CASES[name][2] == "bce_with_logits" else y)


def runners(name: str, epochs: int) -> dict[str, Callable[[], fg.Net]]:
    """Three ways to train ``epochs`` epochs of ``name``, each from the same initial weights: ``fit``,
    the bare steps over the batches ``fit`` takes (its permutations, sliced beforehand), and ``fit``
    through its Python loop. Each returns the trained net."""
    layers, dtype, loss, opt, hyper, batch = CASES[name]
    X, y = _data(name)
    rng = np.random.default_rng(0)  # fit's stream (seed=0)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        batches += [(X[order[i:i + batch]], y[order[i:i + batch]]) for i in range(0, len(X), batch)]

    def fit(callbacks: list[Callback]) -> fg.Net:
        net = fg.Net(layers(), dtype=dtype, seed=0)
        net.fit(X, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=batch, progress=False,
                callbacks=callbacks, **hyper)
        return net

    def steps() -> fg.Net:
        net = fg.Net(layers(), dtype=dtype, seed=0)
        trainer = fg.Trainer(net, loss=loss, optimizer=opt, **hyper)
        step = trainer.step
        for Xb, yb in batches:
            step(Xb, yb)
        return net

    return {"fit": lambda: fit([]), "steps": steps, "fit_python": lambda: fit([_EveryBatch()])}


def check(run: dict[str, Callable[[], fg.Net]]) -> None:
    """fit, its Python loop and the bare steps end with the same weights, bit for bit."""
    nets = [run[k]() for k in ("fit", "steps", "fit_python")]
    for ps in zip(*(n.parameters() for n in nets)):
        for p in ps[1:]:
            np.testing.assert_array_equal(ps[0].data, p.data)


def measure(name: str, epochs: int = 20, rounds: int = 7) -> dict[str, Any]:
    """Median wall times (s) of each runner over interleaved rounds, and fit's cpu/wall ratio."""
    run = runners(name, epochs)
    check(run)
    times: dict[str, list[float]] = {k: [] for k in run}
    cpu: list[float] = []
    for _ in range(rounds):
        for key, f in run.items():
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            wall, used = time.perf_counter() - t0, time.process_time() - c0
            times[key].append(wall)
            if key == "fit":
                cpu.append(used / wall)
    X, _ = _data(name)
    n_steps = epochs * -(-len(X) // CASES[name][5])
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"name": name, "n_steps": n_steps, **med, "cpu_wall": statistics.median(cpu)}


def main() -> None:
    print(f"fastgd {fg.__version__}, {fg.get_num_threads()} threads; medians of 7 interleaved rounds of 20 epochs")
    print(f"{'workload':<12} {'steps':>6} {'fit/step':>9} {'bare/step':>9} {'py-loop/step':>12} "
          f"{'fit / steps':>11} {'py-loop / steps':>15} {'cpu/wall':>8}")
    for name in CASES:
        r = measure(name)
        n = r["n_steps"]
        print(f"{name:<12} {n:>6} {r['fit'] / n * 1e6:>7.2f}us {r['steps'] / n * 1e6:>7.2f}us "
              f"{r['fit_python'] / n * 1e6:>10.2f}us {r['fit'] / r['steps']:>11.3f} "
              f"{r['fit_python'] / r['steps']:>15.3f} {r['cpu_wall']:>8.2f}")


@pytest.mark.parametrize("impl", ["fit", "steps", "fit_python"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_epochs(benchmark: Any, name: str, impl: str) -> None:
    run = runners(name, 2)
    if impl == "fit":
        check(run)
    benchmark.group = f"epoch-{name}"
    benchmark(run[impl])


if __name__ == "__main__":
    main()
