"""Sparse input: fastgd ``Net.fit`` against scikit-learn's ``MLPClassifier(solver="adam")`` on the
same TF-IDF-like CSR matrix (issue 14's sparse case).

The data: 20 000 training rows (and 5 000 test rows) of a 20 000-word vocabulary at 0.5% density
(~100 distinct words per row, word frequencies Zipf-like, values tf·idf with rows L2-normalised,
float32 CSR), labels the argmax of 5 random linear scores of the rows (plus a little noise), so
the task is learnable by a linear layer and a hidden layer alike.

Both train a 20000-64-5 ReLU MLP with softmax cross-entropy and Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-8), batch size 200, shuffled, the same number of epochs, the
same L2 (scikit-learn's ``alpha`` is ``½·alpha·‖W‖²`` divided by the batch size: fastgd's ``l2``
is ``alpha / 200``), Glorot-uniform weights (fastgd ``init="xavier"``), float32 throughout, on
the same sparse matrix: neither densifies it. Rounds alternate fastgd and scikit-learn (the order
rotating), and the table shows the median fit time of each, the ratio, and the test accuracy.

    python bench/bench_sparse.py [--epochs 5] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import fastgd as fg
import numpy as np

N_TRAIN, N_TEST, VOCAB, DENSITY, CLASSES, HIDDEN, BATCH = 20_000, 5_000, 20_000, 0.005, 5, 64, 200
ALPHA = 1e-4


def tfidf_like(n: int, vocab: int, density: float, seed: int):
    """A float32 CSR (n, vocab): ~density·vocab distinct words per row drawn Zipf-like, tf·idf values,
    rows of unit L2 norm."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    per_row = rng.poisson(density * vocab, n).clip(1, vocab)
    p = 1.0 / np.arange(1, vocab + 1) ** 0.8
    p /= p.sum()
    perm = rng.permutation(vocab)  # frequent words are not the first columns
    cols = [np.unique(perm[rng.choice(vocab, size=k, p=p)]) for k in per_row]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])]).astype(np.int32)
    indices = np.concatenate(cols).astype(np.int32)
    tf = 1.0 + np.log(rng.integers(1, 6, len(indices)))
    df = np.bincount(indices, minlength=vocab) + 1
    data = (tf * np.log(n / df)[indices]).astype(np.float32)
    X = sp.csr_array((data, indices, indptr), shape=(n, vocab))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    X = sp.csr_array(sp.diags_array(1 / np.maximum(norms, 1e-12)).astype(np.float32) @ X)
    return X


def make_problem(seed: int = 0):
    X = tfidf_like(N_TRAIN + N_TEST, VOCAB, DENSITY, seed)
    rng = np.random.default_rng(seed + 1)
    R = rng.standard_normal((VOCAB, CLASSES)).astype(np.float32)
    scores = X @ R
    y = np.argmax(scores + 0.1 * scores.std() * rng.standard_normal(scores.shape), axis=1)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def fit_fastgd(X, y, epochs: int, seed: int):
    net = fg.Net([fg.Linear(VOCAB, HIDDEN, init="xavier"), fg.ReLU(), fg.Linear(HIDDEN, CLASSES, init="xavier")],
                 dtype="float32", seed=seed)
    t = time.perf_counter()
    net.fit(X, y, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=epochs, batch_size=BATCH,
            seed=seed, l2=ALPHA / BATCH, progress=False, divergence_factor=None)
    return time.perf_counter() - t, net.predict_classes


def fit_sklearn(X, y, epochs: int, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver="adam", learning_rate_init=1e-3, alpha=ALPHA,
                        batch_size=BATCH, max_iter=epochs, shuffle=True, random_state=seed, tol=0.0,
                        n_iter_no_change=epochs + 1)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    elapsed = time.perf_counter() - t
    assert clf.n_iter_ == epochs and clf.coefs_[0].dtype == np.float32
    return elapsed, clf.predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    fg.set_num_threads(args.threads)
    X, y, Xt, yt = make_problem()
    print(f"X: {X.shape[0]} x {X.shape[1]} CSR float32, {X.nnz} entries ({X.nnz / np.prod(X.shape):.2%}), "
          f"{CLASSES} classes; {N_TEST} test rows; hidden {HIDDEN}, adam, batch {BATCH}, {args.epochs} epochs, "
          f"{args.threads} threads")
    runs = {"fastgd": fit_fastgd, "scikit-learn": fit_sklearn}
    times: dict[str, list[float]] = {k: [] for k in runs}
    acc: dict[str, float] = {}
    with threadpool_limits(args.threads):
        for r in range(args.rounds):
            order = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for name in order:
                elapsed, predict = runs[name](X, y, args.epochs, 0)
                times[name].append(elapsed)
                acc[name] = float(np.mean(predict(Xt) == yt))
                print(f"  round {r + 1} {name:>12}: {elapsed:7.2f} s")
    base = statistics.median(times["fastgd"])
    print(f"\n{'':>12}  {'fit (median)':>12}  {'x fastgd':>8}  {'test acc':>8}")
    for name in runs:
        m = statistics.median(times[name])
        print(f"{name:>12}  {m:10.2f} s  {m / base:7.1f}x  {acc[name]:8.4f}")


if __name__ == "__main__":
    main()
