"""Run under ``mpiexec`` by test_distributed.py: data-parallel training cases and failures.

``python _mpi_worker.py train OUTDIR`` runs every case of ``CASES`` data parallel and writes each
rank's weights and histories to ``OUTDIR/rank<r>.npz``; ``reference(case)`` computes the same
case in one process (the test compares the two). ``python _mpi_worker.py <failure> OUTDIR`` runs
one failure scenario (see ``fail``) and writes each rank's error to ``OUTDIR/rank<r>.txt``.
"""

from __future__ import annotations

import os
import sys
import time

import fastgd as fg
import numpy as np
from fastgd.distributed import DistributedTrainer, shard_bounds

ROWS, FEATURES, CLASSES = 23, 5, 3


def data(dtype, loss, rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, FEATURES)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, CLASSES, rows)
    elif loss == "bce_with_logits":
        y = rng.integers(0, 2, (rows, CLASSES))
    else:
        y = rng.standard_normal((rows, CLASSES)).astype(dtype)
    return X, y


def make_net(dtype, rank=0):
    # Different seeds per rank: the trainer must broadcast rank 0's weights.
    return fg.Net([fg.Linear(FEATURES, 8), fg.Tanh(), fg.Linear(8, 8), fg.ReLU(), fg.Linear(8, CLASSES)],
                  dtype=dtype, seed=rank)


# name -> settings. mode "fit": Net.fit / DistributedTrainer.fit; "step": a loop of step() on
# global batches of BATCHES rows; "sharded_step": step(sharded=True) with uneven rows per rank;
# "sharded_fit": fit(sharded=True) on each rank's own rows.
BATCHES = [10, 7, 3, 2, 1]  # the last batches leave ranks without rows
CASES = {
    "fit_sgd_fused": dict(mode="fit", dtype="float64", loss="cross_entropy", fused=True,
                          optimizer="sgd", hyper=dict(lr=0.1, momentum=0.9, nesterov=True)),
    "fit_sgd_unfused": dict(mode="fit", dtype="float64", loss="cross_entropy", fused=False,
                            optimizer="sgd", hyper=dict(lr=0.1, momentum=0.9, nesterov=True)),
    "fit_adam_clip_fused": dict(mode="fit", dtype="float64", loss="mse", fused=True, clip_norm=0.05,
                                optimizer="adam", hyper=dict(lr=0.01, weight_decay=1e-3)),
    "fit_adam_clip_unfused": dict(mode="fit", dtype="float64", loss="mse", fused=False, clip_norm=0.05,
                                  optimizer="adam", hyper=dict(lr=0.01, weight_decay=1e-3)),
    "fit_adamw_f32": dict(mode="fit", dtype="float32", loss="bce_with_logits", fused=True,
                          optimizer="adamw", hyper=dict(lr=0.01)),
    "fit_net_distributed": dict(mode="net_fit", dtype="float64", loss="cross_entropy", fused=True,
                                optimizer="sgd", hyper=dict(lr=0.05, momentum=0.5)),
    "step_fused": dict(mode="step", dtype="float64", loss="cross_entropy", fused=True, clip_norm=0.3,
                       optimizer="sgd", hyper=dict(lr=0.1, momentum=0.9)),
    "step_unfused": dict(mode="step", dtype="float64", loss="cross_entropy", fused=False, clip_norm=0.3,
                         optimizer="sgd", hyper=dict(lr=0.1, momentum=0.9)),
    "sharded_step": dict(mode="sharded_step", dtype="float64", loss="mse", fused=True,
                         optimizer="adam", hyper=dict(lr=0.01)),
    "sharded_fit": dict(mode="sharded_fit", dtype="float64", loss="cross_entropy", fused=True,
                        optimizer="adam", hyper=dict(lr=0.01)),
}
FIT = dict(epochs=3, batch_size=10, seed=3)


def _trainer(case, net, comm):
    kw = dict(clip_norm=case.get("clip_norm"), fused=case["fused"], **case["hyper"])
    if comm is None:
        return fg.Trainer(net, case["loss"], case["optimizer"], **kw)
    return DistributedTrainer(net, case["loss"], case["optimizer"], comm=comm, timeout=60, **kw)


def _sharded_rows(rank, size):
    """Rank r's own rows in the sharded cases: uneven (rank 0 has the most)."""
    cuts = np.linspace(0, ROWS, size + 1).astype(int)
    cuts[1:-1] += 2
    return slice(cuts[rank], cuts[rank + 1])


