"""Benchmarks (not tests). ``python -m bench`` runs every ``bench_*.py``;
``python -m bench NAME`` runs one (``catalog`` or ``bench_catalog``). Each
prints our figure and, beside it, the raw limit measured in the same run."""
