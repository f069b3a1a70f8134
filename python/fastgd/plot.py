"""Plots for training and descent: learning curves, descent paths on contours, decision boundaries.

Needs matplotlib (``pip install 'fastgd[plot]'``), imported only when a plot is made, so
``import fastgd`` stays light. Figures are built as ``matplotlib.figure.Figure`` with an Agg
canvas, never through ``pyplot``: nothing here changes the global backend or the current
figure, so the functions work headless, in threads and alongside an interactive session. Every
function returns the ``Figure`` (display it in Jupyter by evaluating it), draws into ``ax`` when
given, and writes an image when ``path`` is given (PNG unless the name's extension says
otherwise).

Example:
    >>> from fastgd import plot
    >>> hist = net.fit(X, y, loss="cross_entropy", epochs=20, validation_data=(Xv, yv))
    >>> plot.learning_curves(hist, path="curves.png")
    >>> res = fastgd.minimize(f, [3.0, 2.0], lr=0.1)
    >>> plot.descent_path(f, res, path="descent.png")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["decision_boundary", "descent_path", "learning_curves"]

PathLike = str | os.PathLike[str]

# Grid points per side on which descent_path evaluates fun.
_CONTOUR_RESOLUTION = 120


def _matplotlib() -> tuple[Any, Any]:
    """``(Figure, FigureCanvasAgg)``, or an ImportError that says how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401  (fails cleanly first when matplotlib is missing)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "fastgd.plot needs matplotlib, which is not installed: pip install 'fastgd[plot]' "
            f"(or pip install matplotlib). Original error: {exc}"
        ) from exc
    return Figure, FigureCanvasAgg


def _new_axes(ax: Any, n_panels: int, panel_size: tuple[float, float]) -> tuple[Any, list[Any]]:
    """The figure and ``n_panels`` axes: new ones side by side, or the caller's ``ax``."""
    Figure, FigureCanvasAgg = _matplotlib()
    if ax is None:
        fig = Figure(figsize=(panel_size[0] * n_panels, panel_size[1]), layout="constrained")
        FigureCanvasAgg(fig)
        return fig, [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]
    axes = list(ax) if isinstance(ax, Sequence | np.ndarray) else [ax]
    for a in axes:
        if not hasattr(a, "plot") or getattr(a, "figure", None) is None:
            raise TypeError(f"ax must be a matplotlib Axes (or a sequence of them), got "
                            f"{type(a).__name__}")
    if len(axes) != n_panels:
        raise ValueError(f"ax: this plot has {n_panels} panel(s), so it needs {n_panels} Axes, "
                         f"got {len(axes)}")
    return axes[0].figure, axes


def _save(fig: Any, path: PathLike | None) -> None:
    if path is None:
        return
    root = getattr(fig, "figure", None) or fig  # a SubFigure saves through its root Figure
    # Without an extension matplotlib would use rcParams["savefig.format"]: pin PNG.
    root.savefig(path, format=None if Path(path).suffix else "png")


