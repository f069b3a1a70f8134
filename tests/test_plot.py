"""fastgd.plot: figures from real fits and real minimize runs, rendered headless; their content
(lines = the data, labels, legends, region colours), the files written, bad input, and that
matplotlib stays an optional, lazily imported dependency that never touches pyplot."""

from __future__ import annotations

import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import fastgd as fg
import numpy as np
import pytest

pytest.importorskip("matplotlib")
from fastgd import plot  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_width=300, min_height=250):
    """The file is a PNG of a plausible size; returns (width, height)."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert min_width <= width <= 4000 and min_height <= height <= 3000
    assert len(data) > 5000  # more than a blank canvas
    return width, height


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def bumpy(v):
    x, y = v
    return x**2 + y**2 + x * (y + 2) + np.cos(3 * x)


def bumpy_grad(v):
    x, y = v
    return np.array([2 * x + y + 2 - 3 * np.sin(3 * x), 2 * y + x])


@pytest.fixture(scope="module")
def blobs():
    """Three separable 2-D clusters, float32, labels 0..2."""
    rng = np.random.default_rng(0)
    centers = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    y = np.repeat(np.arange(3), 30)
    X = (centers[y] + 0.5 * rng.normal(size=(90, 2))).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def classifier_run(blobs):
    X, y = blobs
    net = fg.Net([fg.Linear(2, 8), fg.ReLU(), fg.Linear(8, 3)], seed=0)
    hist = net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=12, batch_size=16,
                   validation_data=(X[::3], y[::3]), progress=False)
    return net, hist


# ---------------------------------------------------------------------- learning_curves


def test_learning_curves_lines_are_the_history(tmp_path, classifier_run):
    _, hist = classifier_run
    out = tmp_path / "curves.png"
    fig = plot.learning_curves(hist, path=out)
    width, height = check_png(out)
    assert width > height  # two panels side by side
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    for ax, names, ylabel in ((loss_ax, ["loss", "val_loss"], "loss"),
                              (acc_ax, ["accuracy", "val_accuracy"], "accuracy")):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == names
        for line, name in zip(lines, names):
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 13))
            np.testing.assert_array_equal(line.get_ydata(), hist.history[name])
        assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
        assert lines[0].get_color() == lines[1].get_color()
        assert legend_texts(ax) == names
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == ylabel
    losses = hist.history["loss"] + hist.history["val_loss"]
    assert loss_ax.get_yscale() == ("log" if max(losses) / min(losses) > 100 else "linear")
    assert acc_ax.get_yscale() == "linear"


def test_learning_curves_regression_one_panel_from_dict(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    net = fg.Net([fg.Linear(3, 1)], dtype="float64", seed=0)
    hist = net.fit(X, y, loss="mse", optimizer="sgd", lr=0.1, epochs=12, progress=False)
    assert list(hist.history) == ["loss"]
    fig = plot.learning_curves(hist.history, path=tmp_path / "mse.png")
    check_png(tmp_path / "mse.png")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), hist.history["loss"])
    # The MSE falls by more than two decades in 12 epochs, so a log axis.
    losses = hist.history["loss"]
    assert max(losses) / min(losses) > 100
    assert ax.get_yscale() == "log"


def test_learning_curves_log_scale_threshold():
    assert plot.learning_curves({"loss": [10.0, 1.0, 0.2]}).axes[0].get_yscale() == "linear"
    assert plot.learning_curves({"loss": [10.0, 1.0, 0.05]}).axes[0].get_yscale() == "log"
    # A zero (or NaN from a diverged run) cannot go on a log axis / is ignored.
    assert plot.learning_curves({"loss": [10.0, 0.0]}).axes[0].get_yscale() == "linear"
    assert plot.learning_curves({"loss": [10.0, 0.01, np.nan]}).axes[0].get_yscale() == "log"


def test_learning_curves_metrics_selection_and_order(classifier_run):
    _, hist = classifier_run
    fig = plot.learning_curves(hist, metrics=["val_loss"])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["val_loss"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), hist.history["val_loss"])
    fig = plot.learning_curves(hist, metrics="val_accuracy")
    assert [a.get_ylabel() for a in fig.axes] == ["accuracy"]
    # Validation listed first still ends up right after its training twin, in its colour.
    fig = plot.learning_curves({"val_loss": [2.0, 1.0], "loss": [3.0, 1.5]})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["loss", "val_loss"]
    assert lines[0].get_color() == lines[1].get_color()


def test_learning_curves_into_given_axes(tmp_path, classifier_run):
    _, hist = classifier_run
    fig = Figure()
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    returned = plot.learning_curves(hist, ax=axes, path=tmp_path / "mine")  # no extension: PNG
    assert returned is fig and len(fig.axes) == 2
    assert len(axes[0].get_lines()) == 2 and len(axes[1].get_lines()) == 2
    check_png(tmp_path / "mine")
    single = Figure().add_subplot()
    plot.learning_curves(hist, metrics=["loss"], ax=single)
    assert len(single.get_lines()) == 1


def test_learning_curves_bad_input(classifier_run):
    _, hist = classifier_run
    with pytest.raises(ValueError, match="history is empty"):
        plot.learning_curves(fg.History())
    with pytest.raises(ValueError, match="history is empty"):
        plot.learning_curves({"loss": []})
    with pytest.raises(TypeError, match="history must be a fastgd History.*got list"):
        plot.learning_curves([0.5, 0.4])
    with pytest.raises(ValueError, match=r"metrics \['val_los'\] are not in the history, which has "
                                         r"\['loss', 'accuracy', 'val_loss', 'val_accuracy'\]"):
        plot.learning_curves(hist, metrics=["val_los"])
    with pytest.raises(ValueError, match="at least one metric"):
        plot.learning_curves(hist, metrics=[])
    with pytest.raises(ValueError, match=r"history\['loss'\] is empty"):
        plot.learning_curves({"loss": [], "accuracy": [0.5]}, metrics=["loss"])
    with pytest.raises(ValueError, match=r"history\['loss'\] must be 1-D .* got shape \(2, 2\)"):
        plot.learning_curves({"loss": [[1.0, 2.0], [3.0, 4.0]]})
    with pytest.raises(TypeError, match=r"history\['loss'\] must be a list of numbers"):
        plot.learning_curves({"loss": ["a", "b"]})
    with pytest.raises(ValueError, match=r"2 panel\(s\), so it needs 2 Axes, got 1"):
        plot.learning_curves(hist, ax=Figure().add_subplot())
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.learning_curves(hist, metrics=["loss"], ax="axes")


# ---------------------------------------------------------------------- descent_path


@pytest.fixture(scope="module")
def descents():
    constant = fg.minimize(bumpy, [3.0, 2.0], grad=bumpy_grad, lr=0.1, steps=300)
    decayed = fg.minimize(bumpy, [3.0, 2.0], grad=bumpy_grad, steps=300,
                          schedule=lambda t: 0.2 * 0.99**t)
    return constant, decayed


def path_line(ax, label):
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


def test_descent_path_single_result(tmp_path, descents):
    res, _ = descents
    out = tmp_path / "descent.png"
    fig = plot.descent_path(bumpy, res, path=out)
    check_png(out)
    ax = fig.axes[0]
    label = f"{res.n_steps} steps"
    assert legend_texts(ax) == [label, "start", "end"]
    line = path_line(ax, label)
    np.testing.assert_array_equal(np.column_stack([line.get_xdata(), line.get_ydata()]), res.path)
    # Markers: a circle on path[0] and a star on path[-1] in the path's colour.
    markers = {line.get_marker(): line for line in ax.get_lines() if line.get_label().startswith("_")}
    np.testing.assert_array_equal(markers["o"].get_xydata()[0], res.path[0])
    np.testing.assert_array_equal(markers["*"].get_xydata()[0], res.path[-1])
    assert markers["o"].get_color() == markers["*"].get_color() == line.get_color()
    # Default bounds hold the whole path with a margin; contour lines and a colour bar are drawn.
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < res.path[:, 0].min() and x1 > res.path[:, 0].max()
    assert y0 < res.path[:, 1].min() and y1 > res.path[:, 1].max()
    assert len(ax.collections) == 1 and len(ax.collections[0].levels) == 30
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "f(x)"
    assert ax.get_xlabel() == "x[0]" and ax.get_ylabel() == "x[1]"


def test_descent_path_compares_several(tmp_path, descents):
    constant, decayed = descents
    assert not np.allclose(constant.x, decayed.x, atol=1e-2)  # they find different minima
    fig = plot.descent_path(bumpy, {"constant lr": constant, "decayed lr": decayed},
                            path=tmp_path / "two.png")
    check_png(tmp_path / "two.png")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["constant lr", "decayed lr", "start", "end"]
    assert len(ax.get_lines()) == 2 * 3  # path + start + end, per run
    for label, res in (("constant lr", constant), ("decayed lr", decayed)):
        np.testing.assert_array_equal(path_line(ax, label).get_xydata(), res.path)
    assert path_line(ax, "constant lr").get_color() != path_line(ax, "decayed lr").get_color()
    # A list (results and raw arrays mixed) with default or given labels.
    fig = plot.descent_path(bumpy, [constant, decayed.path])
    assert legend_texts(fig.axes[0])[:2] == [f"path 1 ({constant.n_steps} steps)",
                                             f"path 2 ({decayed.n_steps} steps)"]
    fig = plot.descent_path(bumpy, [constant, decayed], labels=["a", "b"])
    assert legend_texts(fig.axes[0]) == ["a", "b", "start", "end"]


def test_descent_path_scalar_only_function_falls_back_to_a_loop(descents):
    res, _ = descents
    calls = {"vectorised": 0, "scalar": 0}

    def vectorised(v):
        calls["vectorised"] += 1
        return bumpy(v)

    def scalar_only(v):
        assert v.shape == (2,)
        calls["scalar"] += 1
        return float(bumpy(v))

    a = plot.descent_path(vectorised, res).axes[0]
    b = plot.descent_path(scalar_only, res).axes[0]
    assert calls["vectorised"] <= 4  # one call on the grid and a few point checks
    assert calls["scalar"] >= 120 * 120
    np.testing.assert_allclose(a.collections[0].levels, b.collections[0].levels, rtol=1e-12)


def test_descent_path_rejects_wrong_vectorised_answer(descents):
    res, _ = descents
    # np.dot(v[0], v[1]) is x*y for a point but a matrix product on the grid (right shape,
    # wrong values): the point checks catch it and the grid is evaluated point by point.
    fig = plot.descent_path(lambda v: np.dot(v[0], v[1]), res, bounds=(-1, 1, -2, 2))
    levels = fig.axes[0].collections[0].levels
    assert levels.min() == pytest.approx(-2, abs=0.05) and levels.max() == pytest.approx(2, abs=0.05)


def test_descent_path_bounds_levels_and_rosenbrock():
    rosen = fg.minimize(lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2, [-1.5, 2.0],
                        optimizer="adam", lr=0.05, steps=400)
    fig = plot.descent_path(lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2, rosen,
                            bounds=(-2, 2, -1, 3), levels=[0.5, 5, 50, 500])
    ax = fig.axes[0]
    assert ax.get_xlim() == (-2, 2) and ax.get_ylim() == (-1, 3)
    np.testing.assert_array_equal(ax.collections[0].levels, [0.5, 5, 50, 500])


def test_descent_path_bad_input(descents):
    res, _ = descents
    res3 = fg.minimize(lambda v: float(v @ v), [1.0, 2.0, 3.0], lr=0.1, steps=5)
    with pytest.raises(ValueError, match=r"result_or_path must be a path of shape \(k, 2\).*got shape "
                                         r"\(6, 3\) \(descent_path draws functions of 2 variables\)"):
        plot.descent_path(lambda v: float(v @ v), res3)
    with pytest.raises(ValueError, match=r"result_or_path\[1\] must be a path of shape \(k, 2\)"):
        plot.descent_path(bumpy, [res, np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"got shape \(0, 2\)"):
        plot.descent_path(bumpy, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="finite"):
        plot.descent_path(bumpy, np.array([[0.0, 1.0], [np.nan, 1.0]]))
    with pytest.raises(TypeError, match="fun must be callable"):
        plot.descent_path("bumpy", res)
    with pytest.raises(TypeError, match=r"fun must return a scalar.*shape \(2,\)"):
        plot.descent_path(lambda v: [v[0], v[1]], res)
    with pytest.raises(ValueError, match=r"bounds must be 4 finite numbers .* got \(1, 0, 0, 1\)"):
        plot.descent_path(bumpy, res, bounds=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="bounds must be 4"):
        plot.descent_path(bumpy, res, bounds=(0, 1))
    with pytest.raises(ValueError, match="levels must be >= 2"):
        plot.descent_path(bumpy, res, levels=1)
    with pytest.raises(ValueError, match="levels must be a 1-D increasing"):
        plot.descent_path(bumpy, res, levels=[3, 2, 1])
    with pytest.raises(ValueError, match=r"labels must hold one name per path \(2\), got 1"):
        plot.descent_path(bumpy, [res, res], labels=["only one"])
    with pytest.raises(ValueError, match="NaN/inf everywhere"):
        plot.descent_path(lambda v: np.nan, res)


# ---------------------------------------------------------------------- decision_boundary


def region_rgb(fig, ax, x, y):
    """The rendered colour (0..1 RGB) of the data point (x, y)."""
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    return buf[int(buf.shape[0] - py), int(px), :3] / 255


def class_rgb(i):
    """Class i's background: tab10 colour i at alpha 0.3 over the white axes."""
    return 0.3 * np.array(to_rgb(f"C{i}")) + 0.7


