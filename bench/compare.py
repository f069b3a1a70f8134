"""Print every kernel's median time against its NumPy twin, measured in one run.

    python bench/compare.py            # both dtypes
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cases import kernel_cases  # noqa: E402
from fastgd import ops, reference  # noqa: E402
from fastgd.bench import median_time  # noqa: E402


def main() -> None:
    print(f"{'kernel':<24}{'size':<8}{'dtype':<9}{'fastgd':>11}{'numpy':>11}{'ratio':>8}")
    for dt in (np.float32, np.float64):
        for name, label, args in kernel_cases(dt):
            f = median_time(lambda: getattr(ops, name)(*args), min_time=0.15)
            r = median_time(lambda: getattr(reference, name)(*args), min_time=0.15)
            print(f"{name:<24}{label:<8}{np.dtype(dt).name:<9}{f * 1e6:>9.1f}us{r * 1e6:>9.1f}us{r / f:>7.1f}x")


if __name__ == "__main__":
    main()
