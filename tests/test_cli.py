"""The command line (``python -m fastgd``, the ``fastgd`` script) and the benchmark's fairness:
the NumPy and PyTorch steps it times do the same training step as fastgd."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import fastgd as fg
import numpy as np
import pytest
from fastgd import bench


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastgd", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("info", "demo", "bench"):
        assert cmd in r.stdout


@pytest.mark.parametrize("args, message", [
    ((), "required"),
    (("nonsense",), "invalid choice"),
    (("demo", "--epochs", "0"), "positive integer"),
    (("demo", "--epochs", "three"), "positive integer"),
    (("bench", "--threads", "-1"), "positive integer"),
    (("info", "--unknown"), "unrecognized arguments"),
])
def test_argument_errors_exit_2_with_usage(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert "usage:" in r.stderr and message in r.stderr
    assert "Traceback" not in r.stderr


def test_info_names_versions_blas_and_threads():
    r = run("info")
    assert r.returncode == 0
    assert fg.__version__ in r.stdout and np.__version__ in r.stdout
    assert "OpenBLAS" in r.stdout
    threads = re.search(r"^threads\s+(\d+)$", r.stdout, re.M)
    assert threads and int(threads.group(1)) >= 1


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "fastgd"
    assert script.exists(), "the fastgd console script is not installed next to python"
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "demo" in r.stdout


@pytest.mark.slow
def test_demo_trains_digits_and_reports_speed():
    r = run("demo", "--epochs", "4", "--no-progress")
    assert r.returncode == 0, r.stderr
    acc = re.search(r"test accuracy: ([\d.]+)%", r.stdout)
    assert acc and float(acc.group(1)) > 90.0, r.stdout
    assert re.search(r"time per epoch: [\d.]+ ms", r.stdout)
    speed = re.search(r"-> ([\d.]+)x faster", r.stdout)
    assert speed and float(speed.group(1)) > 0


def test_run_demo_rejects_zero_epochs():
    from fastgd.demo import run_demo

    with pytest.raises(ValueError, match="epochs"):
        run_demo(epochs=0)


@pytest.mark.slow
def test_bench_prints_every_workload_and_plots(tmp_path):
    png = tmp_path / "bench.png"
    r = run("bench", "--quick", "--threads", "1", "--peers", "numpy", "--plot", str(png), timeout=300)
    assert r.returncode == 0, r.stderr
    for w in bench.WORKLOADS:
        assert re.search(rf"^{w.name}\s+[\d.]+(us|ms)\s+[\d.]+(us|ms)\s+[\d.]+x\s+[\d.]+%$", r.stdout,
                         re.M), r.stdout
    assert "threads: fastgd 1, numpy's BLAS 1, torch 1" in r.stdout and "PJRT_NPROC=1" in r.stdout
    assert bench._cpu_name() in r.stdout and "cores" in r.stdout
    assert "dX 2·B·in·out\n  except the first layer" in r.stdout  # the % peak formula is stated
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_bench_rejects_an_unknown_peer_or_workload():
    r = run("bench", "--peers", "numpy,tensorflow")
    assert r.returncode == 2 and "numpy,torch,compiled,jax" in r.stderr and "tensorflow" in r.stderr
    r = run("bench", "--workloads", "mnist_mlp,imagenet")
    assert r.returncode == 2 and "digits_tiny," in r.stderr and "imagenet" in r.stderr


def test_bench_repeats_the_chosen_rows():
    r = run("bench", "--quick", "--threads", "1", "--peers", "numpy", "--workloads", "digits_tiny",
            "--repeat", "2")
    assert r.returncode == 0, r.stderr
    assert "median of 2 whole measurements" in r.stdout
    rows = re.findall(r"^(\w+)\s+[\d.]+us\s+[\d.]+us\s+[\d.]+x", r.stdout, re.M)
    assert rows == ["digits_tiny"], r.stdout


# --------------------------------------------------------------- the benchmark compares like with like


def small(w: bench.Workload) -> bench.Workload:
    """The workload with its widths and batch cut down (same layers, loss, optimizer, dtype)."""
    return dataclasses.replace(w, sizes=tuple(min(s, 24) for s in w.sizes), batch=min(w.batch, 12))


def no_dropout(w: bench.Workload) -> bench.Workload:
    """The workload without dropout: torch and JAX draw other masks than fastgd."""
    return dataclasses.replace(w, dropout=0.0)


def fastgd_losses(w: bench.Workload, X, y, n: int = 4) -> list[float]:
    step = bench.fastgd_step(w, bench.init_params(w))
    return [step(X, y) for _ in range(n)]


def rtol(w: bench.Workload) -> float:
    return 1e-4 if w.dtype == "float32" else 1e-10


@pytest.mark.parametrize("workload", bench.WORKLOADS, ids=lambda w: w.name)
def test_numpy_and_torch_steps_match_fastgd(workload):
    w = small(workload)
    X, y = bench.make_data(w)
    expected = fastgd_losses(w, X, y)
    numpy = bench.numpy_step(w, bench.init_params(w))  # fastgd's dropout masks: equal with dropout too
    np.testing.assert_allclose([numpy(X, y) for _ in range(4)], expected, rtol=rtol(w))
    assert expected[-1] < expected[0]  # the steps train
    torch = bench.torch_step(no_dropout(w), bench.init_params(w))
    if torch is not None:
        np.testing.assert_allclose([torch(X, y) for _ in range(4)],
                                   fastgd_losses(no_dropout(w), X, y), rtol=rtol(w))


def test_step_flops_count_no_input_gradient():
    # 64-32-1, batch 10. forward: 2·10·(64·32 + 32·1) = 41600; dW: the same, 41600;
    # dX: layer 2 only, 2·10·32·1 = 640 (layer 1's dX is never needed).
    assert bench.step_flops((64, 32, 1), 10) == 41600 + 41600 + 640
    # 784-256-10, batch 128: forward = dW = 2·128·(200704 + 2560) = 52035584; dX = 2·128·2560 = 655360
    assert bench.step_flops((784, 256, 10), 128) == 2 * 52035584 + 655360
    # one layer (16-1): forward and dW only
    assert bench.step_flops((16, 1), 65536) == 2 * (2 * 65536 * 16)
    w = next(w for w in bench.WORKLOADS if w.name == "wide_mlp")
    assert w.flops == bench.step_flops(w.sizes, w.batch)


jax_missing = importlib.util.find_spec("jax") is None or importlib.util.find_spec("optax") is None


@pytest.mark.skipif(jax_missing, reason="jax/optax not installed (the optional JAX peer)")
def test_jax_peer_matches_fastgd():
    """The JAX step (in the subprocess the bench uses, PJRT_NPROC set): the same four losses as
    fastgd from the same weights and batch, on rows that cover every loss, both optimizers (SGD
    with momentum), BatchNorm1d and float64 (a jax_enable_x64 worker). Each row is a jit compile."""
    pool = bench.JaxPool(threads=1)
    rows = ("digits_tiny", "mnist_mlp", "mnist_bn_dropout", "linreg_mse")
    try:
        for workload in (w for w in bench.WORKLOADS if w.name in rows):
            w = no_dropout(small(workload))
            X, y = bench.make_data(w)
            worker = pool.worker(w)
            losses = [worker.request(cmd="build", workload=w.to_json())] + worker.request(cmd="losses", n=3)
            np.testing.assert_allclose(losses, fastgd_losses(w, X, y), rtol=rtol(w) * 10,
                                       err_msg=w.name)
        with_dropout = small(next(w for w in bench.WORKLOADS if w.dropout))
        first = pool.worker(with_dropout).request(cmd="build", workload=with_dropout.to_json())
        assert np.isfinite(first)
        assert pool.worker(with_dropout).request(cmd="time", min_time=0.01) > 0
    finally:
        pool.close()


def test_jax_worker_reports_errors_instead_of_hanging():
    worker = bench.JaxWorker(threads=1)
    try:
        with pytest.raises(RuntimeError, match="unknown request"):
            worker.request(cmd="nonsense")
    finally:
        worker.close()


@pytest.mark.slow
# dynamo traces torch's own code, which warns (torch.jit deprecation, .grad of non-leaf tensors
# while it builds its guards): under this suite's warnings-as-errors those would abort the compile
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_torch_compiled_peer_matches_fastgd():
    """torch.compile of the step (BatchNorm1d, ReLU, Adam: the row that compiles the most):
    the same losses as fastgd. One small workload: a compile takes seconds."""
    pytest.importorskip("torch")
    w = no_dropout(small(next(w for w in bench.WORKLOADS if w.name == "mnist_bn_dropout")))
    X, y = bench.make_data(w)
    step = bench.torch_compiled_step(w, bench.init_params(w))
    assert step is not None
    np.testing.assert_allclose([step(X, y) for _ in range(4)], fastgd_losses(w, X, y), rtol=rtol(w))


def test_time_steps_reports_a_disagreeing_or_failing_peer(monkeypatch):
    """A peer whose first-step loss differs from fastgd's, or that raises (an optional peer, as a
    failed torch.compile), is not timed and the table says why."""
    def wrong(w, params):
        step = bench.numpy_step(w, params)
        return lambda X, y: step(X, y) * 1.01

    def broken(w, params):
        def step(X, y):
            raise RuntimeError("no C++ compiler\nmore lines")
        return step

    monkeypatch.setitem(bench.LOCAL_PEERS, "numpy", wrong)
    monkeypatch.setitem(bench.LOCAL_PEERS, "compiled", broken)
    w = small(bench.WORKLOADS[0])
    r = bench.time_steps(w, min_time=0.003, rounds=1, peers=("numpy", "compiled"))
    assert r["fastgd"] is not None and r["fastgd"] > 0
    assert r["numpy"] is None and r.problems["numpy"].startswith("first-step loss")
    assert r["compiled"] is None and r.problems["compiled"] == "RuntimeError: no C++ compiler"
    table = bench.format_table([r], {"float32": 1e11, "float64": 1e11}, ("numpy", "compiled"))
    assert "loss!=" in table and "failed" in table and "no C++ compiler" in table


def test_fit_runs_every_epoch_for_every_library():
    """--fit: each library trains for the epochs asked (scikit-learn too: tol=0 and
    n_iter_no_change above the epochs keep it from stopping) and learns the digits."""
    cases = [bench.FitCase("digits", 32, epochs=6, lr=1e-2, rounds=1),
             bench.FitCase("mnist_random", 16, epochs=2, n_train=400, n_test=100, rounds=1)]
    rows = bench.run_fit(cases=cases)
    for row, case in zip(rows, cases):
        for impl in ("fastgd", "sklearn", "torch"):
            if row[impl] is None:
                assert impl == "torch" and importlib.util.find_spec("torch") is None
                continue
            assert row[impl]["epochs"] == case.epochs, (case.name, impl)
            assert row[impl]["time"] > 0
            if case.name == "digits":
                assert row[impl]["accuracy"] > 0.8, (impl, row[impl])


def test_kernel_cases_cover_every_kernel():
    names = {name for name, _, _ in bench.kernel_cases(np.float32)}
    pairs = {"linear_forward", "linear_backward", "relu", "relu_backward", "sigmoid",
             "sigmoid_backward", "tanh", "tanh_backward", "softmax", "softmax_cross_entropy",
             "bce_with_logits", "mse", "mse_gradient"}
    assert pairs <= names
