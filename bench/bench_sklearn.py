"""fastgd.sklearn's MLPs against scikit-learn's own, fit time and test score, in one run.

    python bench/bench_sklearn.py                 # the table (both on 2 threads)
    python bench/bench_sklearn.py --threads 1 --repeat 3

Each case fits scikit-learn's ``MLPClassifier``/``MLPRegressor`` and fastgd's drop-in on the
same data with the same parameters (architecture, solver, batch size, ``random_state``) and the
same number of epochs (``n_iter_no_change=inf`` so neither stops early; L-BFGS stops by its own
rules, which are the same for both), turn by turn (fastgd, scikit-learn, fastgd, ...), and
prints the median fit time of each, the ratio (scikit-learn's time / fastgd's: > 1 is fastgd
faster) and both test scores (accuracy, or R² for regression). NumPy's BLAS is limited to the
same threads as fastgd's (threadpoolctl). Absolute times depend on the machine and its load.

The sparse case (a 20 000 x 20 000 TF-IDF-like matrix at 0.5% density, hidden 64, adam) is
listed and runs once fastgd.sklearn accepts scipy.sparse input; until then it prints a skip.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    name: str
    data: Callable[[], tuple[Any, Any, Any, Any]]  # X_train, X_test, y_train, y_test
    classify: bool
    params: dict[str, Any] = field(default_factory=dict)
    what: str = ""


def _split(X: Any, y: np.ndarray, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.25, random_state=seed)


def digits() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = _split(X, y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def dense_classification() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20_000, n_features=100, n_informative=40, n_classes=5,
                               random_state=0)
    return _split(X, y)


def lbfgs_regression() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=5_000, n_features=20, n_informative=15, noise=5.0, random_state=0)
    return _split(X, y / y.std())


def sparse_tfidf() -> tuple[Any, Any, Any, Any]:
    """20 000 documents x 20 000 terms at 0.5% density, rows L2-normalised like TF-IDF; the
    label is which of 4 topics (blocks of terms) holds most of a row's weight."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(0)
    n = d = 20_000
    X = sp.random(n, d, density=0.005, format="csr", random_state=0, data_rvs=lambda k: rng.exponential(1, k))
    topic = rng.integers(0, 4, n)
    boost = sp.random(n, d // 4, density=0.005, format="csr", random_state=1)
    X = X + sp.hstack([boost.multiply((topic == t)[:, None]) * 3 for t in range(4)]).tocsr()
    return _split(normalize(X), topic)


CASES = [
    Case("digits", digits, True, dict(hidden_layer_sizes=(100,), solver="adam", max_iter=100),
         "1797x64 digits, 64-100-10, adam, batch 200, 100 epochs"),
    Case("dense_20k", dense_classification, True, dict(hidden_layer_sizes=(256,), solver="adam", max_iter=10),
         "20000x100 synthetic, 5 classes, 100-256-5, adam, batch 200, 10 epochs"),
    Case("lbfgs_reg", lbfgs_regression, False, dict(hidden_layer_sizes=(50,), solver="lbfgs", max_iter=200),
         "5000x20 regression, 20-50-1, lbfgs, max_iter 200"),
    Case("sparse_20k", sparse_tfidf, True, dict(hidden_layer_sizes=(64,), solver="adam", max_iter=5),
         "20000x20000 CSR at 0.5%, 64 hidden, adam, batch 200, 5 epochs"),
]


def _estimators(case: Case) -> tuple[Any, Any]:
    from fastgd.sklearn import MLPClassifier, MLPRegressor
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR

    params = dict(case.params, random_state=0, n_iter_no_change=np.inf)
    if case.classify:
        return MLPClassifier(**params), SkC(**params)
    return MLPRegressor(**params), SkR(**params)


def _fastgd_accepts(X: Any, y: Any, classify: bool) -> bool:
    from fastgd.sklearn import MLPClassifier, MLPRegressor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (MLPClassifier if classify else MLPRegressor)(max_iter=1, hidden_layer_sizes=(2,)).fit(X[:20], y[:20])
    except TypeError:
        return False
    return True


def _timed_fit(est: Any, X: Any, y: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the epochs are fixed on purpose
        t = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t


def run(cases: list[Case], threads: int, repeat: int) -> list[dict[str, Any]]:
    import fastgd
    from fastgd.bench import settle
    from threadpoolctl import threadpool_limits

    fastgd.set_num_threads(threads)
    rows = []
    with threadpool_limits(limits=threads):
        for case in cases:
            Xtr, Xte, ytr, yte = case.data()
            if not _fastgd_accepts(Xtr, ytr, case.classify):
                print(f"{case.name:12s} skipped: fastgd.sklearn does not take {type(Xtr).__name__} yet")
                continue
            times: dict[str, list[float]] = {"fastgd": [], "sklearn": []}
            scores: dict[str, float] = {}
            for _ in range(repeat):  # interleaved turns
                for who, est in zip(("fastgd", "sklearn"), _estimators(case)):
                    settle()  # the other library's worker threads asleep first
                    times[who].append(_timed_fit(est, Xtr, ytr))
                    scores[who] = float(est.score(Xte, yte))
                    scores[who + "_iter"] = est.n_iter_
            tf, ts = float(np.median(times["fastgd"])), float(np.median(times["sklearn"]))
            rows.append(dict(case=case.name, what=case.what, fastgd=tf, sklearn=ts, ratio=ts / tf,
                             score_fastgd=scores["fastgd"], score_sklearn=scores["sklearn"],
                             iters=(scores["fastgd_iter"], scores["sklearn_iter"]),
                             metric="accuracy" if case.classify else "R2"))
            r = rows[-1]
            print(f"{r['case']:12s} fastgd {tf:8.3f}s  sklearn {ts:8.3f}s  x{r['ratio']:5.1f}  "
                  f"{r['metric']} {r['score_fastgd']:.4f} vs {r['score_sklearn']:.4f}  "
                  f"epochs/iters {r['iters'][0]} vs {r['iters'][1]}", flush=True)
    return rows


def test_bench_cases_agree_quickly():
    """The bench's estimators on a small slice: same epochs, scores within 1%."""
    case = CASES[0]
    Xtr, Xte, ytr, yte = case.data()
    ours, theirs = _estimators(Case(case.name, case.data, True, dict(case.params, max_iter=5)))
    _timed_fit(ours, Xtr, ytr)
    _timed_fit(theirs, Xtr, ytr)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    assert abs(ours.score(Xte, yte) - theirs.score(Xte, yte)) <= 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved turns per case (median)")
    parser.add_argument("--cases", nargs="*", default=[c.name for c in CASES])
    args = parser.parse_args()
    import platform

    import fastgd
    import sklearn

    print(f"fastgd {fastgd.__version__} | scikit-learn {sklearn.__version__} | numpy {np.__version__} | "
          f"{platform.machine()} | {args.threads} threads | {args.repeat} turn(s), median")
    rows = run([c for c in CASES if c.name in args.cases], args.threads, args.repeat)
    print("\n| case | what | fastgd fit | scikit-learn fit | speed-up | score fastgd | score scikit-learn |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['what']} | {r['fastgd']:.3f} s | {r['sklearn']:.3f} s | {r['ratio']:.1f}x | "
              f"{r['metric']} {r['score_fastgd']:.4f} | {r['score_sklearn']:.4f} |")


if __name__ == "__main__":
    main()
