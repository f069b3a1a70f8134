"""Checkpoints: a ``Net`` (architecture, dtype, weights) and optionally its optimizer's state in one
``.npz`` file, written atomically and validated on load.

Layout: ``__meta__`` holds JSON (format version, the net's config, parameter names/shapes, a
SHA-256 of the weights, the optimizer's class, groups and scalar state); ``param_<i>`` the weights;
``buffer_<i>`` the layers' buffers (``Net.buffers()``: running statistics, dropout seeds
and counters; names, shapes, dtypes and a SHA-256 in ``__meta__["buffers"]``; files written
before buffers existed have none and still load); ``opt_<i>_<key>`` the optimizer's state
arrays. No pickles: loading never runs code.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["load", "save"]

FORMAT = "fastgd-checkpoint"
VERSION = 1


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _loss_config(loss: Any) -> dict[str, Any]:
    """The loss's constructor arguments (``Loss.config()``), so ``load`` rebuilds the same loss."""
    config = getattr(loss, "config", None)
    return {k: _jsonable(v) for k, v in config().items()} if callable(config) else {}


def save(net: Any, path: str | os.PathLike[str], optimizer: Any = None) -> None:
    """Write ``net`` (and ``optimizer``'s state) to ``path`` atomically.

    The file is written to a temporary file in the same directory, flushed to disk, then renamed
    over ``path``: a crash mid-save leaves the previous file intact.

    Example:
        >>> fastgd.io.save(net, "model.npz", optimizer=opt)
    """
    params = net.parameters()
    arrays: dict[str, np.ndarray] = {f"param_{i}": p.data for i, p in enumerate(params)}
    meta: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "config": net.config(), "dtype": str(net.dtype),
        "params": [{"name": name, "shape": list(p.shape)} for name, p in net.named_parameters()],
        "sha256": _digest([p.data for p in params]),
        "loss": getattr(getattr(net, "loss", None), "name", None),
        "loss_config": _loss_config(getattr(net, "loss", None)),
    }
    buffers = net.buffers()
    if buffers:
        for i, b in enumerate(buffers.values()):
            arrays[f"buffer_{i}"] = b
        meta["buffers"] = {"names": list(buffers), "sha256": _digest(list(buffers.values())),
                           "arrays": [{"shape": list(b.shape), "dtype": str(b.dtype)} for b in buffers.values()]}
    if optimizer is not None:
        sd = optimizer.state_dict()
        groups = [{k: _jsonable(v) for k, v in g.items()} for g in sd["param_groups"]]
        state: dict[str, dict[str, Any]] = {}
        for i, entry in sd["state"].items():
            state[str(i)] = {}
            for key, value in entry.items():
                if isinstance(value, np.ndarray):
                    arrays[f"opt_{i}_{key}"] = value
                    state[str(i)][key] = {"array": f"opt_{i}_{key}"}
                else:
                    state[str(i)][key] = {"value": _jsonable(value)}
        meta["optimizer"] = {"class": type(optimizer).__name__, "param_groups": groups, "state": state}
    arrays["__meta__"] = np.array(json.dumps(meta))
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastgd-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(path: str, why: str) -> ValueError:
    return ValueError(f"{path}: not a valid fastgd checkpoint ({why})")


def _load_buffers(path: str, net: Any, meta: dict[str, Any], files: dict[str, np.ndarray]) -> None:
    """Restore ``net.buffers()`` in place from the checkpoint; one without buffers (written before
    they existed, or by a net that has none) leaves the freshly built ones."""
    info = meta.get("buffers")
    if info is None:
        return
    buffers = net.buffers()
    try:
        names = list(info["names"])
        recorded = info["arrays"]
        digest = info["sha256"]
    except (KeyError, TypeError) as exc:
        raise _fail(path, f"bad buffer metadata: {type(exc).__name__}: {exc}") from None
    if names != list(buffers):
        raise _fail(path, f"buffers {names!r:.80} recorded, the architecture has {list(buffers)!r:.80}")
    saved = []
    for i, (name, b) in enumerate(buffers.items()):
        a = files.get(f"buffer_{i}")
        if a is None:
            raise _fail(path, f"buffer {name} is missing")
        if a.shape != b.shape or a.dtype != b.dtype:
            raise _fail(path, f"buffer {name} has shape {a.shape} {a.dtype}, expected {b.shape} {b.dtype}")
        saved.append(a)
    if not isinstance(recorded, list) or len(recorded) != len(saved) or _digest(saved) != digest:
        raise _fail(path, "the buffers do not match their recorded SHA-256 (corrupted file)")
    for b, a in zip(buffers.values(), saved):
        b[...] = a


