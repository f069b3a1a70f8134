"""Reliability: threads, processes, thread pools, determinism, crash-safe checkpoints and soak.

- threads: independent trainings in 4 Python threads equal the same trainings run one after
  another, bit for bit; the kernels and the fused step release the GIL while they compute.
- processes: after the parent ran multi-threaded BLAS, ``fork`` and ``spawn`` children compute and
  train correctly (a hang fails within a timeout instead of hanging the suite).
- threadpoolctl sees fastgd's own OpenBLAS and its limits reach ``fastgd.get_num_threads()``.
- determinism: the same seed gives bit-identical weights, another seed different ones.
- checkpoints: a save that fails or is killed midway never replaces the previous file; corrupted
  files (byte flips anywhere, truncation, edited metadata) are refused with ``ValueError``.
- soak: 10,000 fused steps and 10,000 kernel calls keep RSS flat; no reference leaks.

The soak's step count comes from ``FASTGD_SOAK_STEPS`` (default 10000) for a long soak run.
"""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
import zipfile

import fastgd as fg
import fastgd._core
import numpy as np
import pytest
from fastgd import ops, reference

SOAK_STEPS = int(os.environ.get("FASTGD_SOAK_STEPS", "10000"))
RSS_BOUND = 5 * 2**20  # bytes an unchanging loop may grow after its warm-up
ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ
TIMEOUT = 120  # seconds a child process may take before the test fails (it normally needs ~1 s)

OPTIMIZERS = {"sgd-momentum": ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
              "adam": ("adam", {"lr": 0.01})}


@pytest.fixture
def two_threads():
    """fastgd at 2 BLAS threads for the test, restored after."""
    before = fg.get_num_threads()
    fg.set_num_threads(2)
    yield
    fg.set_num_threads(before)


def _data(seed, n=192, d=12, k=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, :k].argmax(axis=1) + (rng.random(n) < 0.1)) % k
    return X, y


def train(seed=0, fused=True, opt="adam", fit_seed=0, width=32, epochs=4, d=12):
    """Weights after a short shuffled mini-batch training (a fresh net from ``seed``)."""
    name, hyper = OPTIMIZERS[opt]
    X, y = _data(seed, d=d)
    net = fg.Net([fg.Linear(d, width), fg.ReLU(), fg.Linear(width, width), fg.Tanh(),
                  fg.Linear(width, 4)], seed=seed)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer=name, fused=fused, **hyper)
    trainer.fit(X, y, epochs=epochs, batch_size=16, shuffle=True, seed=fit_seed)
    assert bool(trainer._fused) == fused
    return [p.data.copy() for p in net.parameters()]


def assert_bit_identical(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert p.dtype == q.dtype and p.shape == q.shape
        assert p.tobytes() == q.tobytes()


# ------------------------------------------------------------------------------- threads


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer-by-layer"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_threads_train_like_one_after_another(two_threads, fused, opt):
    jobs = [dict(seed=s, fused=fused, opt=opt, width=w, epochs=12) for s, w in zip(range(4), (32, 32, 160, 160))]
    alone = [train(**job) for job in jobs]
    results, errors = [None] * 4, []
    start = threading.Barrier(4)

    def work(i):
        try:
            start.wait()
            results[i] = train(**jobs[i])
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a training thread hangs"
    assert not errors, errors
    for a, b in zip(alone, results):
        assert_bit_identical(a, b)
    assert not all(np.array_equal(alone[0][0], r[0]) for r in alone[1:]), "the jobs were not independent"


def _gil_workloads():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 1000))
    W = rng.standard_normal((1000, 1000))
    logits = rng.standard_normal((4000, 1000))
    labels = rng.integers(0, 1000, 4000)
    net = fg.Net([fg.Linear(256, 512), fg.ReLU(), fg.Linear(512, 10)], dtype="float64", seed=0)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam")
    Xb, yb = rng.standard_normal((4000, 256)), rng.integers(0, 10, 4000)
    trainer.step(Xb[:8], yb[:8])
    assert trainer._fused
    return {
        "linear_forward": lambda: ops.linear_forward(X, W, W[0]),
        "linear_backward": lambda: ops.linear_backward(X, W, X),
        "softmax_cross_entropy": lambda: ops.softmax_cross_entropy(logits, labels),
        "tanh": lambda: ops.tanh(logits),
        "fused Trainer.step": lambda: trainer.step(Xb, yb),
    }


