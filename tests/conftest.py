"""Shared helpers: dtypes, tolerances, random arrays and central differences."""

from __future__ import annotations

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]
# (rtol, atol) for comparing a kernel against its NumPy twin.
TOL = {np.dtype(np.float32): (2e-5, 2e-6), np.dtype(np.float64): (1e-12, 1e-13)}


def close(a, b, dtype=None, scale=1.0):
    """assert_allclose with the tolerance of the dtype (of a, unless given)."""
    rtol, atol = TOL[np.dtype(dtype or np.asarray(a).dtype)]
    np.testing.assert_allclose(a, b, rtol=rtol * scale, atol=atol * scale)


def numgrad(f, x, eps=1e-6):
    """Central-difference gradient of the scalar f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param
