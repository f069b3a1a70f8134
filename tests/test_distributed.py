"""Data-parallel training on MPI: real ``mpiexec -n 2`` / ``-n 3`` jobs on this machine.

The jobs run ``_mpi_worker.py``: every case there (fit and step, fused and not, SGD with momentum,
Adam with clipping, AdamW in float32, a batch of 10 on 3 ranks over 23 rows, ranks with no rows,
sharded data) must end with identical replicas on every rank that equal single-process training
on the same global batches; failing, stuck and dying ranks must end the job with a clear error
within a timeout. Every subprocess has a timeout: a hang fails the test instead of hanging it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import fastgd as fg
import numpy as np
import pytest
from fastgd.distributed import DistributedTrainer, shard_bounds

HERE = Path(__file__).parent
WORKER = HERE / "_mpi_worker.py"
TOL = {"float64": (1e-12, 1e-13), "float32": (2e-5, 2e-6)}


def _mpiexec() -> str | None:
    sibling = Path(sys.executable).parent / "mpiexec"
    return str(sibling) if sibling.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="needs mpi4py and mpiexec: pip install 'fastgd[mpi]'")


def mpirun(ranks: int, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the worker under ``mpiexec -n ranks`` (one BLAS thread per rank); returns the
    completed process and its wall time."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    t0 = time.perf_counter()
    result = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(WORKER), *args],  # type: ignore[list-item]
                            capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE)
    return result, time.perf_counter() - t0


def test_shard_bounds_cover_the_batch_in_array_split_sizes():
    for n in range(0, 12):
        for size in range(1, 5):
            bounds = [shard_bounds(n, r, size) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert [hi - lo for lo, hi in bounds] == [len(p) for p in np.array_split(np.arange(n), size)]


@pytest.mark.parametrize("optimizer,hyper", [("sgd", dict(lr=0.1, momentum=0.9)), ("adam", dict(lr=0.01))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_engine_update_after_loss_and_grad_equals_step(optimizer, hyper, dtype):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 5)).astype(dtype), rng.integers(0, 3, 20)
    a = fg.Net([fg.Linear(5, 8), fg.ReLU(), fg.Linear(8, 3)], dtype=dtype, seed=0)
    b = a.copy()
    one = fg.Trainer(a, "cross_entropy", optimizer, clip_norm=0.5, **hyper)
    two = fg.Trainer(b, "cross_entropy", optimizer, clip_norm=0.5, **hyper)
    for _ in range(4):
        loss = one.step(X, y)
        assert two._fused_step().loss_and_grad(X, y) == loss
        two._fused.update()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert one.optimizer.state_dict()["state"][0]  # the state was kept in both
    for key, value in one.optimizer.state_dict()["state"][0].items():
        np.testing.assert_array_equal(value, two.optimizer.state_dict()["state"][0][key])


def test_without_mpi4py_distributed_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    net = fg.Net([fg.Linear(2, 1)], seed=0)
    X, y = np.ones((4, 2), np.float32), np.ones(4, np.float32)
    with pytest.raises(ImportError, match=r"pip install 'fastgd\[mpi\]'"):
        net.fit(X, y, epochs=1, distributed=True)
    with pytest.raises(ImportError, match="mpi4py"):
        DistributedTrainer(net)


@needs_mpi
def test_without_mpiexec_it_trains_as_one_rank_exactly_like_trainer():
    code = textwrap.dedent("""
        import numpy as np, fastgd as fg
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((23, 4)), rng.integers(0, 3, 23)
        kw = dict(epochs=3, batch_size=10, validation_data=(X[:5], y[:5]))
        for fused in (True, False):
            a = fg.Net([fg.Linear(4, 6), fg.Tanh(), fg.Linear(6, 3)], dtype="float64", seed=0)
            b, c = a.copy(), a.copy()
            ha = fg.Trainer(a, "cross_entropy", "adam", clip_norm=0.5, fused=fused, lr=0.01).fit(X, y, **kw)
            t = fg.distributed.DistributedTrainer(b, "cross_entropy", "adam", clip_norm=0.5, fused=fused,
                                                  lr=0.01)
            hb = t.fit(X, y, **kw)
            assert t.size == 1 and t.timings["steps"] == 9
            assert ha.history == hb.history, (ha.history, hb.history)
            if fused:
                hc = c.fit(X, y, loss="cross_entropy", optimizer="adam", lr=0.01, clip_norm=0.5,
                           distributed=True, **kw)
                assert hc.history == ha.history
            for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
                assert np.array_equal(p.data, q.data) and (not fused or np.array_equal(p.data, r.data))
        print("ok")
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_replicas_equal_single_process_training(ranks, tmp_path):
    import _mpi_worker as worker

    result, _ = mpirun(ranks, "train", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    out = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(ranks)]
    for other in out[1:]:  # identical replicas, bit for bit
        for key, value in out[0].items():
            if not key.startswith("local/"):
                np.testing.assert_array_equal(other[key], value, err_msg=key)
    for name, case in worker.CASES.items():
        rtol, atol = TOL[case["dtype"]]
        reference = worker.run_case(case, 0, ranks, None)
        for key, value in reference.items():
            np.testing.assert_allclose(out[0][f"{name}/{key}"], value, rtol=rtol, atol=atol,
                                       err_msg=f"{name}: {key} on {ranks} ranks")
    # Early stopping stopped every rank after epoch 2; only rank 0 wrote the checkpoints.
    assert int(out[0]["callbacks/epochs"]) == 2
    assert [int(o["local/checkpoints"]) for o in out] == [2] + [0] * (ranks - 1)
    saved = fg.Net.load(tmp_path / "ckpt-2.npz")
    np.testing.assert_array_equal(saved.parameters()[0].data, out[0]["callbacks/w0"])


