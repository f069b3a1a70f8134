"""Data-parallel training steps on 1 and 2 MPI ranks: steps/s, scaling, Allreduce vs compute.

    python bench/bench_distributed.py             # mnist_mlp and wide_mlp (fastgd.bench.WORKLOADS)
    python bench/bench_distributed.py --steps 50 --ranks 1 2 4 --repeat 5

Strong scaling: the global batch stays the workload's (128 rows for mnist_mlp, 512 for wide_mlp)
and each of R ranks computes B/R rows of it. Every rank runs one BLAS thread; the table also
shows one process with R BLAS threads (``fastgd.Trainer``), the other way to use R cores.
Scaling efficiency = (step time on 1 rank / step time on R ranks) / R. The per-step split comes
from ``DistributedTrainer.timings`` on rank 0: compute (forward + backward of its rows),
Allreduce (the gradient sum, including waiting for the slowest rank) and update (clip +
optimizer). Before timing, the script checks that the data-parallel weights equal a
single-process step on the same batch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import fastgd as fg
import numpy as np
from fastgd.bench import WORKLOADS, Workload, make_data

NAMES = ("mnist_mlp", "wide_mlp")


def _net(w: Workload) -> fg.Net:
    layers: list[fg.Layer] = []
    for a, b in zip(w.sizes[:-1], w.sizes[1:]):
        layers += [fg.Linear(a, b), fg.ReLU()]
    return fg.Net(layers[:-1], dtype=w.dtype, seed=0)


def worker(name: str, steps: int, distributed: bool) -> dict[str, float]:
    """Time ``steps`` training steps of workload ``name`` in this process (one rank of a job,
    or a plain ``Trainer`` when not ``distributed``); rank 0's numbers."""
    w = next(w for w in WORKLOADS if w.name == name)
    batches = [make_data(w, seed=s) for s in range(4)]
    net = _net(w)
    if distributed:
        from fastgd.distributed import DistributedTrainer

        trainer: fg.Trainer = DistributedTrainer(net, w.loss, w.optimizer, **w.hyper)
        # The check: the averaged gradient equals the single-process gradient of the batch.
        single = fg.Trainer(_net(w), w.loss, w.optimizer, **w.hyper)
        expected = single.step(*batches[0])
        loss = trainer.step(*batches[0])
        assert abs(loss - expected) <= 1e-5 * abs(expected), (loss, expected)
        for p, q in zip(net.parameters(), single.net.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-3, atol=1e-5 * float(np.abs(q.grad).max()))
    else:
        trainer = fg.Trainer(net, w.loss, w.optimizer, **w.hyper)
    for i in range(5):  # warm-up: workspaces, page faults, MPI connections
        trainer.step(*batches[i % 4])
    if distributed:
        trainer.comm.Barrier()  # type: ignore[attr-defined]
        trainer.reset_timings()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.step(*batches[i % 4])
    seconds = (time.perf_counter() - t0) / steps
    out = {"step_ms": seconds * 1e3, "steps_per_s": 1 / seconds}
    if distributed:
        t = trainer.timings  # type: ignore[attr-defined]
        out.update({k + "_ms": t[k] / steps * 1e3 for k in ("compute", "allreduce", "update")})
        out["grad_mb"] = (net.n_parameters + 6) * net.dtype.itemsize / 1e6
    return out


def run(name: str, ranks: int, threads: int, steps: int, distributed: bool = True) -> dict[str, float]:
    """One job: ``ranks`` processes under mpiexec, ``threads`` BLAS threads each (or, not
    ``distributed``, one plain process); returns rank 0's numbers."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", name, "--steps", str(steps)]
    if distributed:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", str(ranks), *cmd]
    else:
        cmd.append("--plain")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=0, help="timed steps (default: 300 mnist_mlp, 40 wide_mlp)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="runs of every setup, interleaved; the fastest counts")
    parser.add_argument("--workloads", nargs="+", default=list(NAMES), choices=NAMES)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        out = worker(args.worker, args.steps, not args.plain)
        if args.plain or fg.distributed._mpi().COMM_WORLD.Get_rank() == 0:
            print(json.dumps(out))
        return

    print(f"fastgd {fg.__version__}: data-parallel steps (global batch fixed), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} before the run, best of {args.repeat}\n")
    head = (f"{'workload':<10} {'setup':<22} {'ms/step':>8} {'steps/s':>8} {'speed-up':>8} {'effic.':>7} "
            f"{'compute':>8} {'allreduce':>9} {'update':>7}  grad MB")
    print(head)
    print("-" * len(head))
    for name in args.workloads:
        steps = args.steps or (300 if name == "mnist_mlp" else 40)
        # (label, ranks for the efficiency or None, job: (ranks, threads, distributed))
        setups = [("Trainer, 1 proc x 1 thr", None, (1, 1, False))]
        setups += [(f"{r} rank{'s' if r > 1 else ''} x 1 thread", r, (r, 1, True)) for r in args.ranks]
        setups += [(f"Trainer, 1 proc x {r} thr", r, (r, r, False)) for r in args.ranks if r > 1]
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):  # interleaved, so a burst of load hits one run of each at most
            for label, _, (r, threads, distributed) in setups:
                res = run(name, r, threads, steps, distributed)
                if label not in best or res["step_ms"] < best[label]["step_ms"]:
                    best[label] = res
        base = best[setups[1][0]] if args.ranks[0] == 1 else best[setups[0][0]]
        for label, r, _ in setups:
            res = best[label]
            speed = base["step_ms"] / res["step_ms"]
            eff = f"{speed / r:7.0%}" if r else " " * 7
            split = ""
            if "compute_ms" in res:
                split = (f"{res['compute_ms']:8.2f} {res['allreduce_ms']:9.2f} {res['update_ms']:7.2f}  "
                         f"{res['grad_mb']:.2f}")
            print(f"{name:<10} {label:<22} {res['step_ms']:8.2f} {res['steps_per_s']:8.1f} {speed:7.2f}x {eff} {split}")
        print()
    print("speed-up and efficiency against the data-parallel run on 1 rank x 1 thread; "
          "compute/allreduce/update: ms per step on rank 0")


if __name__ == "__main__":
    main()
