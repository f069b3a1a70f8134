"""Data-parallel training on MPI: ``DistributedTrainer`` and ``Net.fit(..., distributed=True)``.

Every process (an MPI *rank*) holds a replica of the net and computes the gradient of its slice
of each global batch; one in-place ``Allreduce`` per step sums the gradients, and every rank
applies the same optimizer update, so the replicas stay identical. Launch any script with
``mpiexec``::

    mpiexec -n 4 python -m mpi4py train.py      # train.py calls net.fit(..., distributed=True)

(``python -m mpi4py`` aborts the whole job when a rank dies of an uncaught exception anywhere in
the script; run without ``mpiexec`` the same script trains as one rank.) Needs ``mpi4py`` and an
MPI library: ``pip install 'fastgd[mpi]'`` brings ``mpi4py`` and the ``mpich`` wheel; on a cluster
build ``mpi4py`` against the cluster's MPI instead.

The step, on each of the ``R`` ranks, for a global batch of ``N`` rows of which rank ``r`` holds
``n_r`` (``np.array_split`` sizes: they differ by at most one, and may be 0)::

    g_r, L_r = gradient and mean loss over the rank's n_r rows      (no update)
    buf      = [g_r · n_r/N | L_r · n_r/N | n_r | N | flags]       (the flat grad buffer + slots)
    Allreduce(IN_PLACE, buf, SUM)   ->  g = Σ n_r g_r / N,  L = Σ n_r L_r / N   (the global mean)
    clip g by its global norm (if asked), optimizer update           (identical on every rank)

so the weights equal single-process training on the same global batches, to float rounding.
(With ``sharded`` data ``N`` is not known locally: ranks send ``g_r · n_r`` and divide the sum by
the reduced ``Σ n_r``.)
The loss, the row counts and an error flag travel in slots after the gradients (the loss as two
words, so float32 nets keep its double precision): one message per step.

Data: ``fit`` and ``step`` take the *global* data on every rank (same arrays, same ``seed``:
the same shuffle everywhere) and each rank reads only its rows of each batch. When each process
can only load its own part, pass ``sharded=True``: ``X, y`` are then this rank's rows; each
epoch splits every rank's shuffled rows into ``ceil(total rows / batch_size)`` chunks, and step
``b`` averages chunk ``b`` of every rank, weighted by rows (see ``DistributedTrainer.fit``).

Failures: an exception on one rank inside ``fit`` or ``step`` (bad data, a callback that fails
to write a file) is caught there and reported to every rank at the next collective through the
error flag: every rank raises ``RankError`` naming the failing rank(s) and their messages, and
no update is applied. A rank that never arrives (stuck, deadlocked) makes the others abort the
job after ``timeout`` seconds with a message; a rank that dies makes ``mpiexec`` end the job.
Neither is a silent hang.

Example:
    >>> net = fg.Net([fg.Linear(784, 256), fg.ReLU(), fg.Linear(256, 10)], seed=0)
    >>> hist = net.fit(X, y, loss="cross_entropy", optimizer="sgd", lr=0.1, momentum=0.9,
    ...                batch_size=128, epochs=5, distributed=True)   # under mpiexec -n 4
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import optim
from .callbacks import Callback, History
from .fused import NotFusable, flatten
from .losses import Loss, check_sample_weight
from .net import Net, training_mode
from .sparse import CsrRows
from .trainer import Trainer, _FitArgs, _Plan

__all__ = ["DistributedTrainer", "RankError", "shard_bounds"]

# Slots after the gradients in the reduced buffer: the loss (high and low word), the rows, the
# claimed global batch size, the number of ranks passing sharded data, the number of failures,
# the sum of the sample weights and the number of ranks passing them.
_LOSS_HI, _LOSS_LO, _ROWS, _CLAIMED, _SHARDED, _FAILED, _WSUM, _WEIGHTED = range(8)
_SLOTS = 8


_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def _mpi() -> Any:
    """``mpi4py.MPI``, imported on first use (it initialises MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "fastgd.distributed needs mpi4py and an MPI library: pip install 'fastgd[mpi]' "
            "(mpi4py and the mpich wheel), or on a cluster build mpi4py against its MPI "
            f"(pip install mpi4py --no-binary mpi4py). Original error: {exc}") from exc
    return MPI


