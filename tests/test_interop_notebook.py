"""Notebook interop: ProgressBar draws with tqdm.auto (a widget in Jupyter, text in a terminal),
and History.plot() draws the learning curves of fastgd.plot."""

from __future__ import annotations

import sys
import types

import fastgd as fg
import numpy as np
import pytest
from fastgd.callbacks import ProgressBar


def small_fit(**kwargs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    net = fg.Net([fg.Linear(3, 4), fg.Tanh(), fg.Linear(4, 1)], seed=0)
    return net.fit(X, y, loss="mse", optimizer="sgd", lr=0.05, epochs=4, batch_size=10, **kwargs)


def test_progress_bar_uses_tqdm_auto(monkeypatch):
    made = []

    class FakeBar:
        def __init__(self, **kwargs):
            self.kwargs, self.updates, self.postfix, self.closed = kwargs, 0, None, False
            made.append(self)

        def update(self, n):
            self.updates += n

        def set_postfix_str(self, text, refresh=True):
            self.postfix = text

        def write(self, line, file=None):
            pass

        def close(self):
            self.closed = True

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    package = types.ModuleType("tqdm")
    package.auto = auto
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    small_fit(progress=False, callbacks=[ProgressBar(bar=True)])
    assert len(made) == 1
    bar = made[0]
    assert bar.kwargs["total"] == 4 and bar.updates == 4 and bar.closed
    assert "loss" in bar.postfix


def test_history_plot_draws_the_learning_curves(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    history = small_fit(progress=False)
    fig = history.plot(path=tmp_path / "curves.png")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), history.history["loss"])
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError):
        history.plot(metrics=["no_such_metric"])
