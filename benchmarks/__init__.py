"""asv benchmarks for skyfast: one module per function (``bench_<function>.py``).

Every class is parametrized over the implementation (``'cython'``: the
compiled ``skyfast._core``; ``'python'``: the pure-Python twin
``skyfast._core_py``) and over input size or case.  See docs/benchmarks.md.
"""
