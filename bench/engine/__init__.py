"""The delivery engine's benchmark (``python -m bench.engine``); see ``__main__`` and
docs/benchmarks.md ("Engine") for the method.

- :mod:`bench.engine.fixture`: fresh database, private Redis, the engine's processes.
- :mod:`bench.engine.phases`: a) end to end, b) dispatch lag, c) burst drain.
- :mod:`bench.engine.naive`: d) one RQ job per message, the baseline.
- :mod:`bench.engine.profiling`: one batch under cProfile, statements per delivery.
"""
