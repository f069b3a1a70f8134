"""Net.state_dict / Net.load_state_dict (torch's semantics, fastgd's names and layout), and the
direction of fastgd.interop's imports (the model only, like the Net methods that call it)."""

from __future__ import annotations

import ast
from pathlib import Path

import fastgd as fg
import numpy as np
import pytest


def inputs(n=9, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 4))


def test_interop_imports_only_the_model():
    allowed = {"layers", "parameter", "net", "interop", "state"}
    for path in (Path(fg.__file__).parent / "interop").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                module = (node.module or "").split(".")[0] or node.names[0].name
                assert module in allowed, (path.name, module)


def test_state_dict_names_shapes_and_copies():
    net = fg.Net([fg.Linear(4, 3), fg.ReLU(), fg.Linear(3, 2, bias=False)], seed=0)
    sd = net.state_dict()
    assert list(sd) == ["0.W", "0.b", "2.W"]
    assert [sd[k].shape for k in sd] == [(4, 3), (3,), (3, 2)]
    assert all(v.dtype == np.float32 for v in sd.values())
    sd["0.W"][...] = 0  # a snapshot: the net keeps its weights
    assert np.abs(net.layers[0].W.data).sum() > 0


def test_load_state_dict_reproduces_the_net_and_casts_into_its_dtype():
    a = fg.Net([fg.Linear(4, 3), fg.Tanh(), fg.Linear(3, 2)], dtype="float64", seed=0)
    b = fg.Net([fg.Linear(4, 3), fg.Tanh(), fg.Linear(3, 2)], dtype="float64", seed=1)
    X = inputs()
    assert not np.allclose(a.predict(X), b.predict(X))
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = fg.Net([fg.Linear(4, 3), fg.Tanh(), fg.Linear(3, 2)], dtype="float32", seed=2)
    c.load_state_dict(a.state_dict())
    assert c.dtype == np.float32 and c.layers[0].W.dtype == np.float32  # cast into the net's dtype
    np.testing.assert_allclose(c.predict(X.astype(np.float32)), a.predict(X), rtol=1e-5, atol=1e-6)


def test_load_state_dict_strict_and_non_strict():
    net = fg.Net([fg.Linear(4, 3), fg.ReLU(), fg.Linear(3, 2)], seed=0)
    sd = net.state_dict()
    before = net.state_dict()
    partial = {"0.W": sd["0.W"] + 1, "9.W": np.zeros(2)}
    with pytest.raises(ValueError, match=r"missing keys \['0.b', '2.W', '2.b'\], unexpected keys \['9.W'\]"):
        net.load_state_dict(partial)
    np.testing.assert_array_equal(net.layers[0].W.data, before["0.W"])  # nothing loaded
    missing, unexpected = net.load_state_dict(partial, strict=False)
    assert missing == ["0.b", "2.W", "2.b"] and unexpected == ["9.W"]
    np.testing.assert_array_equal(net.layers[0].W.data, before["0.W"] + 1)


def test_load_state_dict_bad_shapes_and_types_load_nothing():
    net = fg.Net([fg.Linear(4, 3), fg.ReLU(), fg.Linear(3, 2)], seed=0)
    before = net.state_dict()
    bad = dict(before, **{"0.b": before["0.b"] + 1, "2.W": before["2.W"].T})
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"'2.W' must have shape \(3, 2\), got shape \(2, 3\)"):
            net.load_state_dict(bad, strict=strict)
    np.testing.assert_array_equal(net.layers[0].b.data, before["0.b"])
    with pytest.raises(TypeError, match="'0.b' must be a numeric array, got dtype <U1"):
        net.load_state_dict(dict(before, **{"0.b": np.array(["a", "b", "c"])}))
    with pytest.raises(TypeError, match="must be a mapping"):
        net.load_state_dict([("0.W", before["0.W"])])
    with pytest.raises(TypeError, match="keys must be strings"):
        net.load_state_dict({0: before["0.W"]})


def test_load_state_dict_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    a = fg.Net([fg.Linear(4, 3), fg.Tanh(), fg.Linear(3, 2)], dtype="float64", seed=0)
    b = fg.Net([fg.Linear(4, 3), fg.Tanh(), fg.Linear(3, 2)], dtype="float64", seed=1)
    b.load_state_dict({k: torch.from_numpy(v).requires_grad_() for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(b.predict(inputs()), a.predict(inputs()))
