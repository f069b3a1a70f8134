"""Gradient descent on f(x, y) = x² + y² + x(y + 2) + cos(3x) from (3, 2), with and without decay.

`fg.minimize` returns every iterate in `result.path` for a contour plot (`fastgd.plot` when
matplotlib is installed).
"""

import fastgd as fg
import numpy as np


def f(v):
    x, y = v
    return x**2 + y**2 + x * (y + 2) + np.cos(3 * x)


def grad(v):
    x, y = v
    return np.array([2 * x + y + 2 - 3 * np.sin(3 * x), 2 * y + x])


plain = fg.minimize(f, [3.0, 2.0], grad=grad, optimizer="sgd", lr=0.1, steps=500)
decayed = fg.minimize(f, [3.0, 2.0], grad=grad, optimizer="sgd", steps=500, schedule=lambda t: 0.2 * 0.99**t)
numeric = fg.minimize(f, [3.0, 2.0], optimizer="sgd", lr=0.1, steps=500)  # central differences
for name, r in (("constant lr", plain), ("decayed lr", decayed), ("numeric gradient", numeric)):
    print(f"{name:>16}: x = {np.round(r.x, 4)}, f = {r.fun:.5f}, {r.n_steps} steps, path {r.path.shape}")
assert np.linalg.norm(grad(plain.x)) < 1e-3 and np.allclose(plain.x, numeric.x, atol=1e-4)
