"""Benchmarks for genja-prefect; run them all with `python -m bench` (see RESULTS.md)."""
