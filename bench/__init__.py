"""Benchmarks behind `make bench` (`python -m bench`): NLU scores and REST latency/throughput."""
