"""Benchmarks are not part of the test run: `python -m pytest bench --benchmark-enable`."""
