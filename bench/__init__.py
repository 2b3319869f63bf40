"""pytest-benchmark suites over the same Cases and compiled step as `simplenn-bench run` (see bench/conftest.py)."""
