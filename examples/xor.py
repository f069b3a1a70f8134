"""XOR: the smallest problem a linear model cannot solve and a 2-layer MLP can."""

import fastgd as fg
import numpy as np

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
y = np.array([0, 1, 1, 0])

net = fg.Net([fg.Linear(2, 8), fg.Tanh(), fg.Linear(8, 1)], dtype="float64", seed=0)
net.fit(X, y, loss="bce_with_logits", optimizer="adam", lr=0.05, epochs=500, batch_size=4, progress=False)
print("probabilities:", np.round(net.predict_proba(X).ravel(), 3))
print("accuracy:", net.evaluate(X, y)["accuracy"])
assert net.evaluate(X, y)["accuracy"] == 1.0
