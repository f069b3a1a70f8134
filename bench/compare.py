"""Print every kernel's median time against its NumPy twin, measured in one run.

    python bench/compare.py            # both dtypes (same as: python -m fastgd bench --kernels)
"""

from fastgd.bench import run_kernels

if __name__ == "__main__":
    run_kernels()