def linear_net(w, b, dtype="float32"):
    """A Net(Linear(2, k)) with the given weights, so the boundary is known exactly."""
    net = fg.Net([fg.Linear(2, len(b))], dtype=dtype, seed=0)
    net.layers[0].W.data[...] = w
    net.layers[0].b.data[...] = b
    return net


CORNERS = np.array([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]], dtype=np.float32)


def test_decision_boundary_binary_logit_threshold_is_zero(tmp_path):
    # One logit x0 + 0.5: class 1 where x0 > -0.5.
    net = linear_net([[1.0], [0.0]], [0.5])
    y = np.array([0, 0, 1, 1])
    fig = plot.decision_boundary(net, CORNERS, y, path=tmp_path / "b.png")
    check_png(tmp_path / "b.png")
    ax = fig.axes[0]
    np.testing.assert_allclose(region_rgb(fig, ax, -1.0, 0.0), class_rgb(0), atol=0.02)
    np.testing.assert_allclose(region_rgb(fig, ax, -0.25, 0.0), class_rgb(1), atol=0.02)
    np.testing.assert_allclose(region_rgb(fig, ax, 1.0, 0.0), class_rgb(1), atol=0.02)
    # Fitted with mse on 0/1 targets, the same single output is thresholded at 0.5.
    net.loss = fg.losses.get_loss("mse")
    fig = plot.decision_boundary(net, CORNERS, y)
    np.testing.assert_allclose(region_rgb(fig, fig.axes[0], -0.25, 0.0), class_rgb(0), atol=0.02)
    np.testing.assert_allclose(region_rgb(fig, fig.axes[0], 0.25, 0.0), class_rgb(1), atol=0.02)


