"""Benchmarks: one training step of fastgd against the NumPy reference, PyTorch and JAX.

``python -m fastgd bench`` prints, per workload, the median step time of

* **fastgd**: ``fastgd.Trainer.step`` (the fused C++ step),
* **numpy**: the same step written with ``fastgd.reference`` (the NumPy twins),
* **torch**: ``torch.nn.Sequential`` + ``torch.optim``, eager (when torch is installed),
* **compiled**: the same torch step function under ``torch.compile`` (mode default), and
* **jax**: ``jax.value_and_grad`` + optax, the whole step under ``jax.jit`` with the parameters and
  optimizer state donated, the batch already on the device (when jax and optax are installed),

the ratios (peer time / fastgd time), and the fraction of the machine's measured GEMM peak that
fastgd reaches. Every peer's first-step loss is checked against fastgd's before it is timed. All
peers get the same threads; JAX runs in a subprocess because its thread count (``PJRT_NPROC``) is
read when it starts. ``--fit`` times whole training runs (``Net.fit``, scikit-learn's
``MLPClassifier``, a PyTorch ``DataLoader`` loop).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from typing import IO, Any

import numpy as np

from . import reference as ref

#: The dropout layers' seeds in fastgd's net (layer i: DROPOUT_SEED + i); the NumPy step draws
#: the same masks from them (``reference.dropout``), torch and JAX use their own generators.
DROPOUT_SEED = 1234


def step_flops(sizes: tuple[int, ...], batch: int) -> float:
    """The GEMM FLOPs one training step needs, for Linear layers of ``sizes`` and ``batch`` rows.

    Per Linear(in, out): forward ``Z = X·W`` 2·B·in·out, ``dW = Xᵀ·dZ`` 2·B·in·out, and
    ``dX = dZ·Wᵀ`` 2·B·in·out for every layer but the first (nothing needs the input's gradient).
    Elementwise work (bias, activations, normalisation, loss, update) is not counted.
    """
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2.0 * batch * (2 * sum(pairs) + sum(pairs[1:]))


@dataclass(frozen=True)
class Workload:
    """One benchmark row: an MLP, a batch, a dtype, a loss and an optimizer.

    Every hidden block is ``Linear`` [→ ``BatchNorm1d`` when ``norm``] → activation
    [→ ``Dropout(dropout)`` when ``dropout > 0``]; the last Linear gives the logits/outputs.
    """

    name: str
    sizes: tuple[int, ...]
    activation: str
    batch: int
    dtype: str
    loss: str
    optimizer: str
    hyper: dict[str, Any] = field(default_factory=dict)
    norm: bool = False
    dropout: float = 0.0

    @property
    def flops(self) -> float:
        """GEMM FLOPs of one step (``step_flops``: no dX for the first layer)."""
        return step_flops(self.sizes, self.batch)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        d = json.loads(text)
        d["sizes"] = tuple(d["sizes"])
        return cls(**d)


WORKLOADS = [
    Workload("digits_tiny", (64, 32, 1), "relu", 10, "float64", "bce_with_logits", "sgd", {"lr": 0.01}),
    Workload("mnist_mlp", (784, 256, 10), "relu", 128, "float32", "cross_entropy", "sgd",
             {"lr": 0.01, "momentum": 0.9}),
    Workload("mnist_bn_dropout", (784, 256, 10), "relu", 128, "float32", "cross_entropy", "adam",
             {"lr": 1e-3}, norm=True, dropout=0.2),
    Workload("wide_mlp", (784, 1024, 1024, 10), "relu", 512, "float32", "cross_entropy", "adam",
             {"lr": 1e-3}),
    Workload("seed001_wide", (12288, 64, 1), "sigmoid", 64, "float32", "bce_with_logits", "sgd",
             {"lr": 0.01}),
    Workload("linreg_mse", (16, 1), "relu", 65536, "float32", "mse", "sgd", {"lr": 0.01}),
]


def make_data(w: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and targets of the workload's shapes and dtype."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((w.batch, w.sizes[0])).astype(w.dtype)
    if w.loss == "cross_entropy":
        y = rng.integers(0, w.sizes[-1], w.batch)
    elif w.loss == "bce_with_logits":
        y = (rng.random((w.batch, w.sizes[-1])) > 0.5).astype(w.dtype)
    else:
        y = rng.standard_normal((w.batch, w.sizes[-1])).astype(w.dtype)
    return X, y


def init_params(w: Workload, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised ``(W, b)`` per dense layer, shared by all implementations.

    Normalisation layers start as every library starts them: weight 1, bias 0, running mean 0,
    running variance 1."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(w.dtype), np.zeros(b, w.dtype))
            for a, b in zip(w.sizes[:-1], w.sizes[1:])]


def _hidden(w: Workload) -> int:
    return len(w.sizes) - 2


# ------------------------------------------------------------------------------ numpy


_ACT = {"relu": (ref.relu, lambda Z, A, dA: ref.relu_backward(Z, dA)),
        "sigmoid": (ref.sigmoid, lambda Z, A, dA: ref.sigmoid_backward(A, dA)),
        "tanh": (ref.tanh, lambda Z, A, dA: ref.tanh_backward(A, dA))}
_LOSS = {"mse": ref.mse, "cross_entropy": ref.softmax_cross_entropy,
         "bce_with_logits": ref.bce_with_logits}


def numpy_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[..., float]:
    """The training step a careful NumPy user writes, from the ``fastgd.reference`` twins.

    BatchNorm1d trains on batch statistics and updates its running ones (momentum 0.1, unbiased
    variance, as torch); dropout draws fastgd's masks (``reference.dropout`` with the seeds of
    fastgd's layers), so this step equals fastgd's exactly, dropout included."""
    act, act_bw = _ACT[w.activation]
    loss_fn = _LOSS[w.loss]
    hidden = _hidden(w)
    norms = [{"weight": np.ones(b, w.dtype), "bias": np.zeros(b, w.dtype),
              "running_mean": np.zeros(b, w.dtype), "running_var": np.ones(b, w.dtype)}
             for b in w.sizes[1:-1]] if w.norm else []
    flat = [p for layer in params for p in layer] + [n[k] for n in norms for k in ("weight", "bias")]
    state: list[dict[str, np.ndarray]] = [{} for _ in flat]
    h = dict(w.hyper)
    step_count = [0]

    def step(X: np.ndarray, y: np.ndarray) -> float:
        counter = step_count[0]
        inputs, saved = [X], []
        for i, (W, b) in enumerate(params):
            Z = ref.linear_forward(inputs[-1], W, b)
            if i == hidden:
                break
            s: dict[str, Any] = {"Z": Z}
            if w.norm:
                bn = norms[i]
                Zn, s["mean"], s["var"] = ref.batchnorm_forward(Z, bn["weight"], bn["bias"])
                n = Z.shape[0]
                bn["running_mean"][...] = 0.1 * s["mean"] + 0.9 * bn["running_mean"]
                bn["running_var"][...] = 0.1 * s["var"] * (n / (n - 1)) + 0.9 * bn["running_var"]
                Z = Zn
            s["Zact"] = Z
            A = s["A"] = act(Z)
            if w.dropout:
                A, s["mask"] = ref.dropout(A, w.dropout, DROPOUT_SEED + i, counter)
            saved.append(s)
            inputs.append(A)
        loss, d = loss_fn(Z, y)
        grads: list[np.ndarray] = []
        norm_grads: list[np.ndarray] = []
        for i in range(len(params) - 1, -1, -1):
            W, _ = params[i]
            dX, dW, db = ref.linear_backward(inputs[i], W, d, need_dx=i > 0)
            grads[:0] = [dW, db]
            if i > 0:
                s = saved[i - 1]
                if w.dropout:
                    dX = ref.dropout_backward(s["mask"], dX, w.dropout)
                d = act_bw(s["Zact"], s["A"], dX)
                if w.norm:
                    bn = norms[i - 1]
                    d, dg, dbeta = ref.batchnorm_backward(s["Z"], bn["weight"], s["mean"], s["var"], d)
                    norm_grads[:0] = [dg, dbeta]
        step_count[0] += 1
        for p, g, st in zip(flat, grads + norm_grads, state):
            if w.optimizer == "sgd":
                mom = h.get("momentum", 0.0)
                if mom and "momentum_buffer" not in st:
                    st["momentum_buffer"] = np.zeros_like(p)
                ref.sgd_step(p, g, st.get("momentum_buffer"), lr=h["lr"], momentum=mom,
                             init_buffer=step_count[0] == 1)
            else:
                if not st:
                    st["exp_avg"], st["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
                ref.adam_step(p, g, st["exp_avg"], st["exp_avg_sq"], step=step_count[0], lr=h["lr"])
        return loss

    return step


# ------------------------------------------------------------------------------ fastgd


def fastgd_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[..., float]:
    """``fastgd.Trainer.step`` on a ``Net`` holding copies of ``params``."""
    import fastgd as fg

    acts = {"relu": fg.ReLU, "sigmoid": fg.Sigmoid, "tanh": fg.Tanh}
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(fg.Linear(a, b))
        if i < _hidden(w):
            if w.norm:
                layers.append(fg.BatchNorm1d(b))
            layers.append(acts[w.activation]())
            if w.dropout:
                layers.append(fg.Dropout(w.dropout, seed=DROPOUT_SEED + i))
    net = fg.Net(layers, dtype=w.dtype, seed=0)
    linears = [layer for layer in net.layers if isinstance(layer, fg.Linear)]
    for layer, (W_init, b_init) in zip(linears, params):
        assert layer.W is not None and layer.b is not None
        layer.W.data[...] = W_init
        layer.b.data[...] = b_init
    trainer = fg.Trainer(net, loss=w.loss, optimizer=w.optimizer, **w.hyper)
    return trainer.step


# ------------------------------------------------------------------------------ torch


def torch_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]],
               compiled: bool = False) -> Callable[..., float] | None:
    """The idiomatic PyTorch CPU step (``zero_grad``, forward, loss, backward, ``step``);
    ``compiled``: that step function under ``torch.compile`` (mode default). None: no torch."""
    try:
        import torch
    except ImportError:
        return None
    dtype = getattr(torch, w.dtype)
    acts = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    mods: list[Any] = []
    for i, (W, b) in enumerate(params):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(params) - 1:
            if w.norm:
                mods.append(torch.nn.BatchNorm1d(W.shape[1], dtype=dtype))
            mods.append(acts[w.activation]())
            if w.dropout:
                mods.append(torch.nn.Dropout(w.dropout))
    model = torch.nn.Sequential(*mods)
    loss_fn = {"mse": torch.nn.MSELoss(), "cross_entropy": torch.nn.CrossEntropyLoss(),
               "bce_with_logits": torch.nn.BCEWithLogitsLoss()}[w.loss]
    if w.optimizer == "sgd":
        opt: Any = torch.optim.SGD(model.parameters(), **w.hyper)
    else:
        opt = torch.optim.Adam(model.parameters(), **w.hyper)

    def train_step(tx: Any, ty: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        torch._dynamo.reset()  # a fresh cache per workload: the recompile limit is per code object
        fn: Any = torch.compile(train_step)
    else:
        fn = train_step
    cache: dict[int, tuple[Any, Any]] = {}

    def step(X: np.ndarray, y: np.ndarray) -> float:
        key = id(X)
        if key not in cache:  # conversion is zero-copy, but keep it out of the timed step anyway
            cache[key] = (torch.from_numpy(X), torch.from_numpy(y))
        return float(fn(*cache[key]).item())

    return step


torch_compiled_step = partial(torch_step, compiled=True)


# ------------------------------------------------------------------------------ jax


def jax_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]],
             X: np.ndarray, y: np.ndarray) -> Callable[[], Any] | None:
    """The step as a JAX user who cares about speed writes it: ``jax.value_and_grad`` of the
    loss, optax's ``sgd``/``adam`` (the same update rules as torch's), the whole step under
    ``jax.jit`` with the parameters and optimizer state donated, ``X``/``y`` put on the device
    once. Returns a no-argument step that blocks until the loss is ready (None: no jax/optax).

    BatchNorm1d trains on batch statistics and carries its running ones (momentum 0.1, unbiased
    variance) through the step; dropout draws from a ``jax.random`` key split every step.
    Call it in a process started with ``PJRT_NPROC`` set (``JaxWorker`` does).
    """
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return None
    hidden = _hidden(w)
    acts: dict[str, Callable[..., Any]] = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid,
                                           "tanh": jnp.tanh}
    act = acts[w.activation]
    p: dict[str, Any] = {"dense": [{"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in params]}
    stats: list[dict[str, Any]] = []
    if w.norm:
        p["norm"] = [{"weight": jnp.ones(b, w.dtype), "bias": jnp.zeros(b, w.dtype)} for b in w.sizes[1:-1]]
        stats = [{"mean": jnp.zeros(b, w.dtype), "var": jnp.ones(b, w.dtype)} for b in w.sizes[1:-1]]
    if w.optimizer == "sgd":
        opt = optax.sgd(w.hyper["lr"], momentum=w.hyper.get("momentum") or None)
    else:
        opt = optax.adam(w.hyper["lr"])
    opt_state = opt.init(p)
    label_dtype = np.int64 if w.dtype == "float64" else np.int32  # int64 needs jax_enable_x64
    xd = jax.device_put(X)
    yd = jax.device_put(y.astype(label_dtype) if w.loss == "cross_entropy" else y)
    key = jax.random.key(0)

    def loss_fn(p: Any, stats: Any, key: Any, x: Any, y: Any) -> Any:
        new_stats = []
        keys = jax.random.split(key, max(hidden, 1))
        for i, layer in enumerate(p["dense"]):
            x = x @ layer["W"] + layer["b"]
            if i == hidden:
                break
            if w.norm:
                mean, var = x.mean(axis=0), x.var(axis=0)
                x = (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["norm"][i]["weight"] + p["norm"][i]["bias"]
                n = x.shape[0]
                new_stats.append({"mean": 0.9 * stats[i]["mean"] + 0.1 * mean,
                                  "var": 0.9 * stats[i]["var"] + 0.1 * var * (n / (n - 1))})
            x = act(x)
            if w.dropout:
                keep = jax.random.bernoulli(keys[i], 1.0 - w.dropout, x.shape)
                x = jnp.where(keep, x / (1.0 - w.dropout), 0.0)
        if w.loss == "cross_entropy":
            loss = optax.softmax_cross_entropy_with_integer_labels(x, y).mean()
        elif w.loss == "bce_with_logits":
            loss = optax.sigmoid_binary_cross_entropy(x, y).mean()
        else:
            loss = optax.squared_error(x, y).mean()
        return loss, new_stats

    @partial(jax.jit, donate_argnums=(0, 1))
    def train_step(p: Any, opt_state: Any, stats: Any, key: Any, x: Any, y: Any) -> Any:
        key, sub = jax.random.split(key)
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, stats, sub, x, y)
        updates, opt_state = opt.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, stats, key, loss

    carry = [p, opt_state, stats, key]

    def step() -> Any:
        out = train_step(*carry, xd, yd)
        carry[:] = out[:4]
        return out[4].block_until_ready()

    return step


def _jax_versions() -> str | None:
    """``jax X (jaxlib X), optax X`` without importing jax (None: not installed)."""
    try:
        return (f"jax {metadata.version('jax')} (jaxlib {metadata.version('jaxlib')}), "
                f"optax {metadata.version('optax')}")
    except metadata.PackageNotFoundError:
        return None


class JaxWorker:
    """A subprocess running ``jax_step`` with ``PJRT_NPROC=threads`` (read when JAX starts, so it
    cannot be set from this process), driven one JSON line per request:
    ``build(w)`` -> the first-step loss, ``time(min_time)`` -> the median step time,
    ``losses(n)`` -> the next n step losses. float64 workloads need ``jax_enable_x64``, which is
    also fixed at start-up: ``x64`` says which kind this worker is."""

    def __init__(self, threads: int, x64: bool = False) -> None:
        env = {**os.environ, "PJRT_NPROC": str(threads), "JAX_PLATFORMS": "cpu",
               "OPENBLAS_NUM_THREADS": "1", "JAX_ENABLE_X64": "1" if x64 else "0"}
        self._log: IO[str] = tempfile.TemporaryFile("w+")
        self._proc = subprocess.Popen([sys.executable, "-c", "from fastgd.bench import _jax_worker_main; "
                                       "_jax_worker_main()"], env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, text=True)

    def request(self, **req: Any) -> Any:
        """Send one request; returns its answer, raises ``RuntimeError`` with the worker's error."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._log.seek(0)
            tail = self._log.read()[-2000:]
            raise RuntimeError(f"the JAX worker exited (code {self._proc.poll()}): {tail}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()


def _jax_worker_main() -> None:
    """The loop of a ``JaxWorker`` subprocess (stdout carries only the answers)."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to the log
    warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
    step: Callable[[], Any] | None = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "build":
                w = Workload.from_json(req["workload"])
                X, y = make_data(w)
                step = jax_step(w, init_params(w), X, y)
                if step is None:
                    raise RuntimeError("jax or optax is not installed")
                result: Any = float(step())
            elif req["cmd"] == "time":
                assert step is not None
                result = median_time(step, min_time=req["min_time"])
            elif req["cmd"] == "losses":
                assert step is not None
                result = [float(step()) for _ in range(req["n"])]
            else:
                raise ValueError(f"unknown request {req['cmd']!r}")
            out.write(json.dumps({"result": result}) + "\n")
        except Exception as e:  # the parent prints it in the JAX column's note
            out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()


class JaxPool:
    """One ``JaxWorker`` per kind (float32, float64), started on first use."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._workers: dict[bool, JaxWorker] = {}

    def worker(self, w: Workload) -> JaxWorker:
        x64 = w.dtype == "float64"
        if x64 not in self._workers:
            self._workers[x64] = JaxWorker(self.threads, x64=x64)
        return self._workers[x64]

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()


# ------------------------------------------------------------------------------ timing


def median_time(fn: Callable[[], Any], min_time: float = 0.3, min_runs: int = 5,
                max_runs: int = 2000) -> float:
    """Median wall time of single calls after a warm-up, over at least ``min_time`` seconds."""
    for _ in range(3):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_peak(dtype: str = "float32", n: int = 1024) -> float:
    """Measured GEMM throughput (FLOP/s) of fastgd's OpenBLAS on an n×n×n product."""
    from . import ops

    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    t = min(median_time(lambda: ops.linear_forward(A, B, None, out=out), min_time=0.2) for _ in range(3))
    return 2.0 * n**3 / t


class _Peer:
    """One implementation on one workload: its first step, then timed turns."""

    def first(self) -> float:
        raise NotImplementedError

    def time(self, min_time: float) -> float:
        raise NotImplementedError


class _LocalPeer(_Peer):
    def __init__(self, step: Callable[..., float], X: np.ndarray, y: np.ndarray) -> None:
        self.step, self.X, self.y = step, X, y

    def first(self) -> float:
        return float(self.step(self.X, self.y))

    def time(self, min_time: float) -> float:
        return median_time(partial(self.step, self.X, self.y), min_time=min_time)


class _JaxPeer(_Peer):
    def __init__(self, worker: JaxWorker, w: Workload) -> None:
        self.worker, self.w = worker, w

    def first(self) -> float:
        return float(self.worker.request(cmd="build", workload=self.w.to_json()))

    def time(self, min_time: float) -> float:
        return float(self.worker.request(cmd="time", min_time=min_time))


LOCAL_PEERS: dict[str, Callable[..., Callable[..., float] | None]] = {
    "fastgd": fastgd_step, "numpy": numpy_step, "torch": torch_step, "compiled": torch_compiled_step}
#: Every peer ``python -m fastgd bench`` can time against fastgd, in the table's order.
ALL_PEERS = ("numpy", "torch", "compiled", "jax")
#: Peers whose failure (a compiler missing, a library too old) is reported, not raised.
OPTIONAL_PEERS = ("compiled", "jax")


@dataclass
class StepTimes:
    """Median step times (seconds; None: not run) and, per peer, why it was not timed."""

    workload: Workload
    times: dict[str, float | None]
    problems: dict[str, str] = field(default_factory=dict)
    compile_time: float | None = None

    def __getitem__(self, impl: str) -> float | None:
        return self.times.get(impl)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


#: Seconds of idle before each timed turn. A library's worker threads spin for a while after its
#: last parallel call before they sleep (OpenBLAS's about 0.1 s), and on a 2-core machine they take
#: the core the next library's second thread needs: measured with 2 threads, the first Net.fit of
#: digits after a scikit-learn fit took 108-153 ms, while NumPy's OpenBLAS worker used 60 ms of CPU
#: during it; after a 0.15 s or 0.3 s pause no foreign thread ran and it took 63-65 ms (48-50 ms
#: warm). Every library gets the same pause before its turn.
SETTLE = 0.3


def settle() -> None:
    """Let the previous turn's worker threads go to sleep (``SETTLE`` seconds) before a timing."""
    time.sleep(SETTLE)


def time_steps(w: Workload, min_time: float, rounds: int = 3,
               peers: tuple[str, ...] = ("numpy", "torch"), jax: JaxPool | None = None,
               rtol: float | None = None) -> StepTimes:
    """Median step time of fastgd and each peer on one workload.

    First every peer's first-step loss (same initial weights, same batch) is checked against
    fastgd's; with dropout the check runs on the same workload with ``dropout=0`` (the libraries
    draw different masks), then the real one is built. A peer that fails or disagrees is not
    timed and says why in ``problems``. Then the implementations run in turns, ``rounds`` times,
    each turn a contiguous run of ``min_time / rounds`` seconds after ``settle()`` and its own
    warm-up; each figure is the implementation's best turn, so a burst of noise on a shared
    machine costs a turn, not the comparison.
    """
    X, y = make_data(w)
    if rtol is None:
        rtol = 1e-4 if w.dtype == "float32" else 1e-8
    names = ("fastgd", *(p for p in peers if p != "jax" or jax is not None))
    result = StepTimes(w, {impl: None for impl in ("fastgd", *peers)})

    def build(work: Workload) -> dict[str, _Peer]:
        built: dict[str, _Peer] = {}
        for impl in names:
            if impl in result.problems:
                continue
            if impl == "jax":
                assert jax is not None
                built[impl] = _JaxPeer(jax.worker(work), work)
                continue
            step = LOCAL_PEERS[impl](work, [(W.copy(), b.copy()) for W, b in init_params(work)])
            if step is not None:
                built[impl] = _LocalPeer(step, X, y)
        return built

    def first_steps(built: dict[str, _Peer]) -> dict[str, float]:
        firsts: dict[str, float] = {}
        for impl, peer in built.items():
            t0 = time.perf_counter()
            try:
                firsts[impl] = peer.first()
            except Exception as e:
                if impl not in OPTIONAL_PEERS:
                    raise
                result.problems[impl] = _short(e)
            if impl == "compiled" and result.compile_time is None:
                result.compile_time = time.perf_counter() - t0
        return firsts

    check = dataclasses.replace(w, dropout=0.0)
    built = build(check)
    firsts = first_steps(built)
    ref_loss = firsts["fastgd"]
    for impl, loss in firsts.items():
        if not np.isclose(loss, ref_loss, rtol=rtol, atol=0):
            result.problems[impl] = f"first-step loss {loss:.8g} != fastgd's {ref_loss:.8g}"
    if w.dropout:
        built = build(w)
        first_steps(built)
    built = {impl: peer for impl, peer in built.items() if impl not in result.problems}
    for _ in range(rounds):
        for impl, peer in built.items():
            settle()
            try:
                t = peer.time(min_time / rounds)
            except Exception as e:
                if impl not in OPTIONAL_PEERS:
                    raise
                result.problems[impl] = _short(e)
                continue
            old = result.times[impl]
            result.times[impl] = t if old is None else min(t, old)
        built = {impl: peer for impl, peer in built.items() if impl not in result.problems}
    for impl in result.problems:
        result.times[impl] = None
    return result


def run_workload(w: Workload, quick: bool = False, peers: tuple[str, ...] = ("numpy", "torch"),
                 jax: JaxPool | None = None, repeat: int = 1) -> StepTimes:
    """Time fastgd and the peers on one workload; returns a row of the table. ``repeat`` > 1:
    that many whole measurements (peers rebuilt and re-checked each time), the median of each."""
    runs = [time_steps(w, 0.15 if quick else 0.9, peers=peers, jax=jax) for _ in range(repeat)]
    if repeat == 1:
        return runs[0]
    row = StepTimes(w, {}, {k: v for r in runs for k, v in r.problems.items()})
    for impl in runs[0].times:
        ts = [r.times[impl] for r in runs]
        row.times[impl] = None if impl in row.problems or None in ts else float(np.median(ts))  # type: ignore[arg-type]
    compiles = [r.compile_time for r in runs if r.compile_time is not None]
    row.compile_time = float(np.median(compiles)) if compiles else None
    return row


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e6:.1f}us" if t < 1e-3 else (f"{t * 1e3:.2f}ms" if t < 1 else f"{t:.2f}s")


