"""Command line: ``python -m fastgd {info,demo,bench}`` (also installed as ``fastgd``)."""

from __future__ import annotations

import argparse
import platform
import sys

import numpy as np


def _info(args: argparse.Namespace) -> int:
    from . import __version__, get_num_threads
    from .runtime import blas_info

    blas = blas_info()
    rows = [
        ("fastgd", __version__),
        ("numpy", np.__version__),
        ("python", platform.python_version()),
        ("machine", f"{platform.machine()} {platform.processor() or ''}".strip()),
        ("BLAS", "scipy-openblas32 (bundled libscipy_openblas.so)"),
        ("BLAS config", blas["config"]),
        ("BLAS core", blas["corename"]),
        ("threads", str(get_num_threads())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(epochs=args.epochs, seed=args.seed, progress=args.progress)


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(args)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _peer_list(text: str) -> tuple[str, ...]:
    from .bench import ALL_PEERS

    peers = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in peers if p not in ALL_PEERS]
    if unknown or not peers:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list from {','.join(ALL_PEERS)}, "
                                         f"got {text!r}")
    return peers


def _workload_list(text: str) -> tuple[str, ...]:
    from .bench import WORKLOADS

    names = [w.name for w in WORKLOADS]
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    if not chosen or any(c not in names for c in chosen):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list from {','.join(names)}, "
                                         f"got {text!r}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastgd", description="fastgd: gradient-descent training on the CPU (C++/BLAS kernels)."
    )
    sub = parser.add_subparsers(dest="command", metavar="{info,demo,bench}")
    sub.required = True
    p = sub.add_parser("info", help="versions, the BLAS in use and the thread count")
    p.set_defaults(func=_info)
    p = sub.add_parser("demo", help="train an MLP on handwritten digits and report accuracy and speed")
    p.add_argument("--epochs", type=_positive_int, default=30, help="training epochs (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_demo)
    p = sub.add_parser("bench", help="print the benchmark table (fastgd vs NumPy reference, PyTorch, JAX)")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--kernels", action="store_true", help="also time every kernel against its twin")
    p.add_argument("--scaling", action="store_true",
                   help="also report how step time grows with batch size and depth")
    p.add_argument("--plot", metavar="PNG", help="write a bar chart of the ratios to this PNG")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for fastgd and every peer (NumPy's BLAS, torch, JAX's PJRT_NPROC)")
    p.add_argument("--peers", type=_peer_list, default=None, metavar="LIST",
                   help="comma-separated peers to time against fastgd, from numpy,torch,compiled,jax "
                        "(default: all; compiled = torch.compile, slow to compile)")
    p.add_argument("--workloads", type=_workload_list, default=None, metavar="LIST",
                   help="comma-separated workloads of the step table (default: all)")
    p.add_argument("--repeat", type=_positive_int, default=1,
                   help="measure each row this many times and print the medians (default 1)")
    p.add_argument("--fit", action="store_true",
                   help="also time whole training runs: Net.fit vs scikit-learn's MLPClassifier vs a "
                        "PyTorch DataLoader loop (digits, MNIST-shaped random data)")
    p.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
