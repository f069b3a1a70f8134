"""The fused step's binding: Cython (fastgd._fastcall) against pybind11 (fastgd._core), one run.

    python bench/bench_binding.py                 # the table (interleaved turns, medians)
    python -m pytest bench/bench_binding.py --benchmark-enable

On one engine (one net, one workspace), per workload, the median time per step of

* **C++ step**: ``EngineStep.repeat`` (the arguments taken once, then that many steps in C++):
  the step without any per-call binding cost, the baseline;
* **pybind11 call** / **Cython call**: ``engine.step(X, y)`` / ``EngineStep.step(X, y)``, one
  Python call per step; minus the C++ step, that is each binding's cost per call;
* **Trainer.step** through either binding: the step as a user's loop calls it.

Turns of ``--number`` calls rotate through the variants (the order reversed every other round)
for ``--rounds`` rounds; each variant's median over its turns is printed, with the process CPU
time per step beside the wall time (less disturbed by other jobs on a loaded machine). The
batches cycle through a pool with random labels, so training never converges to a trivial state.
Both bindings are first checked to give bit-identical losses and weights.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import fastgd as fg
import numpy as np
import pytest
from fastgd import _fastcall
from fastgd.bench import WORKLOADS, Workload

DIGITS = Workload("digits", (64, 128, 10), "relu", 32, "float32", "cross_entropy", "adam", {"lr": 1e-3})
CASES = [WORKLOADS[0], DIGITS]  # digits_tiny: the 2-4 us step; digits: issue 15's 64-128-10 Adam case
VARIANTS = ["C++ step", "pybind11 call", "Cython call", "Trainer pybind11", "Trainer Cython"]


def _net(w: Workload) -> fg.Net:
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(fg.Linear(a, b))
        if i < len(w.sizes) - 2:
            layers.append(fg.ReLU())
    return fg.Net(layers, dtype=w.dtype, seed=0)


def _batches(w: Workload, count: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        X = rng.standard_normal((w.batch, w.sizes[0])).astype(w.dtype)
        if w.loss == "cross_entropy":
            y = rng.integers(0, w.sizes[-1], w.batch)
        else:
            y = (rng.random((w.batch, w.sizes[-1])) > 0.5).astype(w.dtype)
        out.append((X, y))
    return out


def setup(w: Workload) -> tuple[dict[str, Callable[[list[tuple[np.ndarray, np.ndarray]]], None]], Any]:
    """One trainer (fused); per variant, a function running one step per batch it is given."""
    trainer = fg.Trainer(_net(w), loss=w.loss, optimizer=w.optimizer, **w.hyper)
    trainer.step(*_batches(w, 1)[0])
    fs = trainer._fused
    engine = fs.engine
    cy = _fastcall.EngineStep(engine)
    bindings = {"pybind11": engine.step, "cython": cy.step}

    def trainer_with(binding: str) -> Callable[[list[tuple[np.ndarray, np.ndarray]]], None]:
        def run(batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
            fs._engine_step = bindings[binding]  # the one dispatch point of fastgd.fused
            step = trainer.step
            for X, y in batches:
                step(X, y)
        return run

    def calls(fn: Callable[..., float]) -> Callable[[list[tuple[np.ndarray, np.ndarray]]], None]:
        def run(batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
            for X, y in batches:
                fn(X, y)
        return run

    def repeat(batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        X, y = batches[0]
        cy.repeat(X, y, count=len(batches))

    variants = {"C++ step": repeat, "pybind11 call": calls(engine.step), "Cython call": calls(cy.step),
                "Trainer pybind11": trainer_with("pybind11"), "Trainer Cython": trainer_with("cython")}
    return variants, cy


def check(w: Workload) -> None:
    """Both bindings: the same losses and weights, bit for bit, over a few steps."""
    nets = [_net(w), _net(w)]
    trainers = [fg.Trainer(n, loss=w.loss, optimizer=w.optimizer, **w.hyper) for n in nets]
    fs = [t._fused_step() for t in trainers]  # built on first use
    fs[1]._engine_step = fs[1].engine.step
    for X, y in _batches(w, 4):
        assert trainers[0].step(X, y) == trainers[1].step(X, y)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert isinstance(trainers[0]._fused._engine_step.__self__, _fastcall.EngineStep)


def measure(w: Workload, rounds: int, number: int) -> dict[str, tuple[float, float]]:
    """Per variant: (median wall µs per step, median process CPU µs per step)."""
    check(w)
    variants, cy = setup(w)
    pool = _batches(w)
    blocks = [[pool[(i * number + j) % len(pool)] for j in range(number)] for i in range(len(pool))]
    for run in variants.values():  # warm-up
        run(blocks[0])
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            block = blocks[r % len(blocks)]
            c0, t0 = time.process_time_ns(), time.perf_counter_ns()
            variants[name](block)
            t1, c1 = time.perf_counter_ns(), time.process_time_ns()
            wall[name].append((t1 - t0) / number / 1e3)
            cpu[name].append((c1 - c0) / number / 1e3)
    assert cy.fallbacks == 0, "the Cython call took the pybind11 path"
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in variants}


def report(results: dict[str, dict[str, tuple[float, float]]], rounds: int, number: int) -> str:
    lines = [f"fastgd {fg.__version__} | numpy {np.__version__} | {platform.machine()} | "
             f"{fg.get_num_threads()} threads | {rounds} interleaved turns of {number} steps, medians",
             "wall us per step (process CPU us per step)",
             f"{'workload':<12}" + "".join(f"{v:>19}" for v in VARIANTS)]
    for name, res in results.items():
        lines.append(f"{name:<12}" + "".join(f"{res[v][0]:>9.2f} ({res[v][1]:6.2f})" for v in VARIANTS))
    lines.append("")
    lines.append(f"{'workload':<12}{'clock':<6}{'pybind11/call':>15}{'Cython/call':>13}{'call ratio':>12}"
                 f"{'Trainer ratio':>15}")
    for name, res in results.items():
        for i, clock in enumerate(("wall", "CPU")):
            base = res["C++ step"][i]
            py, cy = res["pybind11 call"][i] - base, res["Cython call"][i] - base
            lines.append(f"{name:<12}{clock:<6}{py:>12.2f} us{cy:>10.2f} us"
                         f"{res['pybind11 call'][i] / res['Cython call'][i]:>11.2f}x"
                         f"{res['Trainer pybind11'][i] / res['Trainer Cython'][i]:>14.2f}x")
    lines.append("per call: the call's time minus the C++ step's; "
                 "ratios: pybind11 time / Cython time (> 1: Cython faster)")
    return "\n".join(lines)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("w", CASES, ids=[c.name for c in CASES])
def test_binding(benchmark, w, variant):
    check(w)
    variants, _ = setup(w)
    block = _batches(w, 16)
    benchmark.group = f"binding {w.name}"
    benchmark(variants[variant], block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=61)
    parser.add_argument("--number", type=int, default=400, help="steps per timed turn")
    parser.add_argument("--threads", type=int, default=None, help="fastgd threads (default: fastgd's)")
    args = parser.parse_args()
    if args.threads:
        fg.set_num_threads(args.threads)
    results = {w.name: measure(w, args.rounds, args.number) for w in CASES}
    print(report(results, args.rounds, args.number))


if __name__ == "__main__":
    main()
