"""Benchmarks: each prints our rate next to a baseline measured in the same run, as a ratio."""
