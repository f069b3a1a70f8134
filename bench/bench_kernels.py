"""Each kernel against its NumPy twin (pytest-benchmark): `python -m pytest bench --benchmark-enable`.

Every case first asserts that the kernel's result equals the twin's, then times both; compare
the pairs within a group (`--benchmark-group-by=group`).
"""

import numpy as np
import pytest
from cases import kernel_cases
from fastgd import ops, reference

CASES = [(name, label, args) for dt in (np.float32, np.float64) for name, label, args in kernel_cases(dt)]
IDS = [f"{name}-{label}-{args[0].dtype}" for name, label, args in CASES]


def _close(a, b):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("impl", ["fastgd", "numpy"])
@pytest.mark.parametrize("name,label,args", CASES, ids=IDS)
def test_kernel(benchmark, impl, name, label, args):
    _close(getattr(ops, name)(*args), getattr(reference, name)(*args))
    benchmark.group = f"{name}-{label}-{args[0].dtype}"
    benchmark(getattr(ops if impl == "fastgd" else reference, name), *args)
