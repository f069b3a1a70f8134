"""fit end to end: XOR, digits, history, early stopping, divergence, determinism, progress."""

import fastgd as fg
import numpy as np
import pytest
from fastgd.datasets import load_digits


def test_xor_learned():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.array([0, 1, 1, 0])
    net = fg.Net([fg.Linear(2, 8), fg.Tanh(), fg.Linear(8, 1)], dtype="float64", seed=0)
    h = net.fit(X, y, loss="bce_with_logits", optimizer="adam", lr=0.05, epochs=400, batch_size=4, progress=False)
    assert net.evaluate(X, y)["accuracy"] == 1.0
    assert h.history["loss"][-1] < h.history["loss"][0] / 10


@pytest.mark.parametrize("fused", [True, False])
def test_digits_learned(fused):
    X, y = load_digits()
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    net = fg.Net([fg.Linear(64, 64), fg.ReLU(), fg.Linear(64, 10)], seed=0)
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="adam", lr=1e-2, fused=fused)
    h = trainer.fit(X[:1400], y[:1400], epochs=15, validation_data=(X[1400:], y[1400:]), progress=False)
    assert h.history["val_accuracy"][-1] >= 0.95
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in h.history.values())


def test_history_loss_is_the_sample_weighted_mean():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3))
    y = rng.standard_normal(10)
    net = fg.Net([fg.Linear(3, 1)], dtype="float64", seed=0)
    w0 = [p.data.copy() for p in net.parameters()]
    h = net.fit(X, y, loss="mse", optimizer="sgd", lr=0.0, epochs=2, batch_size=4, shuffle=False, progress=False)
    pred = X @ w0[0] + w0[1]
    np.testing.assert_allclose(h.history["loss"], [np.mean((pred.ravel() - y) ** 2)] * 2, rtol=1e-12)


def test_same_seed_gives_identical_weights():
    X, y = load_digits()
    runs = []
    for _ in range(2):
        net = fg.Net([fg.Linear(64, 16), fg.ReLU(), fg.Linear(16, 10)], seed=3)
        net.fit(X[:300], y[:300], loss="cross_entropy", optimizer="sgd", lr=0.1, momentum=0.9, epochs=3,
                seed=7, progress=False)
        runs.append([p.data.copy() for p in net.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    Xv, yv = X[:16], -y[:16]  # a validation set that gets worse as training improves
    net = fg.Net([fg.Linear(4, 1)], dtype="float64", seed=0)
    seen = []
    stop = fg.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hook = fg.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append([p.data.copy() for p in net.parameters()]))
    h = net.fit(X, y, loss="mse", optimizer="sgd", lr=0.05, epochs=50, validation_data=(Xv, yv),
                callbacks=[hook, stop], progress=False)
    n = len(h.history["loss"])
    assert n < 50
    best = int(np.argmin(h.history["val_loss"]))
    for p, q in zip(net.parameters(), seen[best]):
        np.testing.assert_array_equal(p.data, q)


def test_divergence_raises_with_advice():
    x = np.linspace(0, 10, 100)
    features = np.stack([x, x**2, x**3], axis=1)
    y = 0.5 * x**3 + 3
    net = fg.Net([fg.Linear(3, 1)], dtype="float64", seed=0)
    with pytest.raises(fg.DivergenceError, match=r"(?s)learning rate.*standardise"):
        net.fit(features, y, loss="mse", optimizer="sgd", lr=0.01, epochs=20, progress=False)


def test_progress_bar_prints(capsys):
    X = np.ones((8, 2), np.float32)
    net = fg.Net([fg.Linear(2, 1)], seed=0)
    net.fit(X, np.ones(8, np.float32), loss="mse", epochs=2, progress=True)
    out = capsys.readouterr()
    assert "loss" in out.out + out.err