def _padded_bounds(points: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    """``(xmin, xmax, ymin, ymax)`` around ``points`` (k, 2) with ``margin`` × the span added."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = hi - lo
    # A flat direction (one point, or a path along an axis) gets the other's span, or 1.
    span = np.where(span > 0, span, span.max() if span.max() > 0 else 1.0)
    lo, hi = lo - margin * span, hi + margin * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


# ---------------------------------------------------------------------- learning curves


def _history_dict(history: Any) -> Mapping[str, Any]:
    hist = getattr(history, "history", history)
    if not isinstance(hist, Mapping):
        raise TypeError(f"history must be a fastgd History (what Net.fit returns) or its .history "
                        f"dict of per-epoch lists, got {type(history).__name__}")
    return hist


def learning_curves(history: Any, metrics: Sequence[str] | None = None, path: PathLike | None = None,
                    ax: Any = None) -> Figure:
    """Per-epoch metrics of a training run: losses on one panel, accuracies on a second.

    Each metric is one line against the epoch (1-based); a validation metric ``val_<name>`` is
    drawn dashed in the colour of ``<name>``. The loss panel uses a log y-axis when the positive
    losses span more than two decades. Metrics whose name does not end in ``loss`` (``accuracy``,
    ``val_accuracy``, ...) go on the second panel, which exists only when there are any.

    Args:
        history: the ``History`` returned by ``Net.fit``, or its ``.history`` dict
            ``{"loss": [...], "val_loss": [...], ...}``.
        metrics: names to plot, in order (default: every non-empty metric in ``history``).
        path: write the figure to this file (PNG unless the extension names another format).
        ax: draw into this Axes (one panel) or sequence of Axes (one per panel) instead of a new
            figure.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        TypeError: ``history`` is not a History/dict, a metric's values are not numbers.
        ValueError: empty history, an unknown metric name, the wrong number of Axes.

    Example:
        >>> hist = net.fit(X, y, loss="cross_entropy", epochs=20, validation_data=(Xv, yv))
        >>> fig = plot.learning_curves(hist, path="curves.png")   # loss | accuracy panels
    """
    hist = _history_dict(history)
    if metrics is None:
        names = [k for k, v in hist.items() if len(v)]
        if not names:
            raise ValueError("history is empty: no metric has any epoch (was fit run with "
                             "epochs >= 1?)")
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        names = list(metrics)
        if not names:
            raise ValueError("metrics must name at least one metric, got an empty list")
        missing = [m for m in names if m not in hist]
        if missing:
            raise ValueError(f"metrics {missing} are not in the history, which has {list(hist)}")
    series: dict[str, np.ndarray] = {}
    for name in names:
        try:
            values = np.asarray(hist[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"history[{name!r}] must be a list of numbers, got "
                            f"{type(hist[name]).__name__}") from None
        if values.ndim != 1:
            raise ValueError(f"history[{name!r}] must be 1-D (one value per epoch), got shape "
                             f"{values.shape}")
        if values.size == 0:
            raise ValueError(f"history[{name!r}] is empty: nothing to plot")
        series[name] = values

    def base(name: str) -> str:
        return name[4:] if name.startswith("val_") else name

    panels = [[n for n in series if base(n).endswith("loss")],
              [n for n in series if not base(n).endswith("loss")]]
    panels = [p for p in panels if p]
    fig, axes = _new_axes(ax, len(panels), (5.5, 4.0))
    for a, names_in_panel in zip(axes, panels):
        colors: dict[str, str] = {}
        # Each training metric directly followed by its validation twin (same colour, dashed).
        order = sorted(names_in_panel, key=lambda n: (
            names_in_panel.index(base(n)) if base(n) in names_in_panel else names_in_panel.index(n),
            n.startswith("val_")))
        for name in order:
            values = series[name]
            epochs = np.arange(1, values.size + 1)
            kwargs: dict[str, Any] = {"label": name, "marker": "." if values.size <= 30 else None}
            if base(name) in colors:
                kwargs["color"] = colors[base(name)]
            if name.startswith("val_"):
                kwargs["linestyle"] = "--"
            (line,) = a.plot(epochs, values, **kwargs)
            colors.setdefault(base(name), line.get_color())
        bases = {base(n) for n in names_in_panel}
        is_loss = all(b.endswith("loss") for b in bases)
        a.set_xlabel("epoch")
        a.set_ylabel(next(iter(bases)) if len(bases) == 1 else ("loss" if is_loss else "metric"))
        if is_loss:
            every = np.concatenate([series[n] for n in names_in_panel])
            finite = every[np.isfinite(every)]
            if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
                a.set_yscale("log")
        a.grid(True, alpha=0.3)
        a.legend()
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------- descent paths


def _as_path(obj: Any, name: str) -> np.ndarray:
    raw = getattr(obj, "path", obj)
    try:
        p = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a minimize result or an array of shape (k, 2), got "
                        f"{type(obj).__name__}") from None
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        hint = (" (descent_path draws functions of 2 variables)" if p.ndim == 2 and p.shape[0]
                else "")
        raise ValueError(f"{name} must be a path of shape (k, 2) with k >= 1, got shape "
                         f"{p.shape}{hint}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must hold finite points, got a path with NaN/inf")
    return p


def _paths(result_or_path: Any, labels: Sequence[str] | None) -> list[tuple[str, np.ndarray]]:
    """``[(label, path (k, 2)), ...]`` from one result/path, a list of them, or a dict."""
    if isinstance(result_or_path, Mapping):
        if labels is not None:
            raise ValueError("labels: give labels or a dict {label: result}, not both")
        items = [(str(k), _as_path(v, f"result_or_path[{k!r}]")) for k, v in result_or_path.items()]
    else:
        several = (isinstance(result_or_path, list | tuple) and len(result_or_path) > 0
                   and all(hasattr(r, "path") or isinstance(r, np.ndarray) for r in result_or_path))
        objs = list(result_or_path) if several else [result_or_path]
        paths = [_as_path(r, f"result_or_path[{i}]" if several else "result_or_path")
                 for i, r in enumerate(objs)]
        if labels is None:
            labels = [f"{len(p) - 1} steps" if len(paths) == 1 else f"path {i + 1} ({len(p) - 1} steps)"
                      for i, p in enumerate(paths)]
        elif isinstance(labels, str) or len(labels) != len(paths):
            got = 1 if isinstance(labels, str) else len(labels)
            raise ValueError(f"labels must hold one name per path ({len(paths)}), got {got}")
        items = list(zip([str(s) for s in labels], paths))
    if not items:
        raise ValueError("result_or_path holds no path")
    return items


def _scalar_value(fun: Callable[[np.ndarray], Any], v: np.ndarray) -> float:
    value = fun(v)
    try:
        return float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise TypeError(f"fun must return a scalar for a point of shape (2,), got "
                        f"{type(value).__name__} of shape {np.shape(value)}") from None


def _grid_values(fun: Callable[[np.ndarray], Any], gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``fun`` on the grid: one vectorised call ``fun(array (2, ny, nx))`` when that works and
    agrees with point-wise calls, else a loop over the points."""
    shape = gx.shape
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            z = np.asarray(fun(np.stack([gx, gy])), dtype=np.float64)
        except Exception:  # fun is not vectorised: any failure means "evaluate point by point"
            z = None
        if z is not None and z.shape == shape:
            probe = [(0, 0), (shape[0] // 2, shape[1] // 3), (-1, -1)]
            expected = [_scalar_value(fun, np.array([gx[i], gy[i]])) for i in probe]
            if np.allclose([z[i] for i in probe], expected, rtol=1e-6, atol=1e-9, equal_nan=True):
                return z
        flat = [_scalar_value(fun, np.array([x, y])) for x, y in zip(gx.ravel(), gy.ravel())]
    return np.array(flat, dtype=np.float64).reshape(shape)


def descent_path(fun: Callable[[np.ndarray], Any], result_or_path: Any,
                 bounds: Sequence[float] | None = None, levels: int | Sequence[float] = 30,
                 path: PathLike | None = None, ax: Any = None,
                 labels: Sequence[str] | None = None) -> Figure:
    """Contour lines of a function of two variables with descent paths drawn over them.

    Each path is a line through its iterates, with a circle at the start and a star at the end;
    several paths (say with and without a decaying step size) get one colour and one legend
    entry each.

    Args:
        fun: ``fun(v) -> float`` for ``v`` a float64 vector of length 2 (as for ``minimize``).
            It is first called once on the whole grid, ``v`` of shape ``(2, ny, nx)``, which
            NumPy-style functions such as ``v[0]**2 + 3*v[1]**2`` handle; when that fails or
            disagrees with point-wise calls, it is called point by point.
        result_or_path: a ``MinimizeResult`` (its ``.path``, shape ``(n_steps + 1, 2)``), an
            array of shape ``(k, 2)``, a list of those, or a dict ``{label: result}``.
        bounds: ``(xmin, xmax, ymin, ymax)`` of the plotted region; default: the paths' bounding
            box plus 25 % on every side.
        levels: the number of contour lines, placed at quantiles of ``fun`` over the grid (so
            steep walls and flat valleys both get lines), or increasing level values.
        path: write the figure to this file (PNG unless the extension names another format).
        ax: draw into this Axes instead of a new figure.
        labels: legend names for the paths (default: their step counts).

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        TypeError: ``fun`` not callable or not returning a scalar, a path that is not an array.
        ValueError: a path not of shape ``(k, 2)`` or not finite, bad ``bounds``/``levels``,
            ``labels`` of the wrong length.

    Example:
        >>> f = lambda v: v[0] ** 2 + 10 * v[1] ** 2
        >>> runs = {"sgd": fastgd.minimize(f, [3.0, 1.0], lr=0.05),
        ...         "momentum": fastgd.minimize(f, [3.0, 1.0], lr=0.05, momentum=0.8)}
        >>> fig = plot.descent_path(f, runs, path="descent.png")
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    items = _paths(result_or_path, labels)
    if bounds is None:
        xmin, xmax, ymin, ymax = _padded_bounds(np.concatenate([p for _, p in items]), 0.25)
    else:
        try:
            b = np.asarray(bounds, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"bounds must be (xmin, xmax, ymin, ymax), got {bounds!r}") from None
        if b.shape != (4,) or not np.all(np.isfinite(b)) or not (b[0] < b[1] and b[2] < b[3]):
            raise ValueError(f"bounds must be 4 finite numbers (xmin, xmax, ymin, ymax) with "
                             f"xmin < xmax and ymin < ymax, got {bounds!r}")
        xmin, xmax, ymin, ymax = (float(v) for v in b)
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer | Sequence | np.ndarray):
        raise TypeError(f"levels must be an int or a sequence of level values, got {levels!r}")
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, _CONTOUR_RESOLUTION),
                         np.linspace(ymin, ymax, _CONTOUR_RESOLUTION))
    z = np.ma.masked_invalid(_grid_values(fun, gx, gy))
    if z.count() == 0:
        raise ValueError(f"fun is NaN/inf everywhere on the region x in [{xmin:g}, {xmax:g}], "
                         f"y in [{ymin:g}, {ymax:g}]")
    if isinstance(levels, int | np.integer):
        if levels < 2:
            raise ValueError(f"levels must be >= 2 contour lines, got {levels}")
        level_values = np.unique(np.quantile(z.compressed(), np.linspace(0, 1, int(levels))))
    else:
        level_values = np.asarray(levels, dtype=np.float64)
        if level_values.ndim != 1 or level_values.size == 0 or np.any(np.diff(level_values) <= 0):
            raise ValueError(f"levels must be a 1-D increasing sequence of values, got {levels!r}")
    fig, (a,) = _new_axes(ax, 1, (6.0, 5.0))
    if level_values.size >= 2:  # a constant function has no contour lines to draw
        contours = a.contour(gx, gy, z, levels=level_values, cmap="viridis", linewidths=0.8)
        fig.colorbar(contours, ax=a, label="f(x)")
    for label, p in items:
        (line,) = a.plot(p[:, 0], p[:, 1], "-", marker="." if len(p) <= 200 else None,
                         markersize=3, linewidth=1.2, label=label)
        color = line.get_color()
        a.plot(p[0, 0], p[0, 1], "o", color=color, markeredgecolor="k", markersize=7)
        a.plot(p[-1, 0], p[-1, 1], "*", color=color, markeredgecolor="k", markersize=12)
    from matplotlib.lines import Line2D

    handles, names = a.get_legend_handles_labels()
    handles += [Line2D([], [], linestyle="", marker="o", color="w", markeredgecolor="k"),
                Line2D([], [], linestyle="", marker="*", color="w", markeredgecolor="k", markersize=10)]
    a.legend(handles, [*names, "start", "end"])
    a.set_xlim(xmin, xmax)
    a.set_ylim(ymin, ymax)
    a.set_xlabel("x[0]")
    a.set_ylabel("x[1]")
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------- decision boundaries


def _net_classes(net: Any, out: np.ndarray) -> np.ndarray:
    """Class labels from a Net's raw outputs (n, k)."""
    loss = net.loss
    if loss is not None and loss.is_classification:
        classes = loss.predict(out)
    elif out.shape[1] == 1:
        # One output: a logit (threshold 0) unless it was trained by regression on 0/1 targets.
        threshold = 0.5 if loss is not None and loss.name == "mse" else 0.0
        classes = (out[:, 0] > threshold).astype(np.int64)
    else:
        classes = np.argmax(out, axis=1)
    if classes.ndim != 1:
        raise ValueError(f"decision_boundary needs one class per sample, but the net's outputs "
                         f"{out.shape} give predictions of shape {classes.shape} (multi-label)")
    return classes


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    from .net import Net

    if isinstance(model, Net):
        return _net_classes(model, model.predict(X.astype(model.dtype, copy=False)))
    pred = np.asarray(model.predict(X))
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.shape != (len(X),):
        raise ValueError(f"model.predict must return one label per sample, shape ({len(X)},), "
                         f"got shape {pred.shape}")
    return pred


def decision_boundary(model: Any, X: Any, y: Any, resolution: int = 200,
                      path: PathLike | None = None, ax: Any = None) -> Figure:
    """The class regions of a classifier on 2 features, with the samples on top.

    The background shows the predicted class on a ``resolution × resolution`` grid over the
    samples' bounding box (plus 10 %); each class's samples are a scatter of one colour with a
    legend entry; the title gives the accuracy on ``(X, y)``.

    Args:
        model: a ``fastgd.Net`` with 2 inputs, or any object with ``predict(X) -> labels``
            (a scikit-learn classifier, ``fastgd.sklearn.MLPClassifier``). For a Net, the class is
            the argmax of its outputs; with one output (binary) it is ``logit > 0``
            (probability > 0.5), or ``output > 0.5`` for a net fitted with the ``mse`` loss.
            The grid is passed to a Net in the Net's dtype.
        X: (n, 2) samples. y: (n,) their class labels (any dtype ``predict`` returns).
        resolution: grid points per side (>= 2).
        path: write the figure to this file (PNG unless the extension names another format).
        ax: draw into this Axes instead of a new figure.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        TypeError: ``model`` has no ``predict``, ``X`` not numeric.
        ValueError: ``X`` not (n, 2) or not finite, ``y`` not (n,), bad ``resolution``,
            predictions of the wrong shape.

    Example:
        >>> net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=100)
        >>> fig = plot.decision_boundary(net, X, y, path="boundary.png")
    """
    from .net import Net

    if not isinstance(model, Net) and not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must be a fastgd Net or have a predict(X) method, got "
                        f"{type(model).__name__}")
    try:
        X = np.asarray(X)
    except (TypeError, ValueError):
        raise TypeError(f"X must be an array of shape (n, 2), got {type(X).__name__}") from None
    if X.dtype.kind not in "iuf":
        raise TypeError(f"X must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n, 2) with n >= 1 (decision_boundary draws 2 "
                         f"features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite, got NaN/inf")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) to match X {X.shape}, got shape {y.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    if isinstance(model, Net) and model.in_features not in (None, 2):
        raise ValueError(f"model must take 2 features, but the net's first layer has "
                         f"{model.in_features} inputs")
    xmin, xmax, ymin, ymax = _padded_bounds(X.astype(np.float64), 0.1)
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, int(resolution)),
                         np.linspace(ymin, ymax, int(resolution)))
    grid_dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(grid_dtype)
    grid_pred = _predict(model, grid)
    sample_pred = _predict(model, X)
    try:
        classes = np.unique(np.concatenate([y, grid_pred, sample_pred]))
    except TypeError:
        raise ValueError(f"the model's predictions ({grid_pred.dtype}) cannot be compared with "
                         f"the labels y ({y.dtype})") from None
    region = np.searchsorted(classes, grid_pred).reshape(gx.shape)
    k = len(classes)

    _matplotlib()
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    palette = colormaps["tab10" if k <= 10 else "tab20"]
    colors = [palette(i) for i in range(k)] if k <= 20 else list(colormaps["viridis"](np.linspace(0, 1, k)))
    fig, (a,) = _new_axes(ax, 1, (6.0, 5.0))
    a.contourf(gx, gy, region, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.3)
    for i, c in enumerate(classes):
        mask = y == c
        if mask.any():
            a.scatter(X[mask, 0], X[mask, 1], color=colors[i], edgecolors="k", linewidths=0.5,
                      s=25, label=str(c))
    a.legend(title="class")
    a.set_xlim(xmin, xmax)
    a.set_ylim(ymin, ymax)
    a.set_xlabel("feature 0")
    a.set_ylabel("feature 1")
    a.set_title(f"accuracy {np.mean(sample_pred == y):.1%} on {len(X)} samples")
    _save(fig, path)
    return fig
