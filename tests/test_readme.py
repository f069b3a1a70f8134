"""README's Python examples run as written, in order, and print what the comments say."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not next to tests/ (installed-wheel run)")
def test_readme_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)  # the examples write files (net.save)
    blocks = python_blocks()
    assert len(blocks) >= 5
    ns: dict = {}
    for i, code in enumerate(blocks):
        code = code.replace("epochs=20", "epochs=20, progress=False")
        exec(compile(code, f"README.md python block {i}", "exec"), ns)  # noqa: S102
    # What the comments promise:
    assert ns["history"].history["val_accuracy"][-1] > 0.9
    np.testing.assert_allclose(ns["result"].x, [1.0, 1.0], atol=0.05)
    np.testing.assert_allclose(ns["w"], [3.0, 0.5, -1.0, 2.0], atol=1e-3)
    assert ns["recall"]["balanced"] > 0.75 > 0.35 > ns["recall"][None]
    assert ns["snet"].evaluate(ns["Xs"][2500:], ns["ys"][2500:])["accuracy"] > 0.78  # sparse input
    losses = ns["lbfgs_hist"].history["loss"]
    assert losses[0] > 2 and losses[-1] < 0.06 and losses == sorted(losses, reverse=True)
    assert ns["lbfgs_acc"] > 0.88
    np.testing.assert_allclose(ns["lb"].x, [1.0, 1.0], atol=1e-4)
    assert ns["lb"].n_steps < 100
    for name in ("digits.npz", "curves.png", "descent.png"):
        assert (tmp_path / name).exists()