def test_decision_boundary_multiclass_argmax_float64_net():
    # Three logits (x0, -x0, x1): class 2 wins where x1 > |x0| (ties go to the lower class).
    net = linear_net([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]], [0.0, 0.0, 0.0], dtype="float64")
    y = np.array([1, 1, 0, 1])  # the last corner (2, 2) is predicted 0
    fig = plot.decision_boundary(net, CORNERS, y)  # float32 X, float64 net: the grid is cast
    ax = fig.axes[0]
    np.testing.assert_allclose(region_rgb(fig, ax, 1.0, -0.5), class_rgb(0), atol=0.02)
    np.testing.assert_allclose(region_rgb(fig, ax, -1.0, -0.5), class_rgb(1), atol=0.02)
    np.testing.assert_allclose(region_rgb(fig, ax, 0.0, 1.5), class_rgb(2), atol=0.02)
    # Class 2 is predicted but has no samples: in the background, not in the legend.
    assert legend_texts(ax) == ["0", "1"]
    assert ax.get_title() == "accuracy 75.0% on 4 samples"


def test_decision_boundary_fitted_net_scatter_and_title(tmp_path, blobs, classifier_run):
    X, y = blobs
    net, _ = classifier_run
    fig = plot.decision_boundary(net, X, y, resolution=50, path=tmp_path / "blobs.png")
    check_png(tmp_path / "blobs.png")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["0", "1", "2"]
    scatters = ax.collections[1:]
    assert len(scatters) == 3
    for c, points in enumerate(scatters):
        np.testing.assert_array_equal(points.get_offsets(), X[y == c])
    accuracy = net.evaluate(X, y)["accuracy"]
    assert accuracy > 0.9
    assert ax.get_title() == f"accuracy {accuracy:.1%} on 90 samples"
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < X[:, 0].min() and x1 > X[:, 0].max() and y0 < X[:, 1].min() and y1 > X[:, 1].max()
    assert ax.get_xlabel() == "feature 0" and ax.get_ylabel() == "feature 1"


