"""fastgd._fastcall: the Cython call of the fused step against the pybind11 ``Engine.step``.

Both bindings must accept the same arguments, give the same results (bit for bit: they run the
same C++ step on the same inputs) and raise the same errors; the Cython fast path must be the one
taken for the arrays a training loop passes, and the layer-by-layer Python path (an independent
implementation) must agree with it.
"""

from __future__ import annotations

import fastgd as fg
import numpy as np
import pytest
from fastgd import _core, _fastcall, fused

BINDINGS = ["cython", "pybind11"]


def _trainer(binding, monkeypatch, layers, dtype, loss, optimizer, **hyper):
    monkeypatch.setattr(fused, "BINDING", binding)
    net = fg.Net(layers(), dtype=dtype, seed=3)
    trainer = fg.Trainer(net, loss=loss, optimizer=optimizer, **hyper)
    assert trainer._fused_step(), "this combination should be fused"
    return trainer


def _stepper(trainer):
    """The EngineStep behind a trainer's fused step (None on the pybind11 binding)."""
    return getattr(trainer._fused._engine_step, "__self__", None) if trainer._fused else None


def _data(case, rng):
    n, d, c, dtype, loss = case["n"], case["d"], case["c"], case["dtype"], case["loss"]
    X = rng.standard_normal((n, d)).astype(dtype)
    if loss == "cross_entropy" and case.get("probabilities"):
        y = rng.dirichlet(np.ones(c), n).astype(dtype)
    elif loss == "cross_entropy":
        y = rng.integers(0, c, n)
    elif loss == "bce_with_logits":
        y = (rng.random((n, c)) > 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, c) if c > 1 or not case.get("flat_y") else n).astype(dtype)
    w = rng.random(n).astype(dtype) if case.get("weights") else None
    return X, y, w


CASES = {
    "digits_tiny": dict(n=10, d=64, c=1, dtype="float64", loss="bce_with_logits", opt="sgd", hyper={"lr": 0.01},
                        layers=lambda: [fg.Linear(64, 32), fg.ReLU(), fg.Linear(32, 1)]),
    "digits_adam_labels": dict(n=32, d=64, c=10, dtype="float32", loss="cross_entropy", opt="adam",
                               hyper={"lr": 1e-2}, layers=lambda: [fg.Linear(64, 128), fg.ReLU(), fg.Linear(128, 10)]),
    "probabilities_weighted": dict(n=9, d=5, c=3, dtype="float64", loss="cross_entropy", probabilities=True,
                                   weights=True, opt="sgd", hyper={"lr": 0.1, "momentum": 0.9},
                                   layers=lambda: [fg.Linear(5, 8), fg.Tanh(), fg.Linear(8, 3)]),
    "mse_flat_targets": dict(n=7, d=4, c=1, dtype="float32", loss="mse", flat_y=True, opt="adamw",
                             hyper={"lr": 1e-2}, layers=lambda: [fg.Linear(4, 6), fg.Sigmoid(), fg.Linear(6, 1)]),
    "linreg_one_pass": dict(n=50, d=3, c=1, dtype="float64", loss="mse", opt="sgd", hyper={"lr": 0.05},
                            layers=lambda: [fg.Linear(3, 1)]),
    "bce_weighted_dropout": dict(n=12, d=6, c=2, dtype="float32", loss="bce_with_logits", weights=True, opt="rmsprop",
                                 hyper={"lr": 1e-3},
                                 layers=lambda: [fg.Linear(6, 8), fg.ReLU(), fg.Dropout(0.3), fg.Linear(8, 2)]),
}


