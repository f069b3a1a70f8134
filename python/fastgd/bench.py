"""Benchmarks: one training step of fastgd against the NumPy reference and PyTorch CPU.

``python -m fastgd bench`` prints, per workload, the median step time of

* **fastgd**: ``fastgd.Trainer.step`` (the fused C++ step),
* **numpy**: the same step written with ``fastgd.reference`` (the NumPy twins), and
* **torch**: ``torch.nn.Sequential`` + ``torch.optim`` with the same threads (when installed),

the ratios, and the fraction of the machine's measured GEMM peak that fastgd reaches
(``6·B·Σ in·out`` FLOPs per step). All three run in the same process, one after another.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from . import reference as ref


@dataclass(frozen=True)
class Workload:
    """One benchmark row: an MLP, a batch, a dtype, a loss and an optimizer."""

    name: str
    sizes: tuple[int, ...]
    activation: str
    batch: int
    dtype: str
    loss: str
    optimizer: str
    hyper: dict[str, Any] = field(default_factory=dict)

    @property
    def flops(self) -> float:
        """FLOPs of one step: forward, dX and dW GEMMs, 2·B·in·out each."""
        return 6.0 * self.batch * sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


WORKLOADS = [
    Workload("digits_tiny", (64, 32, 1), "relu", 10, "float64", "bce_with_logits", "sgd", {"lr": 0.01}),
    Workload("mnist_mlp", (784, 256, 10), "relu", 128, "float32", "cross_entropy", "sgd",
             {"lr": 0.01, "momentum": 0.9}),
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
    """He-initialised ``(W, b)`` per dense layer, shared by all three implementations."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(w.dtype), np.zeros(b, w.dtype))
            for a, b in zip(w.sizes[:-1], w.sizes[1:])]


# ------------------------------------------------------------------------------ numpy


_ACT = {"relu": (ref.relu, lambda Z, A, dA: ref.relu_backward(Z, dA)),
        "sigmoid": (ref.sigmoid, lambda Z, A, dA: ref.sigmoid_backward(A, dA)),
        "tanh": (ref.tanh, lambda Z, A, dA: ref.tanh_backward(A, dA))}
_LOSS = {"mse": ref.mse, "cross_entropy": ref.softmax_cross_entropy,
         "bce_with_logits": ref.bce_with_logits}