def test_decision_boundary_sklearn_estimator_with_string_labels(blobs):
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    names = np.array(["cat", "dog", "eel"])[y]
    model = LogisticRegression().fit(X, names)
    fig = plot.decision_boundary(model, X.astype(np.float64), names, resolution=60)
    ax = fig.axes[0]
    assert legend_texts(ax) == ["cat", "dog", "eel"]
    assert ax.get_title() == f"accuracy {model.score(X, names):.1%} on 90 samples"
    far_left = X[y == 0].mean(axis=0) - [1.0, 0.0]
    np.testing.assert_allclose(region_rgb(fig, ax, *far_left), class_rgb(0), atol=0.02)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_decision_boundary_fastgd_sklearn_classifier(blobs):
    from fastgd.sklearn import MLPClassifier

    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(), max_iter=20, random_state=0).fit(X, y)
    fig = plot.decision_boundary(clf, X, y, resolution=30)
    assert legend_texts(fig.axes[0]) == ["0", "1", "2"]


def test_decision_boundary_bad_input(blobs):
    X, y = blobs
    net = linear_net([[1.0], [0.0]], [0.0])
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\) .* got shape \(90, 3\)"):
        plot.decision_boundary(net, np.zeros((90, 3), np.float32), y)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\) .* got shape \(2,\)"):
        plot.decision_boundary(net, np.zeros(2, np.float32), y[:1])
    with pytest.raises(ValueError, match=r"y must have shape \(90,\) to match X \(90, 2\), got shape \(89,\)"):
        plot.decision_boundary(net, X, y[:-1])
    with pytest.raises(TypeError, match="model must be a fastgd Net or have a predict"):
        plot.decision_boundary(object(), X, y)
    with pytest.raises(TypeError, match="X must hold numbers"):
        plot.decision_boundary(net, np.array([["a", "b"]]), [0])
    with pytest.raises(ValueError, match="X must be finite"):
        plot.decision_boundary(net, np.array([[0.0, np.inf]]), [0])
    with pytest.raises(ValueError, match="resolution must be an int >= 2, got 1"):
        plot.decision_boundary(net, X, y, resolution=1)
    wide = fg.Net([fg.Linear(3, 2)], seed=0)
    with pytest.raises(ValueError, match="model must take 2 features.*3 inputs"):
        plot.decision_boundary(wide, X, y)

    class Probabilities:
        def predict(self, X):
            return np.zeros((len(X), 3))

    with pytest.raises(ValueError, match=r"model.predict must return one label per sample, "
                                         r"shape \(\d+,\), got shape \(\d+, 3\)"):
        plot.decision_boundary(Probabilities(), X, y)


