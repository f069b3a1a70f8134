"""Linear regression: apple and orange yields from temperature, rainfall and humidity.

The seed exercise, done two ways: the vectorised batch gradient (`ops.mse_gradient`, one call per
step instead of a Python loop over samples) and a `Net` with one Linear layer.
"""

import fastgd as fg
import numpy as np
from fastgd import ops

# temperature (F), rainfall (mm), humidity (%) per region -> yields (apples, oranges) in tons
inputs = np.array([[73, 67, 43], [91, 88, 64], [87, 134, 58], [102, 43, 37], [69, 96, 70]], np.float64)
targets = np.array([[56, 70], [81, 101], [119, 133], [22, 37], [103, 119]], np.float64)

X = (inputs - inputs.mean(0)) / inputs.std(0)  # standardised: the same lr works for every feature

# 1) plain gradient descent on [bias, w1, w2, w3] for apples, with the vectorised gradient
w = np.zeros(4)
for _ in range(500):
    w -= 0.1 * ops.mse_gradient(w, X, targets[:, 0])
pred = X @ w[1:] + w[0]
print("apples: weights", np.round(w, 3), " MSE", round(float(np.mean((pred - targets[:, 0]) ** 2)), 4))

# 2) both targets at once with a Net
net = fg.Net([fg.Linear(3, 2)], dtype="float64", seed=0)
history = net.fit(X, targets, loss="mse", optimizer="sgd", lr=0.1, epochs=300, batch_size=5, progress=False)
print("net: final MSE", round(history.history["loss"][-1], 4))
print("predictions:\n", np.round(net.predict(X), 1), "\ntargets:\n", targets)
assert history.history["loss"][-1] < 10
