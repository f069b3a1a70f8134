"""Polynomial regression: diverges on raw features, converges once they are standardised.

The seed's failure: features x, x², x³ of an unscaled x span many orders of magnitude, so any
learning rate that moves the small weights blows up the large ones (the loss reached 1e21).
fastgd stops such a run with a DivergenceError that says what to try.
"""

import fastgd as fg
import numpy as np

rng = np.random.default_rng(0)
x = rng.uniform(0, 10, 200)
y = 0.5 * x**3 - 4 * x**2 + 3 * x + 7 + rng.normal(0, 5, x.size)
features = np.stack([x, x**2, x**3], axis=1)

net = fg.Net([fg.Linear(3, 1)], dtype="float64", seed=0)
try:
    net.fit(features, y, loss="mse", optimizer="sgd", lr=0.01, epochs=50, progress=False)
except fg.DivergenceError as err:
    print("raw features:", str(err).splitlines()[0])
    print("  ...", str(err).splitlines()[2].strip())

Xs = (features - features.mean(0)) / features.std(0)
ys = (y - y.mean()) / y.std()
net = fg.Net([fg.Linear(3, 1)], dtype="float64", seed=0)
h = net.fit(Xs, ys, loss="mse", optimizer="sgd", lr=0.05, momentum=0.9, epochs=200, progress=False)
print("standardised: final MSE (in target std units²)", round(h.history["loss"][-1], 4))
assert h.history["loss"][-1] < 0.05