@needs_mpi
@pytest.mark.parametrize("scenario,failing,message", [
    ("step", 1, "Injected: injected failure in the 5th step"),
    ("step_unfused", 1, "Injected: injected failure in the 5th step"),
    ("callback", 0, "in ModelCheckpoint.on_epoch_end at the end of epoch 1/3: FileNotFoundError"),
])
def test_a_failing_rank_stops_every_rank_with_a_rank_error(scenario, failing, message, tmp_path):
    result, seconds = mpirun(2, scenario, str(tmp_path))
    assert result.returncode != 0
    assert "RankError" in result.stderr and message in result.stderr
    for rank in range(2):  # every rank ended with the same error, naming the failing rank
        text = (tmp_path / f"rank{rank}.txt").read_text()
        assert text.startswith("RankError: data-parallel training stopped on every rank"), text
        assert f"rank {failing} of 2 failed" in text and message in text
    assert seconds < 30


@needs_mpi
def test_ranks_that_disagree_on_the_data_raise_everywhere(tmp_path):
    result, _ = mpirun(2, "mismatch", str(tmp_path))
    assert result.returncode != 0
    for rank in range(2):
        text = (tmp_path / f"rank{rank}.txt").read_text()
        assert text.startswith("ValueError: DistributedTrainer.fit: ranks [1] differ from rank 0 in "
                               "['batch_size', 'data']"), text


@needs_mpi
def test_a_stuck_rank_makes_the_others_abort_after_the_timeout(tmp_path):
    result, seconds = mpirun(2, "hang", str(tmp_path))  # rank 1 sleeps 120 s in a step; timeout=3
    assert result.returncode != 0
    assert "rank 0 of 2 waited 3 s for the other ranks at the gradient Allreduce" in result.stderr
    assert "aborting the MPI job" in result.stderr
    assert seconds < 30


@needs_mpi
def test_a_dying_rank_ends_the_job(tmp_path):
    result, seconds = mpirun(2, "die", str(tmp_path))  # rank 1 exits mid-training
    assert result.returncode != 0
    assert seconds < 30


def test_model_checkpoint_saves_every_epoch_or_on_improvement(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    net = fg.Net([fg.Linear(3, 4), fg.ReLU(), fg.Linear(4, 2)], dtype="float64", seed=0)
    every = fg.ModelCheckpoint(str(tmp_path / "e{epoch}-{loss:.3f}.npz"))
    best = fg.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="val_accuracy")
    assert fg.ModelCheckpoint.rank_zero_only and not fg.EarlyStopping.rank_zero_only
    hist = net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=4,
                   validation_data=(X[:10], y[:10]), callbacks=[every, best])
    assert [Path(p).name for p in every.saved] == [
        f"e{e + 1}-{v:.3f}.npz" for e, v in enumerate(hist.history["loss"])]
    accs = hist.history["val_accuracy"]
    assert len(best.saved) == sum(a > max(accs[:i], default=-1) for i, a in enumerate(accs))
    last, opt = fg.Net.load(every.saved[-1], with_optimizer=True)
    for p, q in zip(last.parameters(), net.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt.state_dict()["state"][0]["step"] == 8
    with pytest.raises(ValueError, match="mode must be"):
        fg.ModelCheckpoint("x.npz", mode="up")