#: Column titles of the peers in the tables.
TITLES = {"numpy": "numpy", "torch": "torch", "compiled": "compiled", "jax": "jax"}


def table_head(peers: tuple[str, ...] = ("numpy", "torch")) -> str:
    """The step table's two header lines."""
    head = f"{'workload':<18}{'fastgd':>10}" + "".join(f"{TITLES[p]:>10}" for p in peers)
    head += "".join(f"{'x ' + TITLES[p]:>11}" for p in peers) + f"{'% peak':>8}"
    return head + "\n" + "-" * len(head)


def table_row(r: StepTimes, peaks: dict[str, float], peers: tuple[str, ...] = ("numpy", "torch")) -> str:
    """One row: times, ``x peer`` = peer time / fastgd time (> 1: fastgd is faster), fastgd's %
    of the measured GEMM peak of the row's dtype ("loss!="/"failed" for a peer not timed)."""
    f = r["fastgd"]
    assert f is not None
    cells = [f"{r.workload.name:<18}{_fmt_time(f):>10}"]
    for p in peers:
        cell = _fmt_time(r[p])
        if p in r.problems:
            cell = "loss!=" if r.problems[p].startswith("first-step") else "failed"
        cells.append(f"{cell:>10}")
    for p in peers:
        t = r[p]
        cells.append(f"{(f'{t / f:.2f}x' if t else '-'):>11}")
    cells.append(f"{100 * r.workload.flops / f / peaks[r.workload.dtype]:>7.1f}%")
    return "".join(cells)


