"""Kernel benchmark cases shared by bench_kernels.py and compare.py (defined in fastgd.bench)."""

from fastgd.bench import KERNEL_GEMM, KERNEL_SIZES, kernel_cases

__all__ = ["KERNEL_GEMM", "KERNEL_SIZES", "kernel_cases"]