class RankError(RuntimeError):
    """One or more ranks failed during data-parallel training; raised on *every* rank.

    Raised at the collective after the failure, so all ranks stop together (no update of that
    step is applied anywhere). On the failing rank the original exception is the ``__cause__``.

    Attributes:
        failures: ``{rank: "what failed: Type: message\\n<traceback>"}``.

    Example:
        >>> try:
        ...     trainer.fit(X, y)
        ... except fg.distributed.RankError as e:
        ...     print(sorted(e.failures))     # [1]
    """

    def __init__(self, failures: dict[int, str], size: int) -> None:
        self.failures = dict(failures)
        lines = []
        for rank, text in sorted(failures.items()):
            head, _, tb = text.partition("\n")
            lines.append(f"rank {rank} of {size} failed {head}")
            if tb.strip():
                lines.append("  " + tb.strip().replace("\n", "\n  "))
        super().__init__("data-parallel training stopped on every rank because "
                         + ", ".join(f"rank {r}" for r in sorted(failures)) + " failed (no rank "
                         "applied an update after the failure: the replicas are still identical):\n"
                         + "\n".join(lines))


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``n`` rows that ``rank`` of ``size`` takes:
    ``np.array_split`` sizes (the first ``n % size`` ranks get one row more; some get 0 when
    ``n < size``).

    Example:
        >>> [shard_bounds(10, r, 3) for r in range(3)]
        [(0, 4), (4, 7), (7, 10)]
    """
    q, extra = divmod(n, size)
    lo = rank * q + min(rank, extra)
    return lo, lo + q + (rank < extra)


class DistributedTrainer(Trainer):
    """A ``Trainer`` whose replicas on all MPI ranks train as one (data parallel).

    Same API as ``Trainer``: ``step(X, y)`` on a global batch returns its global mean loss and
    ``fit`` the same ``History`` on every rank. The constructor is collective: it checks that
    every rank built the same net, then broadcasts rank 0's weights and optimizer state (so
    replicas start identical even from different seeds). See the module docstring for the
    step, data layout and failure handling.

    Args:
        net, loss, optimizer, clip_norm, fused, **optimizer_hyper: as for ``Trainer``. The
            fused C++ path splits into ``loss_and_grad`` and ``update`` around the Allreduce;
            both paths give the same results. Clipping uses the global norm of the averaged
            gradient.
        comm: the ``mpi4py`` communicator (default ``MPI.COMM_WORLD``).
        timeout: seconds a rank waits for the others at one collective before it aborts the
            job with a message (a rank is stuck); None waits forever. Time in collectives is
            the imbalance between ranks, not the compute, so the default (600 s) only needs
            raising when e.g. rank 0 writes huge checkpoints.

    Attributes:
        rank, size: this process's rank and the number of ranks.
        timings: seconds spent so far in ``"compute"`` (local forward+backward), ``"allreduce"``
            (including waiting for slower ranks) and ``"update"``, and ``"steps"``;
            ``reset_timings()`` zeroes them.

    Example:
        >>> trainer = DistributedTrainer(net, "cross_entropy", "adam", lr=1e-3)
        >>> for Xb, yb in global_batches:          # the same batches on every rank
        ...     loss = trainer.step(Xb, yb)        # each rank computes its rows of the batch
    """

    _grad_slots = _SLOTS

    def __init__(self, net: Net, loss: str | Loss = "mse", optimizer: Any = "sgd",
                 clip_norm: float | None = None, fused: bool = True, *, comm: Any = None,
                 timeout: float | None = 600.0, **optimizer_hyper: Any) -> None:
        MPI = _mpi()
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                    or not 0 < timeout < math.inf):
            raise ValueError(f"DistributedTrainer: timeout must be a positive number of seconds "
                             f"or None, got {timeout!r}")
        self.timeout = None if timeout is None else float(timeout)
        self._error: tuple[str, BaseException, str] | None = None
        self._collective = False  # the exception being raised is raised on every rank
        self._where = ""
        self.reset_timings()
        signature: Any = None
        with self._guard("while building the trainer"):
            super().__init__(net, loss, optimizer, clip_norm, fused, **optimizer_hyper)
            if self._closure:
                raise ValueError("DistributedTrainer: LBFGS re-evaluates the loss inside its step; "
                                 "data-parallel training supports the one-gradient optimizers "
                                 "(SGD, Adam, AdamW, ...)")
            self._params = net.parameters()
            try:
                self._data, self._grad = flatten(self._params, _SLOTS)
            except NotFusable:
                raise ValueError("DistributedTrainer: the net has no parameters to train") from None
            self._slots: np.ndarray = self._grad.base  # type: ignore[assignment]
            signature = ([(name, p.shape, str(p.dtype)) for name, p in net.named_parameters()],
                         [type(layer).__name__ for layer in net.layers], type(self.optimizer).__name__,
                         self.loss.name or type(self.loss).__name__, self.clip_norm)
        gathered = self._allgather(signature, "the trainer's construction")
        if any(g != gathered[0] for g in gathered):
            bad = [r for r, g in enumerate(gathered) if g != gathered[0]]
            raise self._everyone(ValueError(
                f"DistributedTrainer: ranks {bad} built a different net, loss, optimizer or "
                f"clip_norm than rank 0; every rank must build the same model"))
        self._wait(self.comm.Ibcast(self._data, root=0), "the broadcast of rank 0's weights")
        state = self.comm.bcast(self.optimizer.state_dict() if self.rank == 0 else None, root=0)
        if self.rank != 0:
            self.optimizer.load_state_dict(state)

    # ------------------------------------------------------------------ collectives

    def reset_timings(self) -> None:
        """Zero ``timings``."""
        self.timings: dict[str, float] = {"steps": 0, "compute": 0.0, "allreduce": 0.0, "update": 0.0}

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Catch an exception of this rank and keep it for the next collective, which tells
        every rank (a rank that raised alone would leave the others waiting for it)."""
        try:
            yield
        except Exception as exc:
            self._keep(what, exc)

    def _keep(self, what: str, exc: Exception) -> None:
        """Keep this rank's first exception (``what`` it was doing, where) for the next collective."""
        if self._error is None:
            where = f" at {self._where}" if self._where else ""
            self._error = (what + where, exc, traceback.format_exc())

    def _everyone(self, exc: BaseException) -> BaseException:
        """Mark ``exc`` as raised on every rank (not a reason to abort the job)."""
        self._collective = True
        return exc

    def _wait(self, request: Any, what: str) -> None:
        """Complete a non-blocking collective, aborting the job after ``timeout`` seconds."""
        if self.timeout is None:
            request.Wait()
            return
        start = time.perf_counter()
        deadline = start + self.timeout
        while not request.Test():
            now = time.perf_counter()
            if now - start > 1e-3:  # a long wait: leave the core to ranks that share it
                _yield()
            if now > deadline:
                self._abort(f"waited {self.timeout:g} s for the other ranks at {what}"
                            f"{self._where and ' (at ' + self._where + ')'}: a rank is stuck, "
                            f"deadlocked or far slower (raise timeout= if that is expected)")

    def _abort(self, why: str) -> None:
        print(f"fastgd.distributed: rank {self.rank} of {self.size} {why}; aborting the MPI job",
              file=sys.stderr, flush=True)
        time.sleep(0.5)  # let mpiexec forward the message before it tears the job down
        self.comm.Abort(1)

    def _allreduce(self, buf: np.ndarray, what: str) -> None:
        if self.size > 1:
            self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM), what)

    def _allgather(self, obj: Any, what: str) -> list[Any]:
        """Gather ``(this rank's error or None, obj)``; raise ``RankError`` everywhere if any
        rank failed, else return every rank's ``obj``."""
        self._wait(self.comm.Ibarrier(), what)
        pairs = self.comm.allgather((self._error_text(), obj))
        self._error_check([e for e, _ in pairs])
        return [o for _, o in pairs]

    def _error_text(self) -> str | None:
        if self._error is None:
            return None
        what, exc, tb = self._error
        return f"{what}: {type(exc).__name__}: {exc}\n{tb}"

    def _error_check(self, texts: list[str | None]) -> None:
        failures = {r: t for r, t in enumerate(texts) if t}
        if failures:
            cause = None if self._error is None else self._error[1]
            self._error = None
            if cause is not None and len(failures) == self.size:
                raise self._everyone(cause)  # every rank failed: each raises its own error
            raise self._everyone(RankError(failures, self.size)) from cause

    def _sync(self, what: str, *values: float) -> np.ndarray:
        """Allreduce-sum ``values`` (float64) and this rank's error flag; raise ``RankError``
        on every rank if any failed."""
        buf = np.array([*values, self._error is not None], np.float64)
        self._allreduce(buf, what)
        if buf[-1]:
            self._error_check(self.comm.allgather(self._error_text()))
        return buf[:-1]

    # ------------------------------------------------------------------ the step

    def step(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, *,
             sharded: bool = False) -> float:
        """One data-parallel training step in train mode; returns the global batch's mean loss
        (before the update). Collective: every rank calls it.

        Args:
            X, y: the global batch, the same on every rank (each rank computes rows
                ``shard_bounds(len(X), rank, size)``); with ``sharded=True``, this rank's rows
                of it instead (any number, 0 included): the global batch is their union.
            sample_weight: weights of the rows of ``X`` (all ranks or none pass them): the
                global loss is ``Σ wᵢ ℓᵢ / Σ wᵢ`` over the whole batch.

        Example:
            >>> loss = trainer.step(X[i:i + 512], y[i:i + 512])   # the same call on every rank
        """
        with training_mode(self.net, True):
            if sharded:
                return self._step(X, y, None, sample_weight)
            Xl, yl, wl, n = X, y, sample_weight, 0
            try:
                n = len(X)
                lo, hi = shard_bounds(n, self.rank, self.size)
                Xl, yl = X[lo:hi], y[lo:hi]
                if sample_weight is not None:
                    wl = check_sample_weight(sample_weight, n, self.net.dtype)[lo:hi]
            except Exception as exc:
                self._keep("while slicing its rows of the batch", exc)
            return self._step(Xl, yl, n, wl)

    def _flat_slots(self) -> np.ndarray:
        """The flat grad buffer with its slots (re-made if the parameters moved)."""
        p0 = self._params[0]
        if p0.grad.base is not self._slots or p0.data.base is not self._data:
            if self._fused:
                self._fused.sync_state()
                self.optimizer._state_hooks.remove(self._on_optimizer_state)
            self._fused = None
            self._data, self._grad = flatten(self._params, _SLOTS)
            self._slots = self._grad.base  # type: ignore[assignment]
        return self._slots

    def _local_loss_and_grad(self, X: np.ndarray, y: np.ndarray, fused: bool,
                             w: np.ndarray | None = None) -> float:
        """Loss and gradient (into the flat buffer) of this rank's rows (weighted mean with
        ``w``)."""
        if fused:
            self._last_output = None
            if w is None:
                return self._fused.loss_and_grad(X, y)  # validates X and y in C++
            return self._fused.loss_and_grad(X, y, w)
        return self._backprop(X, y, w)

    def _step(self, X: np.ndarray, y: np.ndarray, N: int | None, w: np.ndarray | None = None) -> float:
        """Loss and gradient of this rank's ``X, y`` (weights ``w``), the Allreduce, the
        update. ``N`` is the global batch size, or None when every rank passed its own rows
        (``sharded``). Sets ``_rows`` (global rows) and ``_weight`` (the batch's weight in the
        epoch's mean: its rows, or its summed sample weights)."""
        t0 = time.perf_counter()
        slots = self._flat_slots()
        P = len(self._grad)
        n, value, fused, wsum = 0, 0.0, False, 0.0
        if self._error is None:
            try:
                # Every rank takes the same path (fused or not), so the updates stay bit-identical.
                fused = bool(self.fused and self._fused_step())
                n = len(X)
                if w is not None:
                    w = check_sample_weight(w, n, self.net.dtype)
                    wsum = float(w.sum())
                if n and (w is None or wsum > 0):
                    value = self._local_loss_and_grad(X, y, fused, w)
                else:  # no rows (a tiny last batch on many ranks) or no weight: contribute nothing
                    self._grad[...] = 0
                    self._last_output = np.empty((0, self.net.output_features(X.shape[1])), self.net.dtype)
            except Exception as exc:
                self._keep("while computing its rows of the batch", exc)
        failed = self._error is not None
        if failed:
            n, value, wsum = 0, 0.0, 0.0
        if w is not None:  # weighted: send Σ wᵢ ∇ℓᵢ, divide by the reduced Σ wᵢ
            weight = wsum
        else:
            weight = (n / N if N else 0.0) if N is not None else float(n)
        if n and weight != 1.0:
            self._grad *= self._grad.dtype.type(weight)
        loss = value * weight
        hi = float(slots.dtype.type(loss))
        tail = slots[P:]
        tail[_LOSS_HI], tail[_LOSS_LO], tail[_ROWS] = hi, loss - hi, n
        tail[_CLAIMED], tail[_SHARDED], tail[_FAILED] = 0 if N is None else N, N is None, failed
        tail[_WSUM], tail[_WEIGHTED] = wsum, w is not None
        t1 = time.perf_counter()
        if self.size > 1:
            self._allreduce(slots, "the gradient Allreduce")
        t2 = time.perf_counter()
        s = tail.tolist()
        if s[_FAILED]:
            self._error_check(self.comm.allgather(self._error_text()))
        rows, sharded, weighted = s[_ROWS], s[_SHARDED], s[_WEIGHTED]
        if sharded not in (0, self.size):
            raise self._everyone(ValueError(
                f"DistributedTrainer.step: {int(sharded)} of {self.size} ranks passed sharded=True; "
                "all or none must"))
        if weighted not in (0, self.size):
            raise self._everyone(ValueError(
                f"DistributedTrainer.step: {int(weighted)} of {self.size} ranks passed sample_weight; "
                "all or none must"))
        if not sharded and s[_CLAIMED] != self.size * rows:
            raise self._everyone(ValueError(
                "DistributedTrainer.step: the ranks passed global batches of different sizes; pass "
                "the same batch on every rank (or each rank's own rows with sharded=True)"))
        if rows == 0:
            raise self._everyone(ValueError("DistributedTrainer.step: the batch has no samples on any rank"))
        loss = s[_LOSS_HI] + s[_LOSS_LO]
        self._rows = int(rows)
        self._weight = float(rows)
        if weighted:
            self._weight = total = s[_WSUM]
            if not total > 0:  # the whole batch weighs nothing: no update, as in Trainer.step
                return 0.0
            self._grad *= self._grad.dtype.type(1.0 / total)
            loss /= total
        elif sharded:
            self._grad *= self._grad.dtype.type(1.0 / rows)
            loss /= rows
        if fused:
            self._fused.update()
        else:
            if self.clip_norm is not None:
                optim.clip_grad_norm(self._params, self.clip_norm)
            self.optimizer.step()
        t3 = time.perf_counter()
        timings = self.timings
        timings["steps"] += 1
        timings["compute"] += t1 - t0
        timings["allreduce"] += t2 - t1
        timings["update"] += t3 - t2
        return float(loss)

    # ------------------------------------------------------------------ fit: Trainer.fit's loop

    def fit(self, X: np.ndarray, y: np.ndarray, *, sharded: bool = False, **kwargs: Any) -> History:
        """Data-parallel ``Trainer.fit``: the same arguments and the same ``History`` on every
        rank (metrics reduced across ranks). Collective: every rank calls it.

        Without ``sharded`` every rank passes the whole data set (checked: same size, same
        sampled rows, same ``seed``; ``seed=None`` uses rank 0's fresh seed), every epoch
        shuffles it the same way everywhere, and each rank computes its
        ``shard_bounds`` rows of each global batch of ``batch_size``; the weights equal
        ``Trainer.fit``'s to float rounding. ``validation_data`` is split across the ranks too.

        With ``sharded=True`` ``X, y`` (and ``validation_data``, ``sample_weight``) are this
        rank's part of the data; there are ``ceil(total rows / batch_size)`` steps per epoch,
        each averaging one of that many near-equal chunks of every rank's (shuffled, from
        ``[seed, rank]``) rows.

        Only rank 0 shows progress and runs ``rank_zero_only`` callbacks (checkpoints); the
        others run on every rank with the same logs, so early stopping stops all ranks at once.
        The loop is ``Trainer.fit``'s; this class only replaces its pieces (how the data are
        split, the step with its Allreduce, the reduction of the metrics, the callbacks).
        """
        self._collective = False
        self._sharded = bool(sharded)
        try:
            return super().fit(X, y, **kwargs)
        except BaseException as exc:
            if self.size > 1 and not self._collective:
                traceback.print_exc()
                self._abort(f"raised {type(exc).__name__}: {exc} outside a checked section of fit, "
                            "so the other ranks cannot learn of it")
            raise
        finally:
            self._collective = False
            self._where = ""

    @property
    def _is_root(self) -> bool:  # type: ignore[override]
        return self.rank == 0

    def _fit_args(self, *args: Any) -> _FitArgs:
        """Check the arguments on every rank, then agree: same settings everywhere and (not
        sharded) the same data and seed (``seed=None``: rank 0's fresh seed)."""
        sharded = self._sharded
        info: dict[str, Any] = {}
        run: Any = None
        with self._guard("while checking fit's arguments"):
            run = self._check_fit_args(*args)
            info = {"sharded": sharded, "epochs": run.epochs, "batch_size": run.batch_size,
                    "shuffle": run.shuffle, "validation": run.val is not None,
                    "weighted": run.w is not None, "seed_given": run.seed is not None}
            if not sharded:
                drawn = int(np.random.SeedSequence().entropy % 2**63)  # type: ignore[operator]
                info.update(rows=len(run.X), seed=drawn if run.seed is None else run.seed,
                            data=_fingerprint(run.X, run.y, run.w),
                            val_data=None if run.val is None else _fingerprint(*run.val))
        infos = self._allgather(info, "the start of fit")
        if not any(i.get("seed_given") or i.get("sharded") for i in infos):
            for i in infos:  # seed=None everywhere: rank 0's fresh seed for everyone
                i["seed"] = infos[0]["seed"]
        differ = sorted({k for i in infos for k in i if i.get(k) != infos[0].get(k)})
        if differ:
            bad = [r for r, i in enumerate(infos) if i != infos[0]]
            raise self._everyone(ValueError(
                f"DistributedTrainer.fit: ranks {bad} differ from rank 0 in {differ}. Without "
                "sharded=True every rank must pass the same data, batch_size, epochs, shuffle "
                "and seed; with sharded=True, the same settings"))
        if not sharded:
            run.seed = infos[0]["seed"]
        return run  # type: ignore[no-any-return]

    def _fit_plan(self, run: _FitArgs) -> _Plan:
        """Global batches over the (same) data of every rank, or chunks of each rank's rows
        (``sharded``); the validation set split across the ranks."""
        n = len(run.X)
        if self._sharded:
            total = int(self._sync("the start of fit", n)[0])
            rng = np.random.default_rng(None if run.seed is None else [run.seed, self.rank])
        else:
            total = n
            rng = np.random.default_rng(run.seed)
        val = run.val
        if val is not None and not self._sharded:
            lo, hi = shard_bounds(len(val[0]), self.rank, self.size)
            val = (val[0][lo:hi], val[1][lo:hi], None if val[2] is None else val[2][lo:hi])
        return _Plan(rows=n, total=total, steps=-(-total // run.batch_size), batch_size=run.batch_size,
                     rng=rng, seed=run.seed, val=val,
                     params={"ranks": self.size, "sharded": self._sharded})

    def _batch_bounds(self, plan: _Plan, b: int) -> tuple[int, int, int | None]:
        """This rank's rows of global batch ``b``: its ``shard_bounds`` slice, or (sharded) its
        ``b``-th of ``steps`` near-equal chunks."""
        if self._sharded:
            return b * plan.rows // plan.steps, (b + 1) * plan.rows // plan.steps, None
        start = b * plan.batch_size
        rows = min(plan.batch_size, plan.rows - start)
        lo, hi = shard_bounds(rows, self.rank, self.size)
        return start + lo, start + hi, rows

    def _train_batch(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                     global_rows: int | None) -> tuple[float, float]:
        value = self._step(X, y, global_rows, w)
        return value, self._weight

    def _reduce(self, what: str, *values: float) -> tuple[float, ...]:
        return tuple(float(v) for v in self._sync(what, *values))

    def _hook(self, callbacks: list[Callback], hook: str, *args: Any) -> bool:
        """Run ``hook`` of every callback, then a collective that raises everywhere if one
        failed on any rank; returns whether any rank asks to stop training."""
        for cb in callbacks:
            if self._error is not None:
                break
            with self._guard(f"in {type(cb).__name__}.{hook}"):
                getattr(cb, hook)(*args)
        stop = self._sync(f"the callbacks' {hook}", self.stop_training)
        self.stop_training = bool(stop[0])
        return self.stop_training

    def __repr__(self) -> str:
        return (f"DistributedTrainer(rank={self.rank}, size={self.size}, loss={self.loss!r}, "
                f"optimizer={type(self.optimizer).__name__}, clip_norm={self.clip_norm})")


def _fingerprint(*arrays: np.ndarray | None) -> tuple[Any, ...]:
    """A cheap checksum of the shapes and ~64 sampled rows of each array: catches ranks that
    loaded different data (e.g. an unseeded train/test split) without reading it all."""
    out: list[Any] = []
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        stride = max(1, len(a) // 64)
        rows = a[::stride]
        if isinstance(rows, CsrRows):  # a sparse X: the gathered rows' CSR arrays
            blob = rows.indptr.tobytes() + rows.indices.tobytes() + rows.data.tobytes()
        else:
            blob = np.ascontiguousarray(rows).tobytes()
        out += [a.shape, zlib.crc32(blob)]
    return tuple(out)
