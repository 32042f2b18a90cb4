"""``make bench``: the benchmark suite. Not part of ``make test``; see docs/benchmarks.md."""
