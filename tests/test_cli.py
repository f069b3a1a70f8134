"""The command line (``python -m fastgd``, the ``fastgd`` script) and the benchmark's fairness:
the NumPy and PyTorch steps it times do the same training step as fastgd."""

from __future__ import annotations

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
    r = run("bench", "--quick", "--threads", "1", "--plot", str(png), timeout=300)
    assert r.returncode == 0, r.stderr
    for w in bench.WORKLOADS:
        assert re.search(rf"^{w.name}\s+[\d.]+(us|ms)\s+[\d.]+(us|ms)", r.stdout, re.M), r.stdout
    assert "1 threads" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


# --------------------------------------------------------------- the benchmark compares like with like


def small(w: bench.Workload) -> bench.Workload:
    """The workload with its widths and batch cut down (same activation, loss, optimizer, dtype)."""
    sizes = tuple(min(s, 24) for s in w.sizes)
    return bench.Workload(w.name, sizes, w.activation, min(w.batch, 12), w.dtype, w.loss, w.optimizer,
                          w.hyper)


@pytest.mark.parametrize("workload", bench.WORKLOADS, ids=lambda w: w.name)
def test_numpy_and_torch_steps_match_fastgd(workload):
    w = small(workload)
    X, y = bench.make_data(w)
    steps = {"fastgd": bench.fastgd_step(w, bench.init_params(w)),
             "numpy": bench.numpy_step(w, bench.init_params(w)),
             "torch": bench.torch_step(w, bench.init_params(w))}
    losses = {k: [s(X, y) for _ in range(4)] for k, s in steps.items() if s is not None}
    rtol = 1e-4 if w.dtype == "float32" else 1e-10
    np.testing.assert_allclose(losses["numpy"], losses["fastgd"], rtol=rtol)
    if "torch" in losses:
        np.testing.assert_allclose(losses["torch"], losses["fastgd"], rtol=rtol)
    assert losses["fastgd"][-1] < losses["fastgd"][0]  # the steps train


def test_kernel_cases_cover_every_kernel():
    names = {name for name, _, _ in bench.kernel_cases(np.float32)}
    pairs = {"linear_forward", "linear_backward", "relu", "relu_backward", "sigmoid",
             "sigmoid_backward", "tanh", "tanh_backward", "softmax", "softmax_cross_entropy",
             "bce_with_logits", "mse", "mse_gradient"}
    assert pairs <= names
