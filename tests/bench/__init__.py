"""Benchmarks (not tests): ``python -m tests.bench`` / ``make bench``. See ``tests/bench/__main__.py``."""