def table_notes(rows: list[StepTimes], peers: tuple[str, ...] = ("numpy", "torch")) -> str:
    """Why a peer was not timed, one line per case ("" when every peer ran)."""
    notes = [f"  {r.workload.name} / {TITLES[p]}: {r.problems[p]}" for r in rows for p in peers
             if p in r.problems]
    return "\n".join(["not timed:", *notes]) if notes else ""


def format_table(rows: list[StepTimes], peaks: dict[str, float],
                 peers: tuple[str, ...] = ("numpy", "torch")) -> str:
    """The whole step table (``table_head``, a ``table_row`` per row, ``table_notes``)."""
    lines = [table_head(peers), *(table_row(r, peaks, peers) for r in rows)]
    notes = table_notes(rows, peers)
    return "\n".join(lines + ([notes] if notes else []))


# ------------------------------------------------------------------------------ kernels

KERNEL_SIZES = {"small": (10, 32), "medium": (256, 256), "large": (2048, 1024)}
KERNEL_GEMM = {"small": (10, 64, 32), "medium": (128, 784, 256), "large": (512, 1024, 1024)}


def kernel_cases(dtype: Any = np.float32) -> Any:
    """Yield (kernel name, size label, positional args) for every ops kernel."""
    rng = np.random.default_rng(0)
    for label, (n, i, o) in KERNEL_GEMM.items():
        X = rng.standard_normal((n, i)).astype(dtype)
        W = rng.standard_normal((i, o)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype)
        dZ = rng.standard_normal((n, o)).astype(dtype)
        yield "linear_forward", label, (X, W, b)
        yield "linear_backward", label, (X, W, dZ)
    for label, (n, c) in KERNEL_SIZES.items():
        Z = (rng.standard_normal((n, c)) * 3).astype(dtype)
        dA = rng.standard_normal((n, c)).astype(dtype)
        A = 1 / (1 + np.exp(-Z))
        T = np.tanh(Z)
        yield "relu", label, (Z,)
        yield "relu_backward", label, (Z, dA)
        yield "sigmoid", label, (Z,)
        yield "sigmoid_backward", label, (A, dA)
        yield "tanh", label, (Z,)
        yield "tanh_backward", label, (T, dA)
        yield "softmax", label, (Z,)
        yield "softmax_cross_entropy", label, (Z, rng.integers(0, c, n))
        yield "bce_with_logits", label, (Z, (rng.random((n, c)) > 0.5).astype(dtype))
        yield "mse", label, (Z, dA)
    for label, (n, d) in {"small": (100, 1), "medium": (65536, 16), "large": (1_000_000, 8)}.items():
        X = rng.standard_normal((n, d)).astype(dtype)
        yield "mse_gradient", label, (rng.standard_normal(d + 1).astype(dtype), X,
                                      rng.standard_normal(n).astype(dtype))