@pytest.mark.parametrize("name", CASES)
def test_both_bindings_train_bit_identically_and_match_the_python_path(name, monkeypatch):
    case = CASES[name]
    trainers = [_trainer(b, monkeypatch, case["layers"], case["dtype"], case["loss"], case["opt"], **case["hyper"])
                for b in BINDINGS]
    python = fg.Trainer(fg.Net(case["layers"](), dtype=case["dtype"], seed=3), loss=case["loss"],
                        optimizer=case["opt"], fused=False, **case["hyper"])
    rng = np.random.default_rng(0)
    for _ in range(4):
        X, y, w = _data(case, rng)
        losses = [t.step(X, y, w) for t in trainers]
        assert losses[0] == losses[1]
        ref_loss = python.step(X, y, w)
        np.testing.assert_allclose(losses[0], ref_loss, rtol=2e-5 if case["dtype"] == "float32" else 1e-11)
    for a, b, p in zip(trainers[0].net.parameters(), trainers[1].net.parameters(), python.net.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_allclose(a.data, p.data, rtol=1e-4 if case["dtype"] == "float32" else 1e-10, atol=1e-6)
    cy = _stepper(trainers[0])
    assert isinstance(cy, _fastcall.EngineStep) and cy.fallbacks == 0  # every step took the fast path
    assert _stepper(trainers[1]) is None or not isinstance(_stepper(trainers[1]), _fastcall.EngineStep)


def _pair(dtype="float32", loss="cross_entropy", c=3):
    """Two identical engines (4 -> c linear, SGD), one stepped through each binding."""
    out = []
    for _ in BINDINGS:
        params = np.linspace(-1, 1, 4 * c + c).astype(dtype)
        e = _core.Engine(dtype, [("linear", 4, c, 0, 4 * c)], loss, 4)
        e.bind(params, np.zeros_like(params))
        e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64))
        out.append((e, params))
    (e_cy, p_cy), (e_py, p_py) = out
    return _fastcall.EngineStep(e_cy), e_py, p_cy, p_py


X32 = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
LABELS = np.array([0, 2, 1, 1, 0, 2])


@pytest.mark.parametrize("X, y", [
    (np.asfortranarray(X32), LABELS),                    # Fortran-ordered X: copied by pybind11
    (np.repeat(X32, 2, axis=0)[::2], LABELS),            # strided X
    (X32, LABELS.astype(np.int32)),                      # labels of another integer dtype
    (X32, np.concatenate([LABELS, LABELS])[::2]),        # strided labels
    (X32.astype(X32.dtype.newbyteorder(">")), LABELS),   # big-endian X (compares equal, not equivalent)
], ids=["fortran", "strided", "int32_labels", "strided_labels", "big_endian"])
def test_arguments_needing_a_conversion_go_through_pybind11_with_the_same_result(X, y):
    cy, py, p_cy, p_py = _pair()
    if X.dtype.byteorder == ">":
        with pytest.raises(TypeError) as e_py:
            py.step(X, y)
        with pytest.raises(TypeError) as e_cy:
            cy.step(X, y)
        assert str(e_cy.value) == str(e_py.value)
    else:
        assert cy.step(X, y) == py.step(X, y)
        np.testing.assert_array_equal(p_cy, p_py)
    assert cy.fallbacks == 1


def test_bool_labels_and_int_bce_targets_are_converted_as_by_pybind11():
    cy, py, p_cy, p_py = _pair(loss="cross_entropy", c=2)
    y = np.array([True, False, True, True, False, False])
    assert cy.step(X32, y) == py.step(X32, y)
    cy, py, p_cy, p_py = _pair(loss="bce_with_logits", c=2)
    y = np.random.default_rng(2).integers(0, 2, (6, 2))
    assert cy.step(X32, y) == py.step(X32, y)
    np.testing.assert_array_equal(p_cy, p_py)
    assert cy.fallbacks == 1


