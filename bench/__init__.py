"""Benchmarks. Each module has a ``main(argv) -> int`` that prints its figures beside the rate of the peer
it is measured against (and the ratio), as a table or, with ``--json``, as JSON.

Run them with ``make bench`` or ``python -m bench [NAME [OPTIONS]]``; the figures go into
docs/benchmarks.md by hand. Tests never assert on wall time.
"""
