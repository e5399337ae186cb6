"""Benchmarks: ``python -m bench NAME`` (see bench/__main__.py and docs/scaling.md)."""