def load(path: str | os.PathLike[str], with_optimizer: bool = False) -> Any:
    """Read a checkpoint written by ``save``: the ``Net``, or ``(net, optimizer)``.

    Raises ``ValueError`` naming the problem for a missing part, a truncated or corrupted file,
    weights that do not match the recorded checksum, shapes or architecture; ``FileNotFoundError``
    when there is no file.
    """
    from . import optim
    from .net import Net

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:  # our handle: always closed
            files = dict(z.items())
    except Exception as exc:  # zipfile/np.load raise many types for damaged bytes (NotImplementedError,
        # RuntimeError "encrypted", tokenize.TokenError, zlib.error, ...): all mean "unreadable"
        raise _fail(path, f"unreadable: {type(exc).__name__}: {exc}") from None
    if "__meta__" not in files:
        raise _fail(path, "no __meta__ entry")
    try:
        meta = json.loads(str(files["__meta__"]))
    except ValueError as exc:
        raise _fail(path, f"corrupted metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(path, "unknown format")
    if meta.get("version") != VERSION:
        raise _fail(path, f"format version {meta.get('version')!r}, this fastgd reads {VERSION}")
    try:
        net = Net.from_config(meta["config"], seed=0)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"bad architecture: {exc}") from None
    params = net.parameters()
    recorded = meta.get("params", [])
    if not isinstance(recorded, list) or len(params) != len(recorded):
        raise _fail(path, f"{recorded!r:.60} parameters recorded, the architecture has {len(params)}")
    weights = []
    for i, p in enumerate(params):
        w = files.get(f"param_{i}")
        if w is None:
            raise _fail(path, f"parameter {i} is missing")
        if w.shape != p.shape or w.dtype != p.dtype:
            raise _fail(path, f"parameter {i} has shape {w.shape} {w.dtype}, expected {p.shape} {p.dtype}")
        weights.append(w)
    if _digest(weights) != meta.get("sha256"):
        raise _fail(path, "the weights do not match their recorded SHA-256 (corrupted file)")
    for p, w in zip(params, weights):
        p.data[...] = w
    _load_buffers(path, net, meta, files)
    if meta.get("loss"):
        from .losses import get_loss

        try:
            net.loss = get_loss(meta["loss"], **(meta.get("loss_config") or {}))
        except (TypeError, ValueError) as exc:
            raise _fail(path, f"bad loss: {exc}") from None
    if not with_optimizer:
        return net
    info = meta.get("optimizer")
    if info is None:
        raise ValueError(f"{path}: the checkpoint holds no optimizer state (saved without optimizer=)")
    # Edited or damaged metadata can have any shape: every lookup below may fail.
    try:
        groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in info["param_groups"]]
        cls = optim.get_optimizer(info["class"].lower(), params).__class__
        accepted = inspect.signature(cls.__init__).parameters
        hyper = {k: v for k, v in groups[0].items() if k in accepted and k != "params"}
        opt = cls(params, **hyper)  # type: ignore[arg-type]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"bad optimizer settings: {type(exc).__name__}: {exc}") from None
    state: dict[int, dict[str, Any]] = {}
    try:
        for i, entry in info["state"].items():
            state[int(i)] = {}
            for key, spec in entry.items():
                if "array" in spec:
                    if spec["array"] not in files:
                        raise _fail(path, f"optimizer state {spec['array']} is missing")
                    state[int(i)][key] = files[spec["array"]]
                else:
                    state[int(i)][key] = spec["value"]
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"bad optimizer state: {type(exc).__name__}: {exc}") from None
    return net, opt

