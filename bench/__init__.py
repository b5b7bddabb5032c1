"""Benchmarks and load tests: every speed figure is a ratio to a baseline measured in the same
run on the same machine (see docs/BENCHMARKS.md)."""
