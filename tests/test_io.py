"""Checkpoints: round trips, bit-identical resume, corrupted/truncated/mismatched files, atomicity."""

import os

import fastgd as fg
import numpy as np
import pytest


def _trained(tmp_path, opt="adam", **hyper):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    net = fg.Net([fg.Linear(5, 8), fg.ReLU(), fg.Linear(8, 3)], seed=0)
    t = fg.Trainer(net, loss="cross_entropy", optimizer=opt, **hyper)
    for _ in range(3):
        t.step(X, y)
    return net, t, X, y


@pytest.mark.parametrize("opt,hyper", [("adam", {"lr": 0.01}), ("sgd", {"lr": 0.1, "momentum": 0.9}),
                                       ("adamw", {"lr": 0.01, "amsgrad": True})])
def test_resume_is_bit_identical(tmp_path, opt, hyper):
    net, t, X, y = _trained(tmp_path, opt, **hyper)
    path = tmp_path / "ck.npz"
    net.save(path, optimizer=t.optimizer)
    net2, opt2 = fg.Net.load(path, with_optimizer=True)
    t2 = fg.Trainer(net2, loss="cross_entropy", optimizer=opt2)
    for _ in range(4):
        assert t.step(X, y) == t2.step(X, y)
    for p, q in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_round_trip_without_optimizer(tmp_path):
    net, _, X, _ = _trained(tmp_path)
    net.save(tmp_path / "m.npz")
    loaded = fg.Net.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    assert repr(loaded) == repr(net)
    with pytest.raises(ValueError, match="no optimizer state"):
        fg.Net.load(tmp_path / "m.npz", with_optimizer=True)


def test_corrupted_truncated_and_foreign_files(tmp_path):
    net, _, _, _ = _trained(tmp_path)
    path = tmp_path / "m.npz"
    net.save(path)
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid fastgd checkpoint"):
        fg.Net.load(tmp_path / "trunc.npz")
    flipped = bytearray(data)
    i = data.index(b"param_0.npy") + 200
    flipped[i] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="not a valid fastgd checkpoint"):
        fg.Net.load(tmp_path / "flip.npz")
    np.savez(tmp_path / "foreign.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="no __meta__"):
        fg.Net.load(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a valid"):
        fg.Net.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        fg.Net.load(tmp_path / "missing.npz")


def test_mismatched_weights_are_refused(tmp_path):
    net, _, _, _ = _trained(tmp_path)
    path = tmp_path / "m.npz"
    net.save(path)
    with np.load(path) as z:
        files = dict(z.items())
    files["param_0"] = files["param_0"][:, :4]
    np.savez(tmp_path / "bad.npz", **files)
    with pytest.raises(ValueError, match="parameter 0 has shape"):
        fg.Net.load(tmp_path / "bad.npz")


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    net, _, _, _ = _trained(tmp_path)
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if f.startswith(".fastgd-")] == []