# ---------------------------------------------------------------------- optional, lazy, headless


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'fastgd\[plot\]'"):
        plot.learning_curves({"loss": [1.0, 0.5]})
    with pytest.raises(ImportError, match="needs matplotlib"):
        plot.descent_path(bumpy, np.zeros((2, 2)))


def test_import_is_lazy_and_pyplot_untouched(tmp_path):
    script = f"""
import sys
import fastgd
assert "matplotlib" not in sys.modules, "import fastgd imported matplotlib"
from fastgd import plot
assert "matplotlib" not in sys.modules, "import fastgd.plot imported matplotlib"
import matplotlib
matplotlib.use("svg")  # the user's choice must survive
import numpy as np
plot.learning_curves({{"loss": [1.0, 0.5]}}, path={str(tmp_path / "lazy.png")!r})
plot.descent_path(lambda v: v[0] ** 2 + v[1] ** 2, np.array([[1.0, 1.0], [0.5, 0.5]]))
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    check_png(tmp_path / "lazy.png", min_width=200, min_height=200)


def test_plots_render_concurrently_in_threads(tmp_path, descents):
    res, _ = descents

    def work(i):
        out = tmp_path / f"thread{i}.png"
        if i % 2:
            plot.learning_curves({"loss": list(np.geomspace(1, 1e-3, 10 + i))}, path=out)
        else:
            plot.descent_path(bumpy, res, path=out)
        return out

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(work, range(4)))
    for out in outputs:
        check_png(out)