def numpy_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[..., float]:
    """The training step a careful NumPy user writes, from the ``fastgd.reference`` twins."""
    act, act_bw = _ACT[w.activation]
    loss_fn = _LOSS[w.loss]
    flat = [p for layer in params for p in layer]
    state: list[dict[str, np.ndarray]] = [{} for _ in flat]
    h = dict(w.hyper)
    step_count = [0]

    def step(X: np.ndarray, y: np.ndarray) -> float:
        inputs, zs = [X], []
        for i, (W, b) in enumerate(params):
            Z = ref.linear_forward(inputs[-1], W, b)
            zs.append(Z)
            if i < len(params) - 1:
                inputs.append(act(Z))
        loss, d = loss_fn(zs[-1], y)
        grads: list[np.ndarray] = []
        for i in range(len(params) - 1, -1, -1):
            W, _ = params[i]
            dX, dW, db = ref.linear_backward(inputs[i], W, d, need_dx=i > 0)
            grads[:0] = [dW, db]
            if i > 0:
                d = act_bw(zs[i - 1], inputs[i], dX)
        step_count[0] += 1
        for p, g, s in zip(flat, grads, state):
            if w.optimizer == "sgd":
                mom = h.get("momentum", 0.0)
                if mom and "momentum_buffer" not in s:
                    s["momentum_buffer"] = np.zeros_like(p)
                ref.sgd_step(p, g, s.get("momentum_buffer"), lr=h["lr"], momentum=mom,
                             init_buffer=step_count[0] == 1)
            else:
                if not s:
                    s["exp_avg"], s["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
                ref.adam_step(p, g, s["exp_avg"], s["exp_avg_sq"], step=step_count[0], lr=h["lr"])
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
        if i < len(w.sizes) - 2:
            layers.append(acts[w.activation]())
    net = fg.Net(layers, dtype=w.dtype, seed=0)
    linears = [layer for layer in net.layers if isinstance(layer, fg.Linear)]
    for layer, (W_init, b_init) in zip(linears, params):
        assert layer.W is not None and layer.b is not None
        layer.W.data[...] = W_init
        layer.b.data[...] = b_init
    trainer = fg.Trainer(net, loss=w.loss, optimizer=w.optimizer, **w.hyper)
    return trainer.step


# ------------------------------------------------------------------------------ torch


def torch_step(w: Workload, params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[..., float] | None:
    """The idiomatic PyTorch CPU step (``zero_grad``, forward, loss, backward, ``step``)."""
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
            mods.append(acts[w.activation]())
    model = torch.nn.Sequential(*mods)
    loss_fn = {"mse": torch.nn.MSELoss(), "cross_entropy": torch.nn.CrossEntropyLoss(),
               "bce_with_logits": torch.nn.BCEWithLogitsLoss()}[w.loss]
    if w.optimizer == "sgd":
        opt: Any = torch.optim.SGD(model.parameters(), **w.hyper)
    else:
        opt = torch.optim.Adam(model.parameters(), **w.hyper)
    cache: dict[int, tuple[Any, Any]] = {}

    def step(X: np.ndarray, y: np.ndarray) -> float:
        key = id(X)
        if key not in cache:  # conversion is zero-copy, but keep it out of the timed step anyway
            cache[key] = (torch.from_numpy(X), torch.from_numpy(y))
        tx, ty = cache[key]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


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


def time_steps(w: Workload, min_time: float, rounds: int = 3) -> dict[str, float | None]:
    """Median step time of fastgd, numpy and torch (None: not installed) on one workload.

    The three run in turns, ``rounds`` times, each turn a contiguous run of ``min_time / rounds``
    seconds after its own warm-up; each implementation's figure is its best turn, so a burst of
    noise on a shared machine costs a turn, not the comparison.
    """
    X, y = make_data(w)
    steps: dict[str, Callable[..., Any] | None] = {
        impl: make(w, [(W.copy(), b.copy()) for W, b in init_params(w)])
        for impl, make in (("fastgd", fastgd_step), ("numpy", numpy_step), ("torch", torch_step))}
    best: dict[str, float | None] = {impl: None for impl in steps}
    for _ in range(rounds):
        for impl, step in steps.items():
            if step is not None:
                t = median_time(partial(step, X, y), min_time=min_time / rounds)
                best[impl] = t if best[impl] is None else min(t, best[impl])  # type: ignore[type-var]
    return best


def run_workload(w: Workload, quick: bool = False) -> dict[str, Any]:
    """Time fastgd, numpy and torch on one workload; returns a row of the table."""
    return {"workload": w.name, "flops": w.flops, **time_steps(w, 0.15 if quick else 0.9)}


def format_table(rows: list[dict[str, Any]], peak: float) -> str:
    head = (f"{'workload':<14}{'fastgd':>12}{'numpy':>12}{'torch':>12}{'x numpy':>10}"
            f"{'x torch':>10}{'% peak':>9}")
    lines = [head, "-" * len(head)]

    def us(t: float | None) -> str:
        return "-" if t is None else (f"{t * 1e6:.1f}us" if t < 1e-3 else f"{t * 1e3:.2f}ms")

    for r in rows:
        f, n, t = r["fastgd"], r["numpy"], r["torch"]
        lines.append(
            f"{r['workload']:<14}{us(f):>12}{us(n):>12}{us(t):>12}{n / f:>9.1f}x"
            f"{(f'{t / f:.1f}x' if t else '-'):>10}{100 * r['flops'] / f / peak:>8.1f}%")
    return "\n".join(lines)


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


def run_scaling(quick: bool = False) -> None:
    """How step time grows with batch size (mnist_mlp's net) and with depth (narrow layers)."""
    min_time = 0.15 if quick else 0.6

    def us(t: float | None) -> str:
        return "-" if t is None else f"{t * 1e6:.1f}us"

    print("\nbatch size: 784-256-10 ReLU, float32, softmax-CE, SGD momentum 0.9 (time per step)")
    print(f"{'batch':>7}{'fastgd':>12}{'numpy':>12}{'torch':>12}{'us/sample':>11}{'x numpy':>9}{'x torch':>9}")
    for batch in (1, 8, 32, 128, 512, 2048):
        w = Workload(f"b{batch}", (784, 256, 10), "relu", batch, "float32", "cross_entropy", "sgd",
                     {"lr": 0.01, "momentum": 0.9})
        t = time_steps(w, min_time)
        f, n, tt = t["fastgd"], t["numpy"], t["torch"]
        assert f is not None and n is not None
        print(f"{batch:>7}{us(f):>12}{us(n):>12}{us(tt):>12}{f * 1e6 / batch:>11.2f}{n / f:>8.1f}x"
              f"{(f'{tt / f:.1f}x' if tt else '-'):>9}")

    print("\ndepth: L hidden Linear(16,16)+ReLU layers, batch 16, float32, MSE, SGD (time per step)")
    print(f"{'layers':>7}{'fastgd':>12}{'numpy':>12}{'torch':>12}")
    depths = [1, 2, 4, 8, 16, 32]
    rows = []
    for depth in depths:
        w = Workload(f"d{depth}", (16,) * (depth + 1) + (1,), "relu", 16, "float32", "mse", "sgd",
                     {"lr": 0.01})
        t = time_steps(w, min_time)
        rows.append(t)
        print(f"{depth:>7}{us(t['fastgd']):>12}{us(t['numpy']):>12}{us(t['torch']):>12}")
    slopes = {impl: _slope(depths, [r[impl] for r in rows]) for impl in ("fastgd", "numpy", "torch")}
    print("cost per extra layer (least-squares slope): "
          + ", ".join(f"{impl} {us(s)}" for impl, s in slopes.items()))


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``python -m fastgd bench``."""
    import fastgd as fg

    if args.threads:
        fg.set_num_threads(args.threads)
    threads = fg.get_num_threads()
    try:  # NumPy's own BLAS gets the same threads (fastgd's and torch's are set directly)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        numpy_threads = str(threads)
    except ImportError:
        numpy_threads = "its default (pip install threadpoolctl to match)"
    try:
        import torch

        torch.set_num_threads(threads)
        torch_version = str(torch.__version__)
    except ImportError:
        torch_version = "not installed"
    peak = gemm_peak("float32")
    print(f"fastgd {fg.__version__} | numpy {np.__version__} | torch {torch_version} | "
          f"{platform.machine()} | {threads} threads | sgemm peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{_cpu_name()}; threads: fastgd {threads}, torch {threads}, numpy's BLAS {numpy_threads}")
    rows = [run_workload(w, quick=args.quick) for w in WORKLOADS]
    print(format_table(rows, peak))
    if getattr(args, "kernels", False):
        print()
        run_kernels(min_time=0.05 if args.quick else 0.15)
    if getattr(args, "scaling", False):
        run_scaling(quick=args.quick)
    if args.plot:
        _plot(rows, args.plot)
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


def _plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["workload"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x - 0.2, [r["numpy"] / r["fastgd"] for r in rows], 0.4, label="vs NumPy reference")
    ax.bar(x + 0.2, [(r["torch"] or np.nan) / r["fastgd"] for r in rows], 0.4, label="vs PyTorch CPU")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, names)
    ax.set_ylabel("speed-up of fastgd (x, log scale)")
    ax.set_title("fastgd training step: speed-up per workload")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