def run_case(case, rank=0, size=1, comm=None):
    """Train ``case`` (data parallel on ``comm``; ``comm=None``: the single-process reference).
    Returns ``{"w<i>": weights..., "h_<metric>": history...}``."""
    dtype, loss = case["dtype"], case["loss"]
    X, y = data(dtype, loss)
    Xv, yv = data(dtype, loss, rows=7, seed=1)
    net = make_net(dtype, rank if comm is not None else 0)
    hist = None
    mode = case["mode"]
    if mode == "net_fit":
        hist = net.fit(X, y, loss=loss, optimizer=case["optimizer"], validation_data=(Xv, yv),
                       distributed=comm is not None, **FIT, **case["hyper"])
    elif mode == "fit":
        hist = _trainer(case, net, comm).fit(X, y, validation_data=(Xv, yv), **FIT)
    elif mode == "step":
        trainer = _trainer(case, net, comm)
        losses, start = [], 0
        for b in BATCHES:
            losses.append(trainer.step(X[start:start + b], y[start:start + b]))
            start += b
        hist = fg.History()
        hist.history["loss"] = losses
    elif mode == "sharded_step":
        trainer = _trainer(case, net, comm)
        losses = []
        for start in (0, 12):
            Xb, yb = X[start:start + 11], y[start:start + 11]
            if comm is None:
                losses.append(trainer.step(Xb, yb))
            else:  # rank 0 takes 8 rows, the others split the rest (one may get none)
                lo, hi = (0, 8) if rank == 0 else tuple(8 + v for v in shard_bounds(3, rank - 1, size - 1))
                losses.append(trainer.step(Xb[lo:hi], yb[lo:hi], sharded=True))
        hist = fg.History()
        hist.history["loss"] = losses
    elif mode == "sharded_fit":
        trainer = _trainer(case, net, comm)
        if comm is not None:
            part = _sharded_rows(rank, size)
            hist = trainer.fit(X[part], y[part], sharded=True, shuffle=True, **FIT)
        else:  # the same global batches: chunk b of every rank's shuffled rows
            hist = fg.History()
            hist.history["loss"] = []
            ranks = size
            parts = [_sharded_rows(r, ranks) for r in range(ranks)]
            steps = -(-ROWS // FIT["batch_size"])
            rngs = [np.random.default_rng([FIT["seed"], r]) for r in range(ranks)]
            for _ in range(FIT["epochs"]):
                orders = [rng.permutation(len(X[p])) for rng, p in zip(rngs, parts)]
                total = 0.0
                for b in range(steps):
                    idx = np.concatenate([np.arange(ROWS)[p][o[b * len(o) // steps:(b + 1) * len(o) // steps]]
                                          for p, o in zip(parts, orders)])
                    total += trainer.step(X[idx], y[idx]) * len(idx)
                hist.history["loss"].append(total / ROWS)
    out = {f"w{i}": p.data.copy() for i, p in enumerate(net.parameters())}
    for key, values in hist.history.items():
        out[f"h_{key}"] = np.array(values)
    return out


def train(outdir, comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    results = {}
    for name, case in CASES.items():
        for key, value in run_case(case, rank, size, comm).items():
            results[f"{name}/{key}"] = value
    # Callbacks: early stopping on every rank, the checkpoint written by rank 0 only.
    X, y = data("float64", "cross_entropy")
    net = make_net("float64", rank)
    ckpt = os.path.join(outdir, "ckpt-{epoch}.npz")
    es = fg.EarlyStopping(monitor="loss", patience=0, min_delta=10.0,
                          restore_best_weights=False)
    checkpoint = fg.ModelCheckpoint(ckpt)
    hist = net.fit(X, y, loss="cross_entropy", optimizer="sgd", lr=0.1, epochs=5, seed=None,
                   callbacks=[es, checkpoint], distributed=True)
    results["callbacks/epochs"] = np.array(len(hist.epoch))
    results["callbacks/w0"] = net.parameters()[0].data.copy()
    results["local/checkpoints"] = np.array(len(checkpoint.saved))  # differs between ranks
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **results)


class Injected(RuntimeError):
    pass


def fail(scenario, outdir, comm):
    """Failure scenarios; each rank records the error it ends with in rank<r>.txt."""
    rank = comm.Get_rank()
    X, y = data("float64", "cross_entropy", rows=64)
    net = make_net("float64", rank)
    fused = not scenario.endswith("_unfused")
    trainer = DistributedTrainer(net, "cross_entropy", "sgd", lr=0.1, fused=fused, comm=comm,
                                 timeout=3 if scenario == "hang" else 60)
    callbacks = []
    if rank == 1 and scenario.startswith(("step", "hang", "die")):
        calls = [0]
        original = trainer._local_loss_and_grad

        def local(*args):
            calls[0] += 1
            if calls[0] == 5:
                if scenario == "hang":
                    time.sleep(120)
                if scenario == "die":
                    os._exit(7)
                raise Injected("injected failure in the 5th step")
            return original(*args)

        trainer._local_loss_and_grad = local
    if scenario == "callback":  # rank 0 cannot write its checkpoint
        callbacks = [fg.ModelCheckpoint(os.path.join(outdir, "no", "such", "dir", "ckpt.npz"))]
    batch_size = 8
    if scenario == "mismatch" and rank == 1:  # other data and batch size than rank 0
        X, batch_size = X * 2, 16
    try:
        trainer.fit(X, y, epochs=3, batch_size=batch_size, callbacks=callbacks)
    except Exception as exc:
        with open(os.path.join(outdir, f"rank{rank}.txt"), "w") as f:
            f.write(f"{type(exc).__name__}: {exc}")
        raise
    with open(os.path.join(outdir, f"rank{rank}.txt"), "w") as f:
        f.write("finished")


if __name__ == "__main__":
    from mpi4py import MPI

    what, outdir = sys.argv[1], sys.argv[2]
    if what == "train":
        train(outdir, MPI.COMM_WORLD)
    else:
        fail(what, outdir, MPI.COMM_WORLD)
