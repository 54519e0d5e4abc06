"""Flows the benchmarks under bench/ run."""