@pytest.mark.parametrize("call", ["linear_forward", "linear_backward", "softmax_cross_entropy", "tanh",
                                  "fused Trainer.step"])
def test_the_gil_is_released_while_computing(call):
    """With a switch interval far longer than the call, the main thread can only run Python code
    while the worker is inside the call if the call released the GIL: it sees the call still
    running and counts while it does. (Holding the GIL, the worker would finish first: count 0.)"""
    work = _gil_workloads()[call]
    ready, done = threading.Event(), threading.Event()
    result = []

    def worker():
        ready.set()
        result.append(work())
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)  # no forced GIL hand-over during the test
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        ready.wait()  # wakes up only when the worker lets go of the GIL
        running_when_woken = not done.is_set()
        count = 0
        while not done.is_set():
            count += 1
            time.sleep(0)  # lets the worker take the GIL back when its call returns
        thread.join(TIMEOUT)
    finally:
        sys.setswitchinterval(old)
    assert result, "the call did not return"
    assert running_when_woken and count > 0, f"{call} held the GIL for its whole duration"


def test_threads_sharing_fastgds_pool_get_their_own_answers(two_threads):
    """Python threads whose kernels want fastgd's thread pool at the same time (one gets it, the
    others run on their own thread) each get the reference result."""
    rng = np.random.default_rng(3)
    jobs = [(rng.standard_normal(17), rng.standard_normal((30_000, 16)), rng.standard_normal(30_000))
            for _ in range(4)]
    want = [reference.mse_gradient(*job) for job in jobs]
    got: dict[int, list[np.ndarray]] = {i: [] for i in range(len(jobs))}

    def work(i):
        for _ in range(25):
            got[i].append(ops.mse_gradient(*jobs[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    for i, results in got.items():
        assert len(results) == 25
        for g in results:
            np.testing.assert_allclose(g, want[i], rtol=1e-10)


# ------------------------------------------------------------------------------- processes


def _child_job(threads):
    """Run in a child process: a GEMM, a linear-regression gradient big enough for fastgd's own
    thread pool, and a short fit; returns what the parent compares."""
    fg.set_num_threads(threads)
    rng = np.random.default_rng(7)
    X, W = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    Z = ops.linear_forward(X, W, W[0])
    F = rng.standard_normal((40_000, 16))
    g = ops.mse_gradient(W[:17, 0].copy(), F, F[:, 0].copy())
    np.testing.assert_allclose(g, reference.mse_gradient(W[:17, 0].copy(), F, F[:, 0].copy()), rtol=1e-10)
    return Z, train(seed=3, epochs=2), fg.get_num_threads()


def _child_main(queue, threads):
    try:
        queue.put(("ok", _child_job(threads)))
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def _run_in_child(method, threads=2):
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_main, args=(queue, threads))
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a process with threads (here OpenBLAS's) may deadlock:
        # whether it does is exactly what these tests check.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        proc.start()
    try:
        status, payload = queue.get(timeout=TIMEOUT)
    except Exception:
        status, payload = "hang", f"no result within {TIMEOUT} s"
    proc.join(TIMEOUT)
    if proc.is_alive():
        proc.kill()
        proc.join()
    queue.close()
    assert status == "ok", f"{method} child: {payload}"
    assert proc.exitcode == 0
    return payload


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_child_process_after_threaded_blas(two_threads, method):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((800, 800))
    ops.linear_forward(A, A, None)  # the parent's OpenBLAS thread pool is up and has worked
    ops.mse_gradient(A[0, :17].copy(), np.vstack([A] * 60)[:, :16], np.ones(48_000))  # and fastgd's own
    Z, weights, threads = _run_in_child(method)
    Z_here, weights_here, _ = _child_job(2)
    assert threads == 2
    np.testing.assert_array_equal(Z, Z_here)
    assert_bit_identical(weights, weights_here)
    ops.linear_forward(A, A, None)  # and the parent's pool still works


def test_fork_pool_after_threaded_blas(two_threads):
    ops.linear_forward(np.ones((600, 600)), np.ones((600, 600)), None)
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        pool = ctx.Pool(2)
    try:
        results = pool.map_async(_child_job, [1, 2, 2]).get(timeout=TIMEOUT)
    finally:
        pool.terminate()
        pool.join()
    expected = _child_job(2)
    for Z, weights, _ in results:
        np.testing.assert_allclose(Z, expected[0], rtol=1e-12)
        assert_bit_identical(weights, expected[1])
    assert [r[2] for r in results] == [1, 2, 2]


# ------------------------------------------------------------------------------- threadpoolctl


def _our_openblas(info):
    here = os.path.realpath(os.path.dirname(fastgd._core.__file__))
    ours = [i for i in info if os.path.realpath(i["filepath"]).startswith((here + os.sep, here + ".libs"))]
    assert len(ours) == 1, f"fastgd's OpenBLAS (under {here}) not found in {info}"
    return ours[0]


def test_threadpoolctl_sees_and_limits_fastgds_openblas(two_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ours = _our_openblas(threadpoolctl.threadpool_info())
    assert ours["internal_api"] == "openblas" and "scipy_openblas" in ours["prefix"]
    assert ours["num_threads"] == fg.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(1):
        assert fg.get_num_threads() == 1
        np.testing.assert_allclose(ops.linear_forward(np.eye(3), np.eye(3), None), np.eye(3))
    assert fg.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert fg.get_num_threads() == 1
    assert fg.get_num_threads() == 2
    fg.set_num_threads(1)  # and the other way round: threadpoolctl sees fastgd's setting
    assert _our_openblas(threadpoolctl.threadpool_info())["num_threads"] == 1


# ------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer-by-layer"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_same_seed_same_weights_other_seed_other_weights(two_threads, fused, opt):
    first = train(seed=5, fused=fused, opt=opt, width=96)
    assert_bit_identical(first, train(seed=5, fused=fused, opt=opt, width=96))
    other_init = train(seed=6, fused=fused, opt=opt, width=96)
    other_order = train(seed=5, fused=fused, opt=opt, width=96, fit_seed=1)
    for other in (other_init, other_order):
        assert not np.array_equal(first[0], other[0])


def test_net_fit_is_deterministic_with_validation_and_callbacks(two_threads):
    X, y = _data(1)

    def run():
        net = fg.Net([fg.Linear(12, 16), fg.ReLU(), fg.Linear(16, 4)], seed=2)
        history = net.fit(X[:160], y[:160], loss="cross_entropy", optimizer="adam", lr=0.01, epochs=3,
                          batch_size=10, seed=4, validation_data=(X[160:], y[160:]),
                          callbacks=[fg.EarlyStopping(patience=5)])
        return [p.data.copy() for p in net.parameters()], history.history

    (w1, h1), (w2, h2) = run(), run()
    assert_bit_identical(w1, w2)
    assert h1 == h2


# ------------------------------------------------------------------------------- checkpoints


def _checkpoint_net(seed, width=8):
    net = fg.Net([fg.Linear(5, width), fg.ReLU(), fg.Linear(width, 3)], seed=seed)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=0.01)
    X, y = _data(seed, n=32, d=5, k=3)
    trainer.step(X, y)
    return net, trainer.optimizer


def _weights(net):
    return [p.data.copy() for p in net.parameters()]


@pytest.mark.parametrize("failure", ["partial-write", "interrupt", "fsync", "replace"])
def test_a_failed_save_never_replaces_the_old_file(tmp_path, monkeypatch, failure):
    old, opt = _checkpoint_net(0)
    path = tmp_path / "model.npz"
    old.save(path, optimizer=opt)
    before = path.read_bytes()
    new, new_opt = _checkpoint_net(1)
    real_savez = np.savez

    def savez_partway(file, **arrays):
        real_savez(file, **arrays)
        file.seek(file.tell() // 3)
        file.truncate()  # a third of the file is on disk when the write fails
        raise (KeyboardInterrupt() if failure == "interrupt" else OSError(28, "No space left on device"))

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    if failure in ("partial-write", "interrupt"):
        monkeypatch.setattr(np, "savez", savez_partway)
    else:
        monkeypatch.setattr(os, failure, fail)
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else OSError):
        new.save(path, optimizer=new_opt)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"], "the temporary file was left behind"
    loaded = fg.Net.load(path)
    assert_bit_identical(_weights(loaded), _weights(old))


def _save_forever(directory, counter):
    """Child process: save three alternating states to directory/model.npz until killed."""
    nets = [_checkpoint_net(seed, width=256) for seed in range(3)]
    i = 0
    while True:
        net, opt = nets[i % 3]
        net.save(os.path.join(directory, "model.npz"), optimizer=opt)
        i += 1
        counter.value = i


def test_sigkill_during_saves_leaves_a_loadable_checkpoint(tmp_path):
    """A process killed (SIGKILL: no cleanup at all) while it saves in a loop leaves a file that
    loads, with its optimizer, and equals one of the states it was saving."""
    states = [_weights(_checkpoint_net(seed, width=256)[0]) for seed in range(3)]
    ctx = multiprocessing.get_context("fork")
    for round_, saves in enumerate([1, 3, 7, 12, 20]):
        counter = ctx.Value("l", 0)
        proc = ctx.Process(target=_save_forever, args=(str(tmp_path), counter))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            proc.start()
        deadline = time.monotonic() + TIMEOUT
        while counter.value < saves and proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert proc.is_alive(), f"the saving process died by itself (exit code {proc.exitcode})"
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(TIMEOUT)
        assert proc.exitcode == -signal.SIGKILL
        net, opt = fg.Net.load(tmp_path / "model.npz", with_optimizer=True)
        assert any(all(np.array_equal(p.data, w) for p, w in zip(net.parameters(), state))
                   for state in states), f"round {round_}: the checkpoint matches no saved state"
        assert opt.state_dict()["state"], "the optimizer state was lost"
        leftovers = [f for f in os.listdir(tmp_path) if f != "model.npz"]
        assert all(f.startswith(".fastgd-") and f.endswith(".tmp") for f in leftovers), leftovers


def _layout(data):
    """(binary, text) byte offsets of a checkpoint's structure: the binary zip headers (local,
    central directory, end record) and .npy prefixes (magic, version, header length); and the text
    in them (member names, .npy header dicts, the metadata JSON)."""
    binary, text = [], []
    end = data.rfind(b"PK\x05\x06")
    directory = int.from_bytes(data[end + 16:end + 20], "little")
    binary += range(directory, len(data))  # central directory and end record
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            start = info.header_offset
            name = int.from_bytes(data[start + 26:start + 28], "little")
            extra = int.from_bytes(data[start + 28:start + 30], "little")
            npy = start + 30 + name + extra
            header = int.from_bytes(data[npy + 8:npy + 10], "little")
            binary += [*range(start, start + 30), *range(npy, npy + 10)]
            text += [*range(start + 30, start + 30 + name), *range(npy + 10, npy + 10 + header)]
            if info.filename == "__meta__.npy":
                text += range(npy + 10 + header, npy + info.file_size)
    return binary, text


@pytest.mark.slow
def test_any_byte_flip_or_truncation_is_refused_or_harmless(tmp_path):
    """Flipping bits of every binary header byte (zip local and central headers, the end record,
    .npy prefixes), of sampled bytes of the text (names, .npy headers, metadata) and of the data,
    or cutting the file anywhere: ``load`` raises ValueError or returns exactly the saved net and
    optimizer; never another exception, never other weights."""
    net = fg.Net([fg.Linear(3, 2)], seed=0)
    trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.1, momentum=0.9)
    trainer.step(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))
    path = tmp_path / "model.npz"
    net.save(path, optimizer=trainer.optimizer)
    data = path.read_bytes()
    want = _weights(net)
    want_state = trainer.optimizer.state_dict()["state"]
    binary, text = _layout(data)
    structure = set(binary) | set(text)
    cases = [(i, mask) for i in binary for mask in (0x01, 0xFF)]
    cases += [(i, 0x01 if i % 2 else 0x80) for i in text[::3]]
    cases += [(i, 0x10) for i in range(0, len(data), 3) if i not in structure]
    cases += [(-cut, None) for cut in [0, 1, 2, 10, 22, 100, len(data) // 2, len(data) - 1, len(data)]]
    bad = tmp_path / "bad.npz"
    outcomes = {"refused": 0, "harmless": 0}
    for offset, mask in cases:
        if mask is None:
            bad.write_bytes(data[:len(data) + offset])
        else:
            flipped = bytearray(data)
            flipped[offset] ^= mask
            bad.write_bytes(bytes(flipped))
        try:
            got, got_opt = fg.Net.load(bad, with_optimizer=True)
        except ValueError:
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # the contract: a damaged file is a ValueError
            pytest.fail(f"byte {offset} ^ {mask}: {type(exc).__name__}: {exc}")
        assert_bit_identical(_weights(got), want)
        state = got_opt.state_dict()["state"]
        assert state.keys() == want_state.keys()
        for k in state:
            for key, v in want_state[k].items():
                assert np.array_equal(state[k][key], v), f"byte {offset} ^ {mask}: optimizer {key} changed"
        outcomes["harmless"] += 1
    assert outcomes["refused"] > len(cases) // 2, outcomes


def _edited(tmp_path, edit):
    """A copy of a checkpoint with its metadata (a dict) or its arrays edited by ``edit``."""
    net, opt = _checkpoint_net(0)
    path = tmp_path / "model.npz"
    net.save(path, optimizer=opt)
    with np.load(path) as z:
        files = dict(z.items())
    meta = json.loads(str(files["__meta__"]))
    edit(meta, files)
    files["__meta__"] = np.array(json.dumps(meta))
    out = tmp_path / "edited.npz"
    np.savez(out, **files)
    return out


def _set(keys, value):
    def edit(meta, files):
        target = meta
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return edit


EDITS = {
    "version": _set(["version"], 99),
    "format": _set(["format"], "something-else"),
    "dtype-of-net": _set(["config", "dtype"], "float16"),
    "unknown-layer": _set(["config", "layers", 1, "type"], "Conv2d"),
    "layer-width": _set(["config", "layers", 0, "out_features"], 9),
    "negative-width": _set(["config", "layers", 0, "out_features"], -1),
    "layers-not-list": _set(["config", "layers"], {"a": 1}),
    "config-not-dict": _set(["config"], [1, 2]),
    "meta-not-dict": lambda meta, files: (meta.clear(), files.__setitem__("__meta__", np.array("[1]"))),
    "sha": _set(["sha256"], "0" * 64),
    "param-count": _set(["params"], []),
    "missing-param": lambda meta, files: files.pop("param_1"),
    "param-dtype": lambda meta, files: files.__setitem__("param_0", files["param_0"].astype(np.float64)),
    "loss-name": _set(["loss"], "hinge"),
    "loss-type": _set(["loss"], 5),
    "params-not-list": _set(["params"], 3),
    "optimizer-not-dict": _set(["optimizer"], [1]),
    "optimizer-class": _set(["optimizer", "class"], "Lion"),
    "optimizer-lr": _set(["optimizer", "param_groups", 0, "lr"], -1.0),
    "optimizer-groups": _set(["optimizer", "param_groups"], []),
    "optimizer-state-missing": lambda meta, files: files.pop("opt_0_exp_avg"),
    "optimizer-state-shape": lambda meta, files: files.__setitem__("opt_0_exp_avg", np.zeros(3, np.float32)),
    "optimizer-state-index": _set(["optimizer", "state", "99"], {"step": {"value": 1}}),
    "optimizer-state-not-dict": _set(["optimizer", "state"], [1]),
    "optimizer-step-type": _set(["optimizer", "state", "0", "step"], {"value": "many"}),
    "optimizer-entry-not-dict": _set(["optimizer", "state", "0"], 5),
    "optimizer-spec-not-dict": _set(["optimizer", "state", "0", "step"], 5),
    "optimizer-array-name": _set(["optimizer", "state", "0", "exp_avg"], {"array": ["x"]}),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_mismatched_or_edited_checkpoints_are_refused(tmp_path, edit):
    path = _edited(tmp_path, EDITS[edit])
    with pytest.raises(ValueError):
        fg.Net.load(path, with_optimizer=True)


# ------------------------------------------------------------------------------- soak


def rss():
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def growth_after_warmup(loop, steps, warmup):
    loop(warmup)
    gc.collect()
    start = rss()
    loop(steps)
    gc.collect()
    return rss() - start


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_soak_fused_training_keeps_memory_flat():
    net = fg.Net([fg.Linear(16, 32), fg.ReLU(), fg.Linear(32, 32), fg.Tanh(), fg.Linear(32, 4)], seed=0)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=1e-3, clip_norm=1.0)
    X, y = _data(0, n=64, d=16)
    batches = [(X[i:i + b], y[i:i + b]) for i, b in ((0, 32), (32, 17), (0, 64))]

    def loop(steps):
        for i in range(steps):
            Xb, yb = batches[i % 3]
            trainer.step(Xb, yb)

    loop(500)  # warm-up: the workspace reaches its largest batch, allocators their steady state
    allocations = trainer._fused.engine.workspace_allocations
    grown = growth_after_warmup(loop, SOAK_STEPS, warmup=0)
    assert trainer._fused.engine.workspace_allocations == allocations
    assert all(np.isfinite(p.data).all() for p in net.parameters())
    print(f"\nRSS growth over {SOAK_STEPS} fused steps: {grown / 2**10:.0f} KiB")
    if not ASAN:  # ASan's quarantine holds freed memory on purpose
        assert grown < RSS_BOUND, f"RSS grew by {grown / 2**20:.1f} MiB over {SOAK_STEPS} fused steps"


def _kernel_calls():
    rng = np.random.default_rng(0)
    f32 = np.float32
    X, W, b = rng.standard_normal((33, 20)).astype(f32), rng.standard_normal((20, 7)).astype(f32), np.ones(7, f32)
    Z = rng.standard_normal((33, 7)).astype(f32)
    labels = rng.integers(0, 7, 33)
    t = (rng.random((33, 7)) > 0.5).astype(f32)
    out = np.empty_like(Z)
    w, feats, targets = np.ones(21, f32), X, rng.standard_normal(33).astype(f32)
    p, g, m, v = (np.ones(7, f32) for _ in range(4))
    strided = np.asfortranarray(X)[::2]
    bad = np.ones(5, np.int64)
    calls = [
        lambda: ops.linear_forward(X, W, b),
        lambda: ops.linear_forward(strided, W, b),
        lambda: ops.linear_forward(X, W, b, out=np.empty((33, 7), f32)),
        lambda: ops.linear_backward(X, W, Z),
        lambda: ops.linear_backward(X, W, Z, need_dx=False, out=(None, np.empty((20, 7), f32), None)),
        lambda: ops.relu(Z),
        lambda: ops.relu(Z, out=out),
        lambda: ops.relu_backward(Z, Z.T.copy().T),
        lambda: ops.leaky_relu_backward(Z, Z, 0.1),
        lambda: ops.sigmoid(Z[::-1]),
        lambda: ops.sigmoid_backward(out, Z),
        lambda: ops.tanh(Z, out=out),
        lambda: ops.tanh_backward(out, Z),
        lambda: ops.softmax(Z),
        lambda: ops.softmax_cross_entropy(Z, labels),
        lambda: ops.softmax_cross_entropy(Z, t),
        lambda: ops.bce_with_logits(Z, t, out=out),
        lambda: ops.bce_with_logits(Z, labels[:, None] % 2 == np.arange(7)),
        lambda: ops.mse(Z, t),
        lambda: ops.mse_gradient(w, feats, targets),
        lambda: ops.sgd_step(p, g, m, lr=1e-3, momentum=0.9),
        lambda: ops.adam_step(p, g, m, v, step=3, lr=1e-3),
    ]
    failing = [  # error paths: the exception and its message must not leak either
        lambda: ops.relu(bad),
        lambda: ops.linear_forward(X, W.T, b),
        lambda: ops.softmax_cross_entropy(Z, labels + 7),
        lambda: ops.mse(Z, Z.astype(np.float64)),
        lambda: ops.tanh(Z, out=np.empty((7, 33), f32)),
        lambda: ops.linear_backward(X, W, Z, out=[None] * 3),
    ]
    return calls, failing


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_soak_kernel_calls_keep_memory_flat():
    calls, failing = _kernel_calls()
    everything = calls + failing

    def loop(steps):
        for i in range(steps):
            try:
                everything[i % len(everything)]()
            except (ValueError, TypeError):
                pass

    grown = growth_after_warmup(loop, SOAK_STEPS, warmup=1000)
    print(f"\nRSS growth over {SOAK_STEPS} kernel calls: {grown / 2**10:.0f} KiB")
    if not ASAN:
        assert grown < RSS_BOUND, f"RSS grew by {grown / 2**20:.1f} MiB over {SOAK_STEPS} kernel calls"


def test_no_reference_leaks():
    calls, failing = _kernel_calls()
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((6, 5))
    view = Z[:, ::2]  # copied inside the kernel: the copy must not keep a reference
    labels = np.array([0, 1, 2, 0, 1, 2])
    watched = [Z, view, labels]
    before = [sys.getrefcount(a) for a in watched]
    for _ in range(50):
        for call in calls + [lambda: ops.relu(view), lambda: ops.softmax_cross_entropy(Z, labels)]:
            call()
        for call in failing + [lambda: ops.relu(Z, out=view), lambda: ops.softmax_cross_entropy(Z, labels + 5)]:
            with pytest.raises((ValueError, TypeError)):
                call()
    assert [sys.getrefcount(a) for a in watched] == before

    brand_new = np.empty(3)
    fresh = sys.getrefcount(brand_new)  # what a new array held by one name shows
    A = ops.relu(Z)
    assert sys.getrefcount(A) == fresh
    loss, d = ops.softmax_cross_entropy(Z, labels)
    assert sys.getrefcount(d) == fresh
    dX, dW, db = ops.linear_backward(Z, Z.T.copy(), np.ones((6, 6)))
    assert sys.getrefcount(dX) == sys.getrefcount(dW) == sys.getrefcount(db) == fresh

    out = np.empty_like(Z)
    held = sys.getrefcount(out)
    for fn, args in [(ops.relu, (Z,)), (ops.tanh, (Z,)), (ops.softmax, (Z,)), (ops.relu_backward, (Z, Z))]:
        r = fn(*args, out=out)
        assert r is out and sys.getrefcount(out) == held + 1
        del r
        assert sys.getrefcount(out) == held
    r = ops.relu(out, out=out)  # in place
    assert r is out
    del r
    loss, d = ops.mse(Z, Z, out=out)
    assert d is out
    del d
    assert sys.getrefcount(out) == held
    outs = (np.empty((6, 5)), np.empty((5, 6)), np.empty(6))
    counts = [sys.getrefcount(o) for o in outs]
    res = ops.linear_backward(Z, Z.T.copy(), np.ones((6, 6)), out=outs)
    assert all(r is o for r, o in zip(res, outs))
    del res
    assert [sys.getrefcount(o) for o in outs] == counts