def run_kernels(dtypes: tuple[str, ...] = ("float32", "float64"), min_time: float = 0.15) -> None:
    """Print every kernel's median time against its NumPy twin, measured in one run."""
    from . import ops

    print(f"{'kernel':<24}{'size':<8}{'dtype':<9}{'fastgd':>11}{'numpy':>11}{'ratio':>8}")
    for dt in dtypes:
        for name, label, args in kernel_cases(np.dtype(dt).type):
            f = median_time(partial(getattr(ops, name), *args), min_time=min_time)
            r = median_time(partial(getattr(ref, name), *args), min_time=min_time)
            print(f"{name:<24}{label:<8}{dt:<9}{f * 1e6:>9.1f}us{r * 1e6:>9.1f}us{r / f:>7.1f}x")


# ------------------------------------------------------------------------------ scaling


def _slope(xs: list[int], ts: list[float | None]) -> float | None:
    """Least-squares slope of time against xs (None when an implementation is missing)."""
    if any(t is None for t in ts):
        return None
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ts, float), 1)[0])


def run_scaling(quick: bool = False, jax: JaxPool | None = None,
                peers: tuple[str, ...] = ("numpy", "torch", "jax")) -> None:
    """How step time grows with batch size (mnist_mlp's net) and with depth (narrow layers);
    fastgd against ``peers`` (torch.compile is left out: one compile per row)."""
    min_time = 0.15 if quick else 0.6
    peers = tuple(p for p in peers if p != "compiled")

    def us(t: float | None) -> str:
        return "-" if t is None else f"{t * 1e6:.1f}us"

    def ratio(t: float | None, f: float) -> str:
        return f"{t / f:.2f}x" if t else "-"

    print("\nbatch size: 784-256-10 ReLU, float32, softmax-CE, SGD momentum 0.9 (time per step)")
    print(f"{'batch':>7}{'fastgd':>12}" + "".join(f"{TITLES[p]:>12}" for p in peers) + f"{'us/sample':>11}"
          + "".join(f"{'x ' + TITLES[p]:>9}" for p in peers))
    for batch in (1, 8, 32, 128, 512, 2048):
        w = Workload(f"b{batch}", (784, 256, 10), "relu", batch, "float32", "cross_entropy", "sgd",
                     {"lr": 0.01, "momentum": 0.9})
        t = time_steps(w, min_time, peers=peers, jax=jax)
        f = t["fastgd"]
        assert f is not None
        print(f"{batch:>7}{us(f):>12}" + "".join(f"{us(t[p]):>12}" for p in peers)
              + f"{f * 1e6 / batch:>11.2f}" + "".join(f"{ratio(t[p], f):>9}" for p in peers))

    print("\ndepth: L hidden Linear(16,16)+ReLU layers, batch 16, float32, MSE, SGD (time per step)")
    print(f"{'layers':>7}{'fastgd':>12}" + "".join(f"{TITLES[p]:>12}" for p in peers))
    depths = [1, 2, 4, 8, 16, 32]
    rows = []
    for depth in depths:
        w = Workload(f"d{depth}", (16,) * (depth + 1) + (1,), "relu", 16, "float32", "mse", "sgd",
                     {"lr": 0.01})
        t = time_steps(w, min_time, peers=peers, jax=jax)
        rows.append(t)
        print(f"{depth:>7}" + "".join(f"{us(t[p]):>12}" for p in ("fastgd", *peers)))
    slopes = {impl: _slope(depths, [r[impl] for r in rows]) for impl in ("fastgd", *peers)}
    print("cost per extra layer (least-squares slope): "
          + ", ".join(f"{impl} {us(s)}" for impl, s in slopes.items()))


