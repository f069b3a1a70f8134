"""``python -m fastgd demo``: train an MLP on handwritten digits, report accuracy and speed.

Uses scikit-learn's bundled digits when scikit-learn is installed, otherwise the identical copy
shipped inside fastgd. Prints test accuracy, time per epoch, and the speed of fastgd's fused
training step against the same step written with the NumPy twins (``fastgd.reference``),
measured in the same run.
"""

from __future__ import annotations

import time

import numpy as np


def load() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        from .datasets import load_digits

        X, y = load_digits(scale=False, dtype="float32")
        return X, y, "digits (bundled with fastgd)"
    d = sk_load()
    return d.data.astype(np.float32), d.target.astype(np.int64), "digits (scikit-learn)"


def run_demo(epochs: int = 30, seed: int = 0, progress: bool = True) -> int:
    import fastgd as fg

    from .bench import Workload, median_time, numpy_step

    if epochs < 1:
        raise ValueError(f"run_demo: epochs must be >= 1, got {epochs}")
    X, y, source = load()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    n_test = len(X) // 5
    Xtr, ytr, Xte, yte = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    mean, std = Xtr.mean(0), Xtr.std(0) + 1e-6  # standardise with training statistics only
    Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    print(f"data: {source}, {len(Xtr)} train / {len(Xte)} test images of 8x8 pixels, 10 classes")

    net = fg.Net([fg.Linear(64, 128), fg.ReLU(), fg.Linear(128, 10)], dtype="float32", seed=seed)
    print(net)
    t0 = time.perf_counter()
    history = net.fit(Xtr, ytr, loss="cross_entropy", optimizer="sgd", lr=0.05, momentum=0.9,
                      epochs=epochs, batch_size=32, seed=seed, validation_data=(Xte, yte),
                      progress=progress)
    elapsed = time.perf_counter() - t0
    metrics = net.evaluate(Xte, yte)
    print(f"\ntest accuracy: {metrics['accuracy']:.2%}  (test loss {metrics['loss']:.4f}, "
          f"train loss {history.history['loss'][-1]:.4f})")
    print(f"time per epoch: {elapsed / len(history.history['loss']) * 1e3:.1f} ms "
          f"({int(np.ceil(len(Xtr) / 32))} steps of 32)")

    # Speed of one training step on a batch of 32, fastgd vs the NumPy reference, same run.
    w = Workload("demo", (64, 128, 10), "relu", 32, "float32", "cross_entropy", "sgd",
                 {"lr": 0.05, "momentum": 0.9})
    Xb, yb = Xtr[:32].copy(), ytr[:32].copy()
    params = [(layer.W.data.copy(), layer.b.data.copy()) for layer in net.layers
              if isinstance(layer, fg.Linear) and layer.W is not None and layer.b is not None]
    trainer = fg.Trainer(net, loss="cross_entropy", optimizer="sgd", lr=0.05, momentum=0.9)
    t_fast = median_time(lambda: trainer.step(Xb, yb))
    ref_step = numpy_step(w, params)
    t_ref = median_time(lambda: ref_step(Xb, yb))
    print(f"training step (batch 32): fastgd {t_fast * 1e6:.1f} us, NumPy reference "
          f"{t_ref * 1e6:.1f} us -> {t_ref / t_fast:.1f}x faster")
    return 0
