"""One training step per workload (pytest-benchmark): fastgd, the NumPy reference, PyTorch.

Each case first checks that its first step's loss equals the NumPy reference's (without dropout:
the libraries draw different masks), then times it.

`python -m pytest bench/bench_training.py --benchmark-enable --benchmark-group-by=group`;
`python -m fastgd bench` prints the same comparison as a table with ratios.
"""

import dataclasses

import pytest
from fastgd.bench import WORKLOADS, fastgd_step, init_params, make_data, numpy_step, torch_step

MAKERS = {"fastgd": fastgd_step, "numpy": numpy_step, "torch": torch_step}


@pytest.mark.parametrize("impl", list(MAKERS))
@pytest.mark.parametrize("workload", WORKLOADS, ids=[w.name for w in WORKLOADS])
def test_step(benchmark, workload, impl):
    step = MAKERS[impl](workload, init_params(workload))
    if step is None:
        pytest.importorskip("torch")
    X, y = make_data(workload)
    # First the same step as the NumPy reference (same initial weights, same batch), then time it;
    # with dropout the check runs without it (torch draws other masks than fastgd and NumPy).
    check = dataclasses.replace(workload, dropout=0.0)
    first = MAKERS[impl](check, init_params(check))(X, y)
    assert first == pytest.approx(numpy_step(check, init_params(check))(X, y), rel=1e-4)
    benchmark.group = workload.name
    benchmark(step, X, y)