# ------------------------------------------------------------------------------ whole fits


@dataclass(frozen=True)
class FitCase:
    """A whole training run: ``in``-``hidden``-10 ReLU MLP, Adam, softmax cross-entropy, float32.

    ``digits``: the 1797 8×8 digits (standardised), 1500 to train, 297 to test. ``mnist_random``:
    MNIST's shape (``n_train`` × 784, 10 classes) of Gaussian pixels labelled by a random linear
    teacher (``argmax(X·T)``), so that accuracy means something; ``n_test`` more rows to test."""

    name: str
    hidden: int
    epochs: int
    batch: int = 200  # scikit-learn's default, min(200, n_samples)
    lr: float = 1e-3  # scikit-learn's default learning_rate_init
    n_train: int = 60_000
    n_test: int = 10_000
    rounds: int = 3  # runs of each library, in turns (the median time is kept)


FIT_CASES = [FitCase("digits", 100, epochs=50), FitCase("mnist_random", 256, epochs=3, rounds=1)]
FIT_PEERS = ("sklearn", "torch")


def fit_data(case: FitCase, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``: float32 features, int64 labels."""
    rng = np.random.default_rng(seed)
    if case.name == "digits":
        from .datasets import load_digits

        X, y = load_digits(dtype="float32")
        perm = rng.permutation(len(X))
        X, y = X[perm], y[perm]
        mean, std = X[:1500].mean(0), X[:1500].std(0) + 1e-6
        X = (X - mean) / std
        return X[:1500], y[:1500], X[1500:], y[1500:]
    n = case.n_train + case.n_test
    X = rng.standard_normal((n, 784), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((784, 10), dtype=np.float32), axis=1).astype(np.int64)
    return X[:case.n_train], y[:case.n_train], X[case.n_train:], y[case.n_train:]


def fit_fastgd(case: FitCase, data: tuple[np.ndarray, ...], seed: int = 0) -> dict[str, Any]:
    """``Net.fit`` of the case; returns ``time`` (s, the fit call), ``accuracy``, ``epochs``."""
    import fastgd as fg

    Xtr, ytr, Xte, yte = data
    net = fg.Net([fg.Linear(Xtr.shape[1], case.hidden), fg.ReLU(), fg.Linear(case.hidden, 10)],
                 dtype="float32", seed=seed)
    t0 = time.perf_counter()
    hist = net.fit(Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=case.lr, epochs=case.epochs,
                   batch_size=case.batch, shuffle=True, seed=seed, progress=False)
    t = time.perf_counter() - t0
    acc = float(np.mean(net.predict_classes(Xte) == yte))
    return {"time": t, "accuracy": acc, "epochs": len(hist.history["loss"])}


def fit_sklearn(case: FitCase, data: tuple[np.ndarray, ...], seed: int = 0) -> dict[str, Any] | None:
    """scikit-learn's ``MLPClassifier`` with the same architecture, solver, learning rate, batch
    and epochs: ``alpha=0`` (no L2 term, as the others), ``tol=0`` and ``n_iter_no_change``
    above the epochs so that it runs every epoch. None: scikit-learn not installed."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    Xtr, ytr, Xte, yte = data
    clf = MLPClassifier(hidden_layer_sizes=(case.hidden,), activation="relu", solver="adam", alpha=0.0,
                        batch_size=case.batch, learning_rate_init=case.lr, max_iter=case.epochs,
                        shuffle=True, random_state=seed, tol=0.0, n_iter_no_change=case.epochs + 1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # "maximum iterations reached": that is the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    t = time.perf_counter() - t0
    return {"time": t, "accuracy": float(clf.score(Xte, yte)), "epochs": int(clf.n_iter_)}


def fit_torch(case: FitCase, data: tuple[np.ndarray, ...], seed: int = 0) -> dict[str, Any] | None:
    """The PyTorch loop of the tutorials: ``TensorDataset`` + ``DataLoader(shuffle=True)``, and
    per batch ``zero_grad``, forward, ``CrossEntropyLoss``, ``backward``, ``Adam.step``.
    None: torch not installed."""
    try:
        import torch
        from torch.utils.data import DataLoader, TensorDataset
    except ImportError:
        return None
    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(Xtr.shape[1], case.hidden), torch.nn.ReLU(),
                                torch.nn.Linear(case.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=case.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(torch.from_numpy(Xtr), torch.from_numpy(ytr)),
                        batch_size=case.batch, shuffle=True)
    t0 = time.perf_counter()
    epochs = 0
    for _ in range(case.epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        epochs += 1
    t = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
    return {"time": t, "accuracy": acc, "epochs": epochs}


FIT_MAKERS: dict[str, Callable[..., dict[str, Any] | None]] = {
    "fastgd": fit_fastgd, "sklearn": fit_sklearn, "torch": fit_torch}


def time_fit(case: FitCase, rounds: int = 3) -> dict[str, dict[str, Any] | None]:
    """Each implementation's whole run of ``case``, ``rounds`` times in turns: the median time,
    the accuracy and epochs of the last run (None: library not installed)."""
    data = fit_data(case)
    times: dict[str, list[float]] = {impl: [] for impl in FIT_MAKERS}
    last: dict[str, dict[str, Any] | None] = {}
    for _ in range(rounds):
        for impl, fit in FIT_MAKERS.items():
            settle()
            r = fit(case, data)
            last[impl] = r
            if r is not None:
                times[impl].append(r["time"])
    return {impl: None if r is None else {**r, "time": float(np.median(times[impl]))}
            for impl, r in last.items()}


def run_fit(quick: bool = False, cases: list[FitCase] | None = None) -> list[dict[str, Any]]:
    """Print (and return) the whole-run table: time, ratio vs fastgd and test accuracy."""
    if cases is None:
        cases = FIT_CASES
        if quick:
            cases = [dataclasses.replace(c, epochs=max(1, c.epochs // 5), rounds=1) for c in cases]
    print("\nwhole training runs (runs: each library in turns, median time): in-hidden-10 ReLU MLP, "
          "Adam, softmax-CE, float32;\n  fastgd Net.fit | scikit-learn MLPClassifier (alpha=0, tol=0, "
          "n_iter_no_change > epochs: every epoch runs) |\n  torch DataLoader(TensorDataset, shuffle=True) "
          "loop; x peer = peer time / fastgd time; accuracy on held-out rows")
    head = (f"{'case':<14}{'net':>12}{'batch':>6}{'epochs':>7}{'runs':>5}{'fastgd':>10}{'sklearn':>10}{'torch':>10}"
            f"{'x sklearn':>11}{'x torch':>9}   accuracy fastgd / sklearn / torch")
    print(head)
    print("-" * len(head))
    rows = []
    for case in cases:
        res = time_fit(case, case.rounds)
        f = res["fastgd"]
        assert f is not None
        n_in = 64 if case.name == "digits" else 784
        cells = [f"{case.name:<14}{f'{n_in}-{case.hidden}-10':>12}{case.batch:>6}{case.epochs:>7}{case.rounds:>5}"]
        cells += [f"{_fmt_time(None if res[p] is None else res[p]['time']):>10}"  # type: ignore[index]
                  for p in ("fastgd", *FIT_PEERS)]
        for p in FIT_PEERS:
            r = res[p]
            ratio = "-" if r is None else f"{r['time'] / f['time']:.2f}x"
            cells.append(f"{ratio:>{11 if p == 'sklearn' else 9}}")
        accs = " / ".join("-" if res[p] is None else f"{res[p]['accuracy']:.3f}"  # type: ignore[index]
                          for p in ("fastgd", *FIT_PEERS))
        print("".join(cells) + "   " + accs, flush=True)
        rows.append({"case": case, **res})
    return rows


def _versions(fg_version: str, fit: bool) -> str:
    parts = [f"fastgd {fg_version}", f"numpy {np.__version__}"]
    try:
        parts.append(f"torch {metadata.version('torch')}")
    except metadata.PackageNotFoundError:
        parts.append("torch not installed")
    parts.append(_jax_versions() or "jax not installed (pip install 'fastgd[jax]')")
    if fit:
        try:
            parts.append(f"scikit-learn {metadata.version('scikit-learn')}")
        except metadata.PackageNotFoundError:
            parts.append("scikit-learn not installed")
    return " | ".join(parts)


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``python -m fastgd bench``."""
    import fastgd as fg

    if args.threads:
        fg.set_num_threads(args.threads)
    threads = fg.get_num_threads()
    try:  # NumPy's own BLAS (the numpy peer, scikit-learn) gets the same threads
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        numpy_threads = str(threads)
    except ImportError:
        numpy_threads = "its default (pip install threadpoolctl to match)"
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    fit = bool(getattr(args, "fit", False))
    jax = JaxPool(threads) if _jax_versions() and "jax" in (getattr(args, "peers", None) or ALL_PEERS) else None
    try:
        peers = tuple(getattr(args, "peers", None) or ALL_PEERS)
        peaks = {dt: gemm_peak(dt) for dt in ("float32", "float64")}
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(_versions(fg.__version__, fit))
        print(f"{_cpu_name()}, {os.cpu_count()} cores ({platform.machine()}), load average {load:.1f} "
              f"at start | sgemm peak {peaks['float32'] / 1e9:.1f} GFLOP/s, dgemm peak "
              f"{peaks['float64'] / 1e9:.1f} GFLOP/s")
        print(f"threads: fastgd {threads}, numpy's BLAS {numpy_threads}, torch {threads} (eager and "
              f"compiled), jax {threads} (PJRT_NPROC={threads}: JAX runs in a subprocess, the variable "
              "is read when it starts)")
        print("x peer = peer time / fastgd time (> 1: fastgd is faster); each peer's first-step loss is "
              "checked\n  against fastgd's before it is timed (dropout rows: checked with p=0, then timed "
              "with their p);\n  compiled = torch.compile(step), mode default; jax = jit(value_and_grad + "
              "optax), donated params/state\n% peak = GEMM FLOPs the step needs (per Linear: forward "
              "2·B·in·out, dW 2·B·in·out, dX 2·B·in·out\n  except the first layer) / fastgd's step time / "
              "the measured GEMM peak of the row's dtype")
        if args.quick:  # a smoke run: no pause between the turns
            global SETTLE
            SETTLE = 0.0
        else:
            print(f"each turn starts after {SETTLE:g} s idle (the previous library's worker threads asleep)")
        if (getattr(args, "repeat", 1) or 1) > 1:
            print(f"each row: the median of {args.repeat} whole measurements (peers rebuilt, re-checked)")
        print(table_head(peers), flush=True)
        rows = []
        repeat = getattr(args, "repeat", 1) or 1
        chosen = getattr(args, "workloads", None)
        for w in WORKLOADS:  # each row as soon as it is measured
            if chosen and w.name not in chosen:
                continue
            rows.append(run_workload(w, quick=args.quick, peers=peers, jax=jax, repeat=repeat))
            print(table_row(rows[-1], peaks, peers), flush=True)
        notes = table_notes(rows, peers)
        if notes:
            print(notes)
        compile_times = [f"{r.workload.name} {r.compile_time:.1f}s" for r in rows if r.compile_time]
        if compile_times:
            print("torch.compile's first call (compiling; not timed): " + ", ".join(compile_times))
        if getattr(args, "kernels", False):
            print()
            run_kernels(min_time=0.05 if args.quick else 0.15)
        if getattr(args, "scaling", False):
            run_scaling(quick=args.quick, jax=jax, peers=peers)
        if fit:
            run_fit(quick=args.quick)
    finally:
        if jax is not None:
            jax.close()
    if args.plot:
        _plot(rows, args.plot, peers)
        print(f"wrote {args.plot}")
    return 0


def _cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _plot(rows: list[StepTimes], path: str, peers: tuple[str, ...] = ("numpy", "torch")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.workload.name for r in rows]
    x = np.arange(len(rows))
    shown = [p for p in peers if any(r[p] for r in rows)]
    width = 0.8 / max(len(shown), 1)
    labels = {"numpy": "vs NumPy reference", "torch": "vs PyTorch eager", "compiled": "vs torch.compile",
              "jax": "vs JAX jit"}
    fig, ax = plt.subplots(figsize=(9, 4))
    for k, p in enumerate(shown):
        ratios = [(r[p] or np.nan) / (r["fastgd"] or np.nan) for r in rows]
        ax.bar(x - 0.4 + width * (k + 0.5), ratios, width, label=labels[p])
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylabel("speed-up of fastgd (x, log scale)")
    ax.set_title("fastgd training step: speed-up per workload")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
