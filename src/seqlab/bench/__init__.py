"""Benchmarks behind `make bench`: speed and cost of every structure, written to reports/bench.{json,md}."""