BAD = {
    "list_X": ("cross_entropy", lambda: (X32.tolist(), LABELS, None)),
    "float64_X": ("cross_entropy", lambda: (X32.astype(np.float64), LABELS, None)),
    "X_width": ("cross_entropy", lambda: (X32[:, :3].copy(), LABELS, None)),
    "X_1d": ("cross_entropy", lambda: (X32[0].copy(), LABELS, None)),
    "no_samples": ("cross_entropy", lambda: (X32[:0].copy(), LABELS[:0].copy(), None)),
    "labels_out_of_range": ("cross_entropy", lambda: (X32, np.array([0, 1, 3, 0, 1, 2]), None)),
    "negative_label": ("cross_entropy", lambda: (X32, np.array([0, 1, -1, 0, 1, 2]), None)),
    "float_labels": ("cross_entropy", lambda: (X32, LABELS.astype(np.float32), None)),
    "labels_length": ("cross_entropy", lambda: (X32, LABELS[:5].copy(), None)),
    "y_list": ("cross_entropy", lambda: (X32, LABELS.tolist(), None)),
    "negative_probability": ("cross_entropy", lambda: (X32, np.full((6, 3), -0.1, np.float32), None)),
    "nan_probability": ("cross_entropy", lambda: (X32, np.full((6, 3), np.nan, np.float32), None)),
    "bce_target_above_1": ("bce_with_logits", lambda: (X32, np.full((6, 3), 1.5, np.float32), None)),
    "bce_target_shape": ("bce_with_logits", lambda: (X32, np.zeros((6, 2), np.float32), None)),
    "mse_flat_y_for_3_outputs": ("mse", lambda: (X32, np.zeros(6, np.float32), None)),
    "mse_float64_y": ("mse", lambda: (X32, np.zeros((6, 3)), None)),
    "nan_weight": ("mse", lambda: (X32, np.zeros((6, 3), np.float32), np.array([1, 1, np.nan, 1, 1, 1], np.float32))),
    "negative_weight": ("mse", lambda: (X32, np.zeros((6, 3), np.float32), np.array([1, 1, -1, 1, 1, 1], np.float32))),
    "weight_length": ("mse", lambda: (X32, np.zeros((6, 3), np.float32), np.ones(5, np.float32))),
    "weight_dtype": ("mse", lambda: (X32, np.zeros((6, 3), np.float32), np.ones(6))),
    "weight_list": ("mse", lambda: (X32, np.zeros((6, 3), np.float32), [1.0] * 6)),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_arguments_raise_exactly_as_pybind11(name):
    loss, make = BAD[name]
    cy, py, p_cy, p_py = _pair(loss=loss)
    before = p_cy.copy()
    with pytest.raises((TypeError, ValueError)) as e_py:
        py.step(*make())
    with pytest.raises(type(e_py.value)) as e_cy:
        cy.step(*make())
    assert str(e_cy.value) == str(e_py.value)
    assert "Engine.step" in str(e_cy.value)
    np.testing.assert_array_equal(p_cy, before)  # nothing computed
    assert cy.fallbacks == 1


def test_engine_preconditions_raise_from_the_fast_path_as_from_pybind11():
    """An op buffer left unbound: the C++ engine throws inside the step; the C function table
    turns it into the same ValueError as pybind11's."""
    net = fg.Net([fg.Linear(4, 3), fg.BatchNorm1d(3)], dtype="float32", seed=0)
    params = net.parameters()
    ops = [spec[:-1] if isinstance(spec[-1], dict) else spec for spec in fused.plan(net, params)]
    engines = []
    for _ in BINDINGS:
        data, grad = fused.flatten(params)
        e = _core.Engine("float32", ops, "mse", 4)
        e.bind(data.copy(), grad.copy())
        e.set_sgd(0.1, 0.0, 0.0, False, 0.0, None, np.zeros((), np.int64))
        engines.append(e)
    cy = _fastcall.EngineStep(engines[0])
    y = np.zeros((6, 3), np.float32)
    with pytest.raises(ValueError, match=r"is not bound \(bind_buffers\)") as e_py:
        engines[1].step(X32, y)
    with pytest.raises(ValueError) as e_cy:
        cy.step(X32, y)
    assert str(e_cy.value) == str(e_py.value) and cy.fallbacks == 0


def test_an_unbound_engine_has_no_fast_call():
    e = _core.Engine("float32", [("linear", 4, 3, 0, 12)], "mse", 4)
    with pytest.raises(ValueError, match=r"Engine._fastcall: call bind\(params, grads\) first"):
        _fastcall.EngineStep(e)


def test_repeat_is_that_many_steps():
    cy, py, p_cy, p_py = _pair()
    last = cy.repeat(X32, LABELS, count=5)
    losses = [py.step(X32, LABELS) for _ in range(5)]
    assert last == losses[-1]
    np.testing.assert_array_equal(p_cy, p_py)
    with pytest.raises(ValueError, match=r"count must be >= 1, got 0"):
        cy.repeat(X32, LABELS, count=0)
    with pytest.raises(ValueError, match=r"must be arrays step\(\) takes without conversion"):
        cy.repeat(np.asfortranarray(X32), LABELS, count=2)


def test_the_engine_outlives_its_python_name():
    """The EngineStep keeps the pybind11 Engine (which owns the function table) alive."""
    cy, _, p_cy, _ = _pair()
    import gc
    gc.collect()
    before = p_cy.copy()
    cy.step(X32, LABELS)
    assert not np.array_equal(p_cy, before)


def test_binding_must_be_known(monkeypatch):
    monkeypatch.setattr(fused, "BINDING", "ctypes")
    trainer = fg.Trainer(fg.Net([fg.Linear(4, 3)], seed=0), loss="mse", optimizer="sgd", lr=0.1)
    with pytest.raises(ValueError, match=r"BINDING must be 'cython' or 'pybind11', got 'ctypes'"):
        trainer.step(np.zeros((2, 4)), np.zeros((2, 3)))


def test_fit_trains_the_same_on_both_bindings(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((96, 8))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    nets, hists = [], []
    for binding in BINDINGS:
        monkeypatch.setattr(fused, "BINDING", binding)
        nets.append(fg.Net([fg.Linear(8, 16), fg.ReLU(), fg.Linear(16, 2)], seed=1))
        hists.append(nets[-1].fit(X, y, loss="cross_entropy", optimizer="adam", lr=1e-2, epochs=3, batch_size=16,
                                  progress=False))
    assert hists[0].history["loss"] == hists[1].history["loss"]
    for a, b in zip(*(net.parameters() for net in nets)):
        np.testing.assert_array_equal(a.data, b.data)


def test_unchanged_sees_any_new_object_in_a_group():
    """``unchanged`` is the per-step test of the optimizer's groups: True only while every value
    is the very object recorded; an edit (even to an equal value) or a new key is a change."""
    class G:
        def __init__(self, group):
            self.group, self.seen = group, tuple(group.values())

    params = []
    g = G({"params": params, "lr": 0.1, "momentum": 0.9})
    assert _fastcall.unchanged([g])
    g.group["lr"] = float("0.1")  # equal, another object
    assert not _fastcall.unchanged([g])
    g.seen = tuple(g.group.values())
    assert _fastcall.unchanged([g])
    g.group["nesterov"] = False
    assert not _fastcall.unchanged([g])
    assert _fastcall.unchanged([])


@pytest.mark.parametrize("edit", ["lr", "momentum"])
def test_an_edited_option_reaches_the_fused_step(rng, edit):
    """Trainer.step's short path still hands an edited option to the engine before the step."""
    X = rng.standard_normal((16, 5))
    y = rng.standard_normal((16, 1))
    results = []
    for fused_step in (True, False):
        net = fg.Net([fg.Linear(5, 3), fg.ReLU(), fg.Linear(3, 1)], dtype="float64", seed=1)
        trainer = fg.Trainer(net, loss="mse", optimizer="sgd", lr=0.05, momentum=0.5, fused=fused_step)
        for k in range(6):
            if k == 3:
                trainer.optimizer.param_groups[0][edit] = 0.01 if edit == "lr" else 0.95
            trainer.step(X, y)
        results.append(np.concatenate([p.data.ravel() for p in net.parameters()]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-14)
