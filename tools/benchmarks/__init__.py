"""Helpers of ``tools/benchmark.py`` and ``tools/bench_distiller.py``: one module per benchmark section.

``tools/`` is not a package: both scripts run as ``python tools/<script>.py``, which puts
``tools/`` first on ``sys.path`` and makes ``benchmarks`` importable.
"""
