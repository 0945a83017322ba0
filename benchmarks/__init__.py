"""Benchmarks: matcher accuracy and speed, run with `python -m benchmarks.matcher`."""
