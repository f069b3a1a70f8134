"""Handwritten digits: binary (< 5 vs >= 5), 10 classes with an MLP, and softmax regression."""

import fastgd as fg
import numpy as np
from fastgd.datasets import load_digits

X, y = load_digits()  # the bundled copy of scikit-learn's digits, pixels scaled to [0, 1]
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
X, y = X[order], y[order]
Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]

# binary: logistic output, BCE on logits
net = fg.Net([fg.Linear(64, 32), fg.ReLU(), fg.Linear(32, 1)], seed=0)
net.fit(Xtr, (ytr >= 5).astype(np.float32), loss="bce_with_logits", optimizer="sgd", lr=0.1, epochs=20,
        progress=False)
acc_bin = net.evaluate(Xte, (yte >= 5).astype(np.float32))["accuracy"]

# 10 classes: softmax cross-entropy
net = fg.Net([fg.Linear(64, 64), fg.ReLU(), fg.Linear(64, 10)], seed=0)
h = net.fit(Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=1e-2, epochs=20, validation_data=(Xte, yte),
            progress=False)
acc_mlp = h.history["val_accuracy"][-1]

# softmax regression: no hidden layer
net = fg.Net([fg.Linear(64, 10)], seed=0)
net.fit(Xtr, ytr, loss="cross_entropy", optimizer="sgd", lr=0.5, epochs=30, progress=False)
acc_softmax = net.evaluate(Xte, yte)["accuracy"]

print(f"binary (<5 vs >=5): {acc_bin:.1%}   10-class MLP: {acc_mlp:.1%}   softmax regression: {acc_softmax:.1%}")
assert acc_bin > 0.9 and acc_mlp > 0.95 and acc_softmax > 0.9
