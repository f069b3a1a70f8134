"""Adam on the Rosenbrock function (1 - x)² + 100 (y - x²)², minimum at (1, 1)."""

import fastgd as fg
import numpy as np


def rosenbrock(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


r = fg.minimize(rosenbrock, [-1.5, 2.0], grad=grad, optimizer="adam", lr=0.02, steps=20000, tol=1e-8)
print(f"x = {np.round(r.x, 5)}, f = {r.fun:.2e}, {r.n_steps} steps")
assert np.allclose(r.x, [1, 1], atol=1e-3)
