"""Benchmarks of ctxfit (issue #8): one script per question, each ``python -m benchmarks.NAME``.

Every script takes ``--smoke`` (tiny sizes, short limits, writes nothing) for ``make test``; the
full run writes its section of ``benchmarks/RESULTS.md`` through
:func:`benchmarks.common.write_section`.
"""
